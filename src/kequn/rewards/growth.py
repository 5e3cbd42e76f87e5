"""Growth value (成长值) and tiers, applied from single events (real time) and by the daily accrual.

Each growth grant has an event key (unique in ``growth_event``): replaying an event or re-running a day
grants nothing twice. Monthly caps count what the rule already granted that month.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from kequn.domain.membership import GrowthRule, TierPolicy, TierState, evaluate_tier
from kequn.errors import NotFoundError, ValidationError
from kequn.rewards.tables import growth_event, membership

MEMBERSHIP_FILE = Path(__file__).resolve().parents[1] / "catalog" / "rewards" / "membership.yaml"


def load_membership(path: Path | None = None) -> tuple[tuple[GrowthRule, ...], TierPolicy, list[dict[str, Any]]]:
    """Growth rules, tier policy and blind-box definitions from the membership YAML."""
    import yaml
    from pydantic import ValidationError as PydanticError

    path = Path(path or MEMBERSHIP_FILE)
    if not path.exists():
        raise NotFoundError(f"membership file not found: {path}")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    problems, rules = [], []
    for i, r in enumerate(raw.get("growth_rules", []), start=1):
        try:
            rules.append(GrowthRule(**r))
        except PydanticError as exc:
            problems += [{"file": path.name, "rule": r.get("id", f"#{i}"), "field": ".".join(map(str, e["loc"])) or "-",
                          "message": e["msg"]} for e in exc.errors()]
    try:
        policy = TierPolicy(**raw.get("tiers", {}))
    except PydanticError as exc:
        problems += [{"file": path.name, "rule": "tiers", "field": ".".join(map(str, e["loc"])) or "-",
                      "message": e["msg"]} for e in exc.errors()]
    if problems:
        raise ValidationError(f"{path.name}: {len(problems)} problem(s) in the membership rules", details=problems)
    return tuple(rules), policy, list(raw.get("blind_boxes", []))


def _period(at: dt.datetime | dt.date) -> str:
    return f"{at.year:04d}-{at.month:02d}"


def _earned(conn: Connection, customer_id: str, rule_id: str, period: str) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(growth_event.c.growth), 0)).where(
        growth_event.c.customer_id == customer_id, growth_event.c.rule_id == rule_id,
        growth_event.c.period == period)).scalar() or 0)


def _ensure_member(conn: Connection, customer_id: str, today: dt.date) -> None:
    if conn.execute(sa.select(membership.c.customer_id).where(membership.c.customer_id == customer_id)).first() is None:
        try:
            with conn.begin_nested():
                conn.execute(membership.insert().values(customer_id=customer_id, growth_value=0, tier=0,
                                                        tier_since=today))
        except IntegrityError:  # created concurrently
            pass


def grant(engine: Engine, rule: GrowthRule, customer_id: str, event_key: str, at: dt.datetime, *,
          occurrences: int = 1, amount: Decimal = Decimal(0)) -> int:
    """Grant growth for one event; returns the growth granted (0 when capped or already granted)."""
    with engine.begin() as conn:
        if conn.execute(sa.select(growth_event.c.id).where(growth_event.c.event_key == event_key)).first():
            return 0
        if rule.per == "first_ever" and conn.execute(sa.select(growth_event.c.id).where(
                growth_event.c.customer_id == customer_id, growth_event.c.rule_id == rule.id)).first():
            return 0
        period = _period(at)
        growth = rule.capped(rule.raw_growth(occurrences, amount), _earned(conn, customer_id, rule.id, period))
        _ensure_member(conn, customer_id, at.date())
        conn.execute(growth_event.insert().values(event_key=event_key, customer_id=customer_id, rule_id=rule.id,
                                                  period=period, growth=growth, at=at))
        if growth:
            conn.execute(membership.update().where(membership.c.customer_id == customer_id)
                         .values(growth_value=membership.c.growth_value + growth, updated_at=at))
    return growth


def reevaluate(engine: Engine, policy: TierPolicy, today: dt.date) -> dict[str, int]:
    """Recompute each member's growth over the trailing window and move tiers (up at once, down after
    the grace period)."""
    since = dt.datetime.combine(today - dt.timedelta(days=policy.window_days), dt.time(), dt.UTC)
    moved = {"up": 0, "down": 0, "grace_started": 0, "members": 0}
    with engine.begin() as conn:
        window = dict(conn.execute(sa.select(growth_event.c.customer_id, sa.func.sum(growth_event.c.growth))
                                   .where(growth_event.c.at >= since).group_by(growth_event.c.customer_id)).all())
        for m in conn.execute(sa.select(membership)).all():
            growth = int(window.get(m.customer_id, 0))
            old = TierState(m.tier, m.tier_since, m.grace_until)
            new = evaluate_tier(policy, old, growth, today)
            moved["members"] += 1
            if new != old or growth != m.growth_value:
                moved["up"] += new.tier > old.tier
                moved["down"] += new.tier < old.tier
                moved["grace_started"] += old.grace_until is None and new.grace_until is not None
                conn.execute(membership.update().where(membership.c.customer_id == m.customer_id).values(
                    growth_value=growth, tier=new.tier, tier_since=new.tier_since, grace_until=new.grace_until))
    return moved


def member(engine: Engine, customer_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(membership).where(membership.c.customer_id == customer_id)).first()
    return dict(row._mapping) if row else None


def day_activity(wh: Any, rules: tuple[GrowthRule, ...], day: dt.date) -> Any:
    """Per customer and rule, the day's occurrences and amount — one Ibis expression over the warehouse
    (``event`` for event rules, ``transaction`` for transaction rules). Returns a pandas frame."""
    import ibis

    start = ibis.timestamp(dt.datetime.combine(day, dt.time()))
    end = ibis.timestamp(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()))
    parts = []
    ev, tx = wh.table("event"), wh.table("transaction")
    for r in rules:
        if r.source == "event":
            t = ev.filter(ev.channel == r.channel, ev.ts >= start, ev.ts < end)
            agg = t.group_by("customer_id").aggregate(occurrences=t.count(), amount=ibis.literal(0.0))
        else:
            t = tx.filter(tx.txn_type == r.txn_type, tx.ts >= start, tx.ts < end, tx.customer_id.notnull())
            agg = t.group_by("customer_id").aggregate(occurrences=t.count(),
                                                      amount=t.amount.abs().sum().cast("float64"))
        parts.append(agg.select(customer_id=agg.customer_id.cast("string"), occurrences=agg.occurrences.cast("int64"),
                                amount=agg.amount.cast("float64"), rule_id=ibis.literal(r.id)))
    expr = parts[0]
    for p in parts[1:]:
        expr = expr.union(p)
    return expr.to_pandas()


def accrue_day(wh: Any, engine: Engine, rules: tuple[GrowthRule, ...], day: dt.date) -> dict[str, int]:
    """The daily run's growth accrual for ``day``: idempotent (event key = rule:customer:day), caps
    respected, members created as needed; bulk statements, not one transaction per member."""
    activity = day_activity(wh, rules, day)
    by_id = {r.id: r for r in rules}
    period = _period(day)
    at = dt.datetime.combine(day, dt.time(23, 59), dt.UTC)
    with engine.begin() as conn:
        done = set(conn.execute(sa.select(growth_event.c.event_key).where(
            growth_event.c.period == period, growth_event.c.event_key.like(f"%:{day.isoformat()}"))).scalars())
        earned = {(c, r): int(g) for c, r, g in conn.execute(
            sa.select(growth_event.c.customer_id, growth_event.c.rule_id, sa.func.sum(growth_event.c.growth))
            .where(growth_event.c.period == period).group_by(growth_event.c.customer_id, growth_event.c.rule_id))}
        ever = {(c, r) for c, r in conn.execute(
            sa.select(growth_event.c.customer_id, growth_event.c.rule_id).distinct()
            .where(growth_event.c.rule_id.in_([r.id for r in rules if r.per == "first_ever"])))}
        rows, totals = [], {}
        for cust, rule_id, occ, amount in activity[["customer_id", "rule_id", "occurrences", "amount"]].itertuples(
                index=False):
            key = f"{rule_id}:{cust}:{day.isoformat()}"
            rule = by_id[rule_id]
            if key in done or (rule.per == "first_ever" and (cust, rule_id) in ever):
                continue
            g = rule.capped(rule.raw_growth(int(occ), Decimal(str(amount))), earned.get((cust, rule_id), 0))
            rows.append({"event_key": key, "customer_id": cust, "rule_id": rule_id, "period": period,
                         "growth": g, "at": at})
            if g:
                totals[cust] = totals.get(cust, 0) + g
        members = set(conn.execute(sa.select(membership.c.customer_id)).scalars())
        new = [{"customer_id": c, "growth_value": 0, "tier": 0, "tier_since": day} for c in totals if c not in members]
        if new:
            conn.execute(membership.insert(), new)
        if rows:
            conn.execute(growth_event.insert(), rows)
        if totals:
            conn.execute(membership.update().where(membership.c.customer_id == sa.bindparam("cid"))
                         .values(growth_value=membership.c.growth_value + sa.bindparam("g")),
                         [{"cid": c, "g": g} for c, g in totals.items()])
    return {"events": len(rows), "members_credited": len(totals), "members_created": len(new),
            "growth": sum(totals.values())}
