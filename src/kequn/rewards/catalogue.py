"""The reward catalogue (权益目录) and redemptions.

Rewards are declared in ``catalog/rewards/catalogue.yaml`` (validated by pydantic) and synchronised into
the ops store, where stock is kept. A redemption spends the member's points FIFO, takes one unit of stock
(never below zero), and — when a campaign budget pays the reward's cost — moves the cost from that budget
to ``reward_cost`` in the same transaction, so a budget is never overspent.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection, Engine

from kequn.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from kequn.rewards.ledger import Ledger, PostingResult
from kequn.rewards.tables import membership, point_entry, redemption, reward

CATALOGUE_FILE = Path(__file__).resolve().parents[1] / "catalog" / "rewards" / "catalogue.yaml"
CATEGORIES = ("coupon", "cashback", "video", "fuel", "health", "travel", "food", "telecom", "gift", "service")


class RewardSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reward_id: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    name: str = Field(min_length=1, max_length=200)
    category: str
    points_price: int = Field(ge=0)
    cost_fen: int = Field(ge=0, description="What one unit costs the bank, in fen (0.01 CNY)")
    stock: int | None = Field(default=None, ge=0)
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    min_tier: int = Field(default=0, ge=0)
    segment_id: str | None = None
    active: bool = True

    def model_post_init(self, _ctx: Any) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"category must be one of {', '.join(CATEGORIES)}")
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")


def load_catalogue(path: Path | None = None) -> list[RewardSpec]:
    import yaml
    from pydantic import ValidationError as PydanticError

    path = Path(path or CATALOGUE_FILE)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise NotFoundError(f"reward catalogue not found: {path}") from None
    specs, problems = [], []
    for i, item in enumerate(raw.get("rewards", []), start=1):
        try:
            specs.append(RewardSpec(**item))
        except PydanticError as exc:
            rid = item.get("reward_id", f"#{i}") if isinstance(item, dict) else f"#{i}"
            for e in exc.errors():
                problems.append({"file": str(path), "reward": rid, "field": ".".join(map(str, e["loc"])) or "-",
                                 "message": e["msg"]})
    ids = [s.reward_id for s in specs]
    problems += [{"file": str(path), "reward": r, "field": "reward_id", "message": "duplicate id"}
                 for r in sorted({r for r in ids if ids.count(r) > 1})]
    if problems:
        raise ValidationError(f"{path.name}: {len(problems)} problem(s) in the reward catalogue", details=problems)
    return specs


def sync_catalogue(engine: Engine, specs: list[RewardSpec]) -> dict[str, int]:
    """Insert new rewards and update declared fields of existing ones; stock is set only on insert."""
    added = updated = 0
    with engine.begin() as conn:
        existing = set(conn.execute(sa.select(reward.c.reward_id)).scalars())
        for s in specs:
            values = s.model_dump()
            values["active"] = int(s.active)
            if s.reward_id in existing:
                values.pop("stock")
                conn.execute(reward.update().where(reward.c.reward_id == s.reward_id).values(**values))
                updated += 1
            else:
                conn.execute(reward.insert().values(**values))
                added += 1
    return {"added": added, "updated": updated}


def restock(engine: Engine, reward_id: str, units: int) -> None:
    with engine.begin() as conn:
        res = conn.execute(reward.update().where(reward.c.reward_id == reward_id, reward.c.stock.is_not(None))
                           .values(stock=reward.c.stock + units))
        if res.rowcount != 1:
            raise NotFoundError(f"reward {reward_id!r} not found or has unlimited stock")


def _check_eligible(conn: Connection, r: Any, customer_id: str, today: dt.date) -> None:
    if not r.active:
        raise ConflictError(f"reward {r.reward_id} is not active")
    if (r.valid_from and today < r.valid_from) or (r.valid_to and today > r.valid_to):
        raise ConflictError(f"reward {r.reward_id} is not valid on {today}")
    if r.min_tier:
        tier = conn.execute(sa.select(membership.c.tier).where(membership.c.customer_id == customer_id)).scalar()
        if (tier or 0) < r.min_tier:
            raise PermissionDenied(f"reward {r.reward_id} needs tier {r.min_tier}; customer is at tier {tier or 0}")


def take_stock(conn: Connection, reward_id: str) -> None:
    res = conn.execute(reward.update()
                       .where(reward.c.reward_id == reward_id, sa.or_(reward.c.stock.is_(None), reward.c.stock > 0))
                       .values(stock=sa.case((reward.c.stock.is_(None), None), else_=reward.c.stock - 1)))
    if res.rowcount != 1:
        raise ConflictError(f"reward {reward_id} is out of stock")


def redeem(ledger: Ledger, key: str, customer_id: str, reward_id: str, *, budget_campaign: str | None = None,
           actor: str = "system") -> PostingResult:
    """A member buys a reward with points (and a campaign budget pays its cost, when named)."""
    req = {"op": "redeem", "customer": customer_id, "reward": reward_id, "budget": budget_campaign}

    def body(conn: Connection, txn: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        r = conn.execute(sa.select(reward).where(reward.c.reward_id == reward_id)).first()
        if r is None:
            raise NotFoundError(f"reward {reward_id!r} not found")
        _check_eligible(conn, r, customer_id, ledger.clock().date())
        take_stock(conn, reward_id)
        entries = []
        if r.points_price:
            entries += ledger.spend(conn, txn, "customer", customer_id, int(r.points_price),
                                    ledger.account_id(conn, "system", "redemption"))
        if budget_campaign and r.cost_fen:
            entries.append(ledger._move(conn, txn, ledger.account_id(conn, "campaign", budget_campaign, unit="fen"),
                                        ledger.account_id(conn, "system", "reward_cost"), int(r.cost_fen)))
        rid = conn.execute(redemption.insert().values(
            txn_id=txn, owner_id=customer_id, reward_id=reward_id, points=int(r.points_price),
            cost_fen=int(r.cost_fen), status="redeemed", created_at=ledger.clock()).returning(redemption.c.id)).scalar_one()
        return entries, {"redemption_id": int(rid), "reward_id": reward_id, "points": int(r.points_price)}

    return ledger.post(key, "redeem", req, actor, body)


def grant(ledger: Ledger, key: str, customer_id: str, reward_id: str, *, budget_campaign: str,
          actor: str = "system") -> PostingResult:
    """A campaign's reward offer is redeemed: the customer pays no points, one unit of stock is taken and
    the campaign's money budget pays the reward's cost to ``reward_cost`` — never beyond the budget
    (``InsufficientBalance``). A ``redemption`` row (points 0) records it like any other redemption.
    The campaign chose its audience, so the reward's tier and segment rules are not re-checked."""
    req = {"op": "grant", "customer": customer_id, "reward": reward_id, "budget": budget_campaign}

    def body(conn: Connection, txn: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        r = conn.execute(sa.select(reward).where(reward.c.reward_id == reward_id)).first()
        if r is None:
            raise NotFoundError(f"reward {reward_id!r} not found")
        today = ledger.clock().date()
        if not r.active or (r.valid_from and today < r.valid_from) or (r.valid_to and today > r.valid_to):
            raise ConflictError(f"reward {reward_id} is not active on {today}")
        take_stock(conn, reward_id)
        entries = []
        if r.cost_fen:
            entries.append(ledger._move(conn, txn, ledger.account_id(conn, "campaign", budget_campaign, unit="fen"),
                                        ledger.account_id(conn, "system", "reward_cost"), int(r.cost_fen)))
        rid = conn.execute(redemption.insert().values(
            txn_id=txn, owner_id=customer_id, reward_id=reward_id, points=0, cost_fen=int(r.cost_fen),
            status="redeemed", created_at=ledger.clock()).returning(redemption.c.id)).scalar_one()
        return entries, {"redemption_id": int(rid), "reward_id": reward_id, "cost_fen": int(r.cost_fen)}

    return ledger.post(key, "redeem", req, actor, body)


def reverse_redemption(ledger: Ledger, key: str, redemption_id: int, *, actor: str = "system",
                       reason: str = "") -> PostingResult:
    """Undo a redemption: every posting of it is mirrored (points back into the very lots they came
    from, the cost back to the budget) and the unit goes back into stock."""
    req = {"op": "reverse", "redemption": redemption_id, "memo": reason}

    def body(conn: Connection, txn: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        red = conn.execute(sa.select(redemption).where(redemption.c.id == redemption_id)).first()
        if red is None:
            raise NotFoundError(f"redemption {redemption_id} not found")
        if red.status != "redeemed":
            raise ConflictError(f"redemption {redemption_id} is already {red.status}")
        from kequn.rewards.tables import point_lot

        entries = []
        for e in conn.execute(sa.select(point_entry).where(point_entry.c.txn_id == red.txn_id)
                              .order_by(point_entry.c.id)).all():
            if e.lot_id is not None:
                conn.execute(point_lot.update().where(point_lot.c.id == e.lot_id)
                             .values(remaining=point_lot.c.remaining + e.amount))
            entries.append(ledger._move(conn, txn, int(e.to_account_id), int(e.from_account_id), int(e.amount),
                                        e.lot_id))
        conn.execute(reward.update().where(reward.c.reward_id == red.reward_id, reward.c.stock.is_not(None))
                     .values(stock=reward.c.stock + 1))
        res = conn.execute(redemption.update().where(redemption.c.id == redemption_id,
                                                     redemption.c.status == "redeemed")
                           .values(status="reversed", reversal_txn_id=txn))
        if res.rowcount != 1:  # pragma: no cover - a concurrent reversal
            raise ConflictError(f"redemption {redemption_id} changed underneath")
        return entries, {"redemption_id": redemption_id}

    return ledger.post(key, "reverse", req, actor, body)


def hot_rewards(engine: Engine, *, days: int = 30, limit: int = 10,
                now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Rewards ranked by redemptions (net of reversals) in the last ``days`` days — the 热门精选."""
    since = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=days)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(reward.c.reward_id, reward.c.name, reward.c.category,
                      sa.func.count(redemption.c.id).label("redemptions"))
            .join(redemption, redemption.c.reward_id == reward.c.reward_id)
            .where(redemption.c.status == "redeemed", redemption.c.created_at >= since)
            .group_by(reward.c.reward_id, reward.c.name, reward.c.category)
            .order_by(sa.desc("redemptions"), reward.c.reward_id).limit(limit)).all()
    return [dict(r._mapping) for r in rows]
