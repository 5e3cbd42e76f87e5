"""Attribution and the biweekly review (双周复盘).

Per campaign run in the cycle: what ran, reach (queued / sent / delivered), what was suppressed and why,
conversions by arm, lift vs control with a 95% confidence interval from sufficient statistics (n, Σx, Σx²
per arm, aggregated by the database — never rows pulled into Python), by branch, reward cost from the
points ledger, leads won/lost, opt-out rate, ROI and a keep / scale / stop recommendation.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kequn.campaigns import tables as T
from kequn.domain.campaigns import REASONS, ArmStats, lift, recommend, yuan


def arm_stats(engine: Any, run_ids: list[str], *, by_branch: bool = False, source: str | None = None) -> dict[Any, ArmStats]:
    r, a = T.response, T.assignment
    keys = [r.c.arm] + ([a.c.branch_id] if by_branch else [])
    q = (sa.select(*keys, sa.func.count(), sa.func.sum(r.c.converted), sa.func.sum(r.c.converted * r.c.converted))
         .select_from(r.join(a, sa.and_(a.c.run_id == r.c.run_id, a.c.customer_id == r.c.customer_id)))
         .where(r.c.run_id.in_(run_ids)).group_by(*keys))
    if source:
        q = q.where(r.c.source == source)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return {(tuple(row[:len(keys)]) if by_branch else row[0]): ArmStats(int(row[-3]), float(row[-2] or 0), float(row[-1] or 0))
            for row in rows}


def _counts(engine: Any, table: sa.Table, col: sa.Column, run_ids: list[str]) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(col, sa.func.count()).where(table.c.run_id.in_(run_ids)).group_by(col)).all()
    return {str(k): int(v) for k, v in rows}


def ledger_paid(engine: Any, campaign_id: str) -> dict[str, int]:
    """What the campaign's budget accounts paid out in the rewards ledger, by unit: ``fen`` (reward costs
    charged to the budget on redemption) and ``point`` (points awarded). Zeros when it has no budget."""
    out = {"fen": 0, "point": 0}
    if not sa.inspect(engine).has_table("point_entry"):
        return out
    md = sa.MetaData()
    acc = sa.Table("point_account", md, autoload_with=engine)
    ent = sa.Table("point_entry", md, autoload_with=engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(acc.c.unit, sa.func.coalesce(sa.func.sum(ent.c.amount), 0))
                            .select_from(ent.join(acc, ent.c.from_account_id == acc.c.id))
                            .where(acc.c.owner_type == "campaign", acc.c.owner_id == campaign_id)
                            .group_by(acc.c.unit)).all()
    for unit, amount in rows:
        out[str(unit)] = int(amount)
    return out


def campaign_result(engine: Any, campaign_id: str, run_ids: list[str], spec: dict[str, Any]) -> dict[str, Any]:
    from kequn.campaigns import leads

    stats = arm_stats(engine, run_ids)
    t, c = stats.get("treatment", ArmStats(0, 0, 0)), stats.get("control", ArmStats(0, 0, 0))
    res = lift(t, c)
    with engine.connect() as conn:
        redeemed = int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(T.response.c.redeemed), 0))
                                    .where(T.response.c.run_id.in_(run_ids), T.response.c.arm == "treatment")).scalar_one())
        opt_outs = int(conn.execute(sa.select(sa.func.count()).select_from(T.opt_out)
                                    .where(T.opt_out.c.campaign_id == campaign_id)).scalar_one())
    offer = spec.get("offer", {})
    paid = ledger_paid(engine, campaign_id)
    # the ledger's figure when the budget paid for redemptions; else redemptions × the offer's unit cost
    reward_cost = paid["fen"] or redeemed * int(offer.get("reward_fen", 0))
    incremental = res.diff * res.n_treatment if res.n_treatment else 0.0
    value = incremental * int(offer.get("expected_value_fen", 0))
    roi = (value - reward_cost) / reward_cost if reward_cost else None
    outbox = _counts(engine, T.outbox, T.outbox.c.status, run_ids)
    sent = sum(v for k, v in outbox.items() if k in ("sent", "delivered", "failed"))
    branches: dict[Any, dict[str, ArmStats]] = {}
    for (arm, branch), s in arm_stats(engine, run_ids, by_branch=True).items():
        branches.setdefault(branch, {})[arm] = s
    by_branch = []
    for b, arms in sorted(branches.items(), key=lambda kv: str(kv[0])):
        bl = lift(arms.get("treatment", ArmStats(0, 0, 0)), arms.get("control", ArmStats(0, 0, 0)))
        by_branch.append({"branch_id": b, "n_treatment": bl.n_treatment, "n_control": bl.n_control,
                          "treatment_rate": bl.treatment, "control_rate": bl.control, "lift": bl.diff,
                          "ci": [bl.low, bl.high]})
    supp = _counts(engine, T.suppression, T.suppression.c.reason, run_ids)
    return {
        "campaign_id": campaign_id, "name": spec.get("name"), "segment_id": spec.get("audience", {}).get("segment_id"),
        "runs": run_ids, "arms": {k: {"n": v.n, "conversions": v.sum, "rate": v.mean} for k, v in stats.items()},
        "assigned": _counts(engine, T.assignment, T.assignment.c.arm, run_ids),
        "reach": {"queued": sum(outbox.values()), "sent": sent, "delivered": outbox.get("delivered", 0),
                  "by_status": outbox},
        "suppressed": {k: {"count": v, "label": REASONS.get(k, k)} for k, v in supp.items()},
        "lift": {"treatment_rate": res.treatment, "control_rate": res.control, "diff": res.diff,
                 "ci95": [res.low, res.high], "significant": res.significant},
        "incremental_conversions": incremental, "redeemed": redeemed,
        "reward_cost_yuan": str(yuan(reward_cost)), "reward_cost_source": "ledger" if paid["fen"] else "estimate",
        "ledger_points_paid": paid["point"],
        "incremental_value_yuan": str(yuan(value)), "roi": roi,
        "opt_out_rate": opt_outs / sent if sent else 0.0, "leads": leads.outcomes(engine, campaign_id),
        "by_branch": by_branch, "recommendation": recommend(res, reward_cost, value),
    }


def review(engine: Any, *, until: dt.date, days: int = 14) -> dict[str, Any]:
    since = until - dt.timedelta(days=days)
    with engine.connect() as conn:
        runs = conn.execute(sa.select(T.campaign_run.c.run_id, T.campaign_run.c.campaign_id)
                            .where(T.campaign_run.c.as_of > since, T.campaign_run.c.as_of <= until)
                            .order_by(T.campaign_run.c.campaign_id, T.campaign_run.c.run_id)).all()
        specs = {r.campaign_id: json.loads(r.spec) for r in conn.execute(sa.select(T.campaign.c.campaign_id, T.campaign.c.spec))}
    by_campaign: dict[str, list[str]] = {}
    for r in runs:
        by_campaign.setdefault(r.campaign_id, []).append(r.run_id)
    results = [campaign_result(engine, cid, ids, specs.get(cid, {})) for cid, ids in by_campaign.items()]
    return {"cycle": {"from": (since + dt.timedelta(days=1)).isoformat(), "to": until.isoformat(), "days": days},
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "campaigns": results}


def write(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """review-<to>.json and review-<to>.html in ``out_dir``."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"review-{report['cycle']['to']}"
    jp, hp = out_dir / f"{stem}.json", out_dir / f"{stem}.html"
    jp.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    templates = Path(__file__).resolve().parents[1] / "web" / "templates" / "campaigns"
    env = Environment(loader=FileSystemLoader(str(templates)), autoescape=select_autoescape(["html"]))
    hp.write_text(env.get_template("review.html").render(r=report, reasons=REASONS), encoding="utf-8")
    return jp, hp
