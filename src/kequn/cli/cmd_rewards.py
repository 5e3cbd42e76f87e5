"""`kequn rewards …` — the e+ membership and rewards (数字化权益): catalogue, points, redemptions, blind
boxes, growth value and tiers, budget allocation. Every posting needs an idempotency key (--key)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

rewards_app = typer.Typer(help="e+ 会员权益: points ledger, reward catalogue, blind boxes, tiers, allocation.",
                          no_args_is_help=True)

Key = Annotated[str, typer.Option("--key", help="Idempotency key: a retry with the same key posts nothing new.")]


def register(app: typer.Typer) -> None:
    app.add_typer(rewards_app, name="rewards")


def _out(ctx: typer.Context) -> Any:
    from kequn.cli.main import console

    return console(ctx)


def _ledger() -> Any:
    from kequn.opstore import open_default
    from kequn.rewards.ledger import Ledger

    return Ledger(open_default())


def _show(ctx: typer.Context, result: Any) -> None:
    out = _out(ctx)
    data = {"txn_id": result.txn_id, "key": result.key, "kind": result.kind, "replayed": result.replayed,
            **result.details}
    out.result(data, human="\n".join(f"{k}: {v}" for k, v in data.items()))


def _yuan_to_fen(text: str) -> int:
    from kequn.errors import ValidationError

    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"{text!r} is not an amount in yuan") from None
    fen = value * 100
    if fen != fen.to_integral_value() or fen <= 0:
        raise ValidationError(f"amount {text} must be positive with at most 2 decimals")
    return int(fen)


@rewards_app.command("sync-catalogue", help="Load the reward catalogue (YAML) into the ops store.")
def sync_catalogue_cmd(ctx: typer.Context,
                       file: Annotated[Path | None, typer.Option("--file", help="Catalogue YAML.")] = None) -> None:
    from kequn.opstore import open_default
    from kequn.rewards.catalogue import load_catalogue, sync_catalogue

    _out(ctx).result(sync_catalogue(open_default(), load_catalogue(file)))


@rewards_app.command("catalogue", help="List the rewards with price, cost and stock.")
def catalogue_cmd(ctx: typer.Context) -> None:
    import sqlalchemy as sa

    from kequn.opstore import open_default
    from kequn.rewards.tables import reward

    with open_default().connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(reward).order_by(reward.c.reward_id))]
    _out(ctx).table(rows, ["reward_id", "name", "category", "points_price", "cost_fen", "stock", "min_tier"],
                    title="权益目录 reward catalogue")


@rewards_app.command("hot", help="Hot rewards (热门精选) by redemptions in the last N days.")
def hot_cmd(ctx: typer.Context, days: int = 30, limit: int = 10) -> None:
    from kequn.opstore import open_default
    from kequn.rewards.catalogue import hot_rewards

    _out(ctx).table(hot_rewards(open_default(), days=days, limit=limit), title="热门权益 hot rewards")


@rewards_app.command("earn", help="Give a customer points (a new lot).")
def earn_cmd(ctx: typer.Context, customer: str, points: int, key: Key,
             expires: Annotated[str | None, typer.Option(help="Expiry date YYYY-MM-DD.")] = None) -> None:
    exp = dt.datetime.combine(dt.date.fromisoformat(expires), dt.time(23, 59, 59), dt.UTC) if expires else None
    _show(ctx, _ledger().earn(key, customer, points, expires_at=exp, actor="cli"))


@rewards_app.command("redeem", help="A customer redeems a reward with points.")
def redeem_cmd(ctx: typer.Context, customer: str, reward: str, key: Key,
               budget: Annotated[str | None, typer.Option(help="Campaign budget paying the cost.")] = None) -> None:
    from kequn.rewards.catalogue import redeem

    _show(ctx, redeem(_ledger(), key, customer, reward, budget_campaign=budget, actor="cli"))


@rewards_app.command("reverse", help="Reverse (refund) a redemption.")
def reverse_cmd(ctx: typer.Context, redemption_id: int, key: Key,
                reason: Annotated[str, typer.Option(help="Why (kept in the ledger).")] = "") -> None:
    from kequn.rewards.catalogue import reverse_redemption

    _show(ctx, reverse_redemption(_ledger(), key, redemption_id, actor="cli", reason=reason))


@rewards_app.command("transfer", help="Corporate points (乐豆): an enterprise gives points to an employee.")
def transfer_cmd(ctx: typer.Context, enterprise: str, customer: str, points: int, key: Key) -> None:
    _show(ctx, _ledger().transfer(key, enterprise, customer, points, actor="cli"))


@rewards_app.command("fund", help="Fund a campaign budget in yuan.")
def fund_cmd(ctx: typer.Context, campaign: str, yuan: str, key: Key) -> None:
    _show(ctx, _ledger().fund(key, campaign, _yuan_to_fen(yuan), actor="cli"))


@rewards_app.command("expire", help="Expire every lot past its expiry date (FIFO breakage).")
def expire_cmd(ctx: typer.Context, key: Key) -> None:
    _show(ctx, _ledger().expire(key, actor="cli"))


@rewards_app.command("balance", help="A member's balance and what is spendable now.")
def balance_cmd(ctx: typer.Context, customer: str) -> None:
    led = _ledger()
    _out(ctx).result({"customer": customer, "balance": led.balance("customer", customer),
                      "available": led.available("customer", customer)})


@rewards_app.command("statement", help="A member's statement (积分明细) with the running balance.")
def statement_cmd(ctx: typer.Context, customer: str) -> None:
    _out(ctx).table(_ledger().statement("customer", customer),
                    ["entry", "at", "kind", "change", "balance", "memo"], title=f"积分明细 {customer}")


@rewards_app.command("draw", help="A paid blind-box draw (盲盒).")
def draw_cmd(ctx: typer.Context, box: str, customer: str, campaign: str, key: Key) -> None:
    from kequn.errors import NotFoundError
    from kequn.rewards.blindbox import BlindBox, draw
    from kequn.rewards.growth import load_membership

    boxes = {b["id"]: b for b in load_membership()[2]}
    if box not in boxes:
        raise NotFoundError(f"blind box {box!r} not found; known: {', '.join(boxes)}")
    _show(ctx, draw(_ledger(), BlindBox.from_dict(boxes[box]), key, customer, campaign, actor="cli"))


@rewards_app.command("boxes", help="Blind boxes with their expected cost per draw.")
def boxes_cmd(ctx: typer.Context) -> None:
    from kequn.rewards.blindbox import BlindBox
    from kequn.rewards.growth import load_membership

    rows = [{"box": b.id, "name": b.name_zh, "points_price": b.points_price, "items": len(b.items),
             "expected_cost_yuan": b.expected_cost_fen / 100}
            for b in (BlindBox.from_dict(d) for d in load_membership()[2])]
    _out(ctx).table(rows, title="盲盒 blind boxes")


@rewards_app.command("accrue", help="Daily growth-value accrual from the warehouse for one day.")
def accrue_cmd(ctx: typer.Context, day: Annotated[str, typer.Option(help="YYYY-MM-DD")]) -> None:
    from kequn.opstore import open_default
    from kequn.rewards.growth import accrue_day, load_membership
    from kequn.warehouse import open_default as open_wh

    wh = open_wh(read_only=True)
    try:
        _out(ctx).result(accrue_day(wh, open_default(), load_membership()[0], dt.date.fromisoformat(day)))
    finally:
        wh.close()


@rewards_app.command("tiers", help="Re-evaluate tiers (up at once, down after the grace period).")
def tiers_cmd(ctx: typer.Context, today: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None) -> None:
    from kequn.opstore import open_default
    from kequn.rewards.growth import load_membership, reevaluate

    day = dt.date.fromisoformat(today) if today else dt.date.today()
    _out(ctx).result(reevaluate(open_default(), load_membership()[1], day))


@rewards_app.command("allocate", help="Choose who gets which reward within a budget (uplift per yuan). "
                     "Input CSV: customer_id,reward_id,uplift,cost (yuan).")
def allocate_cmd(ctx: typer.Context, candidates: Path, budget: Annotated[str, typer.Option(help="Budget in yuan.")],
                 out: Annotated[Path | None, typer.Option(help="Write the chosen rows as CSV.")] = None) -> None:
    import csv

    from kequn.domain.membership import Candidate, allocate
    from kequn.errors import NotFoundError, ValidationError

    if not candidates.exists():
        raise NotFoundError(f"file not found: {candidates}")
    rows, problems = [], []
    with candidates.open(encoding="utf-8-sig", newline="") as f:
        for i, r in enumerate(csv.DictReader(f), start=2):
            try:
                rows.append(Candidate(r["customer_id"], r["reward_id"], float(r["uplift"]), Decimal(r["cost"])))
            except (KeyError, ValueError, InvalidOperation, TypeError) as exc:
                problems.append({"where": f"{candidates.name}:{i}", "message": f"bad row: {exc}"})
    if problems:
        raise ValidationError(f"{candidates.name}: {len(problems)} bad row(s)", details=problems)
    result = allocate(rows, Decimal(budget))
    if out:
        with out.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["customer_id", "reward_id", "uplift", "cost"])
            w.writerows([c.customer_id, c.reward_id, c.uplift, c.cost] for c in result.chosen)
    _out(ctx).result({"chosen": len(result.chosen), "spent_yuan": result.spent,
                      "expected_incremental_value": round(result.expected_value, 2)})


@rewards_app.command("verify", help="Check the ledger's invariants (balanced, never negative, lots agree).")
def verify_cmd(ctx: typer.Context) -> None:
    from kequn.errors import ConflictError

    problems = _ledger().verify()
    if problems:
        raise ConflictError(f"ledger check found {len(problems)} problem(s)", details=[{"problem": p} for p in problems])
    _out(ctx).result({"ok": True}, human="账本校验通过 ledger OK: balanced, nothing negative, lots agree")
