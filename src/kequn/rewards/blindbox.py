"""Blind boxes (盲盒): a member pays points for a draw; the prize is a weighted choice among rewards in
stock that the campaign budget can still pay for, else a cheap fallback. Every draw logs its seed, so an
auditor can replay it; the expected cost per draw is reported from the box definition."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kequn.domain.membership import BoxItem, Draw, draw_box, expected_cost_fen
from kequn.errors import NotFoundError
from kequn.rewards.catalogue import take_stock
from kequn.rewards.ledger import Ledger, PostingResult
from kequn.rewards.tables import blindbox_draw, point_account, redemption, reward


@dataclass(frozen=True)
class BlindBox:
    id: str
    name_zh: str
    points_price: int
    items: tuple[BoxItem, ...]
    fallback: BoxItem

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BlindBox:
        return cls(d["id"], d.get("name_zh", d["id"]), int(d.get("points_price", 0)),
                   tuple(BoxItem(**i) for i in d["items"]), BoxItem(**d["fallback"]))

    @property
    def expected_cost_fen(self) -> Decimal:
        return expected_cost_fen(self.items)


def seed_for(key: str) -> int:
    """The draw's seed, derived from its idempotency key (so a retry draws the same prize)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:6], "big")


def _budget_left(conn: Connection, ledger: Ledger, campaign_id: str) -> int:
    acc = ledger.account_id(conn, "campaign", campaign_id, unit="fen")
    conn.execute(sa.select(point_account.c.id).where(point_account.c.id == acc).with_for_update())
    return int(conn.execute(sa.select(point_account.c.balance).where(point_account.c.id == acc)).scalar_one())


def draw(ledger: Ledger, box: BlindBox, key: str, customer_id: str, campaign_id: str, *,
         actor: str = "system") -> PostingResult:
    """One paid draw: points from the member, the prize's cost from the campaign budget, stock taken."""
    seed = seed_for(key)
    req = {"op": "draw", "box": box.id, "customer": customer_id, "campaign": campaign_id}

    def body(conn: Connection, txn: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        entries = []
        if box.points_price:
            entries += ledger.spend(conn, txn, "customer", customer_id, box.points_price,
                                    ledger.account_id(conn, "system", "redemption"))
        ids = [i.reward_id for i in box.items]
        stock = {r: s for r, s in conn.execute(sa.select(reward.c.reward_id, reward.c.stock)
                                               .where(reward.c.reward_id.in_(ids), reward.c.active == 1))}
        in_stock = {r for r, s in stock.items() if s is None or s > 0}
        budget = _budget_left(conn, ledger, campaign_id)
        result: Draw = draw_box(box.items, box.fallback, seed, budget_fen=budget, in_stock=in_stock)
        if conn.execute(sa.select(reward.c.reward_id).where(reward.c.reward_id == result.reward_id)).first() is None:
            raise NotFoundError(f"blind box {box.id}: reward {result.reward_id} is not in the catalogue")
        take_stock(conn, result.reward_id)
        if result.cost_fen:
            entries.append(ledger._move(conn, txn, ledger.account_id(conn, "campaign", campaign_id, unit="fen"),
                                        ledger.account_id(conn, "system", "reward_cost"), result.cost_fen))
        conn.execute(redemption.insert().values(txn_id=txn, owner_id=customer_id, reward_id=result.reward_id,
                                                points=box.points_price, cost_fen=result.cost_fen,
                                                status="redeemed", created_at=ledger.clock()))
        conn.execute(blindbox_draw.insert().values(idempotency_key=key, box_id=box.id, customer_id=customer_id,
                                                   seed=seed, reward_id=result.reward_id, cost_fen=result.cost_fen,
                                                   fallback=int(result.fallback), txn_id=txn, at=ledger.clock()))
        # everything needed to replay the draw for an audit: seed, what was in stock, the budget left
        return entries, {"reward_id": result.reward_id, "cost_fen": result.cost_fen, "fallback": result.fallback,
                         "seed": seed, "in_stock": sorted(in_stock), "budget_left_fen": budget}

    return ledger.post(key, "draw", req, actor, body)
