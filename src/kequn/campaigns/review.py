"""Attribution and the biweekly review (双周复盘).

Per campaign run in the cycle: what ran, reach (queued / sent / delivered), what was suppressed and why,
conversions by arm, lift vs control with a 95% confidence interval from sufficient statistics (n, Σx, Σx²
per arm, aggregated by the database — never rows pulled into Python) for every conversion kind measured
(:mod:`kequn.campaigns.observe`), by branch, reward cost from the rewards ledger, leads won/lost and
against their SLA, opt-out rate, ROI and a keep / scale / stop recommendation; and per audience segment the
process and result indicators of the 监测图 (:func:`segment_indicators`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kequn.campaigns import tables as T
from kequn.domain.campaigns import CONVERSION_KINDS, REASONS, ArmStats, Lift, lift, recommend, yuan


def arm_stats(engine: Any, run_ids: list[str], *, by_branch: bool = False,
              source: str | list[str] | None = None) -> dict[Any, ArmStats]:
    r, a = T.response, T.assignment
    keys = [r.c.arm] + ([a.c.branch_id] if by_branch else [])
    q = (sa.select(*keys, sa.func.count(), sa.func.sum(r.c.converted), sa.func.sum(r.c.converted * r.c.converted))
         .select_from(r.join(a, sa.and_(a.c.run_id == r.c.run_id, a.c.customer_id == r.c.customer_id)))
         .where(r.c.run_id.in_(run_ids)).group_by(*keys))
    if source:
        q = q.where(r.c.source.in_([source] if isinstance(source, str) else source))
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


#: the legacy source name of product openings (first version) is read as ``product_opened``
_ALIASES = {"warehouse": "product_opened"}
#: label of each response source
SOURCE_LABELS = {"sandbox": "模拟响应（演示）", **CONVERSION_KINDS}


def source_stats(engine: Any, run_ids: list[str]) -> dict[str, dict[str, ArmStats]]:
    """{source: {arm: ArmStats}} over the runs — one grouped query in the database."""
    r = T.response
    q = (sa.select(r.c.source, r.c.arm, sa.func.count(), sa.func.sum(r.c.converted),
                   sa.func.sum(r.c.converted * r.c.converted))
         .where(r.c.run_id.in_(run_ids)).group_by(r.c.source, r.c.arm))
    out: dict[str, dict[str, ArmStats]] = {}
    with engine.connect() as conn:
        for src, arm, n, s1, s2 in conn.execute(q).all():
            key = _ALIASES.get(src, src)
            prev = out.setdefault(key, {}).get(arm, ArmStats(0, 0, 0))
            out[key][arm] = ArmStats(prev.n + int(n), prev.sum + float(s1 or 0), prev.sum_sq + float(s2 or 0))
    return out


def _ci(low: float, high: float) -> list[float | None]:
    """A 95% interval for JSON: [None, None] when it is unbounded (an arm without customers)."""
    return [low, high] if math.isfinite(low) and math.isfinite(high) else [None, None]


def _lift_json(res: Lift) -> dict[str, Any]:
    return {"treatment_rate": res.treatment, "control_rate": res.control, "diff": res.diff,
            "ci95": _ci(res.low, res.high), "significant": res.significant}


def headline_source(present: list[str] | set[str], spec: dict[str, Any]) -> str | None:
    """The conversion the headline lift, ROI and recommendation use: the simulator's responses in demo mode
    (``sandbox``), else the spec's first conversion kind when measured, else the first measured."""
    if "sandbox" in present:
        return "sandbox"
    try:
        from kequn.campaigns.service import parse_spec

        first = parse_spec(spec).conversion_kinds()[0].kind if spec.get("campaign_id") else None
    except Exception:  # noqa: BLE001 - a partial spec (tests, old rows): fall back to what was measured
        first = None
    if first in present:
        return first
    return sorted(present)[0] if present else None


def campaign_result(engine: Any, campaign_id: str, run_ids: list[str], spec: dict[str, Any], *,
                    today: dt.date | None = None) -> dict[str, Any]:
    from kequn.campaigns import leads

    by_source = source_stats(engine, run_ids)
    head = headline_source(set(by_source), spec)
    stats = by_source.get(head, {}) if head else {}
    t, c = stats.get("treatment", ArmStats(0, 0, 0)), stats.get("control", ArmStats(0, 0, 0))
    res = lift(t, c)
    conversions = {}
    for src in sorted(by_source, key=lambda k: (k != head, k)):
        arms = by_source[src]
        lr = lift(arms.get("treatment", ArmStats(0, 0, 0)), arms.get("control", ArmStats(0, 0, 0)))
        conversions[src] = {"label": SOURCE_LABELS.get(src, src), "headline": src == head,
                            "arms": {k: {"n": v.n, "conversions": v.sum, "rate": v.mean} for k, v in arms.items()},
                            "lift": _lift_json(lr)}
    with engine.connect() as conn:
        redeemed = int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(T.response.c.redeemed), 0))
                                    .where(T.response.c.run_id.in_(run_ids), T.response.c.arm == "treatment",
                                           T.response.c.source == (head or "sandbox"))).scalar_one())
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
    if head:
        for (arm, branch), s in arm_stats(engine, run_ids, by_branch=True, source=_source_names(head)).items():
            branches.setdefault(branch, {})[arm] = s
    by_branch = []
    for b, arms in sorted(branches.items(), key=lambda kv: str(kv[0])):
        bl = lift(arms.get("treatment", ArmStats(0, 0, 0)), arms.get("control", ArmStats(0, 0, 0)))
        by_branch.append({"branch_id": b, "n_treatment": bl.n_treatment, "n_control": bl.n_control,
                          "treatment_rate": bl.treatment, "control_rate": bl.control, "lift": bl.diff,
                          "ci": _ci(bl.low, bl.high)})
    supp = _counts(engine, T.suppression, T.suppression.c.reason, run_ids)
    return {
        "campaign_id": campaign_id, "name": spec.get("name"), "segment_id": spec.get("audience", {}).get("segment_id"),
        "runs": run_ids, "arms": {k: {"n": v.n, "conversions": v.sum, "rate": v.mean} for k, v in stats.items()},
        "conversion_source": head, "conversions": conversions,
        "assigned": _counts(engine, T.assignment, T.assignment.c.arm, run_ids),
        "reach": {"queued": sum(outbox.values()), "sent": sent, "delivered": outbox.get("delivered", 0),
                  "by_status": outbox},
        "suppressed": {k: {"count": v, "label": REASONS.get(k, k)} for k, v in supp.items()},
        "lift": _lift_json(res),
        "incremental_conversions": incremental, "redeemed": redeemed,
        "reward_cost_yuan": str(yuan(reward_cost)), "reward_cost_fen": int(reward_cost),
        "reward_cost_source": "ledger" if paid["fen"] else "estimate",
        "ledger_points_paid": paid["point"],
        "incremental_value_yuan": str(yuan(value)), "incremental_value_fen": value, "roi": roi,
        "opt_out_rate": opt_outs / sent if sent else 0.0, "leads": leads.outcomes(engine, campaign_id),
        "leads_sla": leads.sla(engine, campaign_id, today or dt.date.today()),
        "by_branch": by_branch, "recommendation": recommend(res, reward_cost, value),
    }


def _source_names(source: str) -> list[str]:
    return [source, *[k for k, v in _ALIASES.items() if v == source]]


def segment_indicators(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per audience segment (监测图): process indicators (reach, delivered, suppressed by reason, leads against
    their SLA) and result indicators (conversions by kind with the lift vs control and its 95% CI, reward
    cost, incremental value, ROI) over the segment's campaigns.

    The lift of a segment is stratified by campaign (campaigns may have different control shares, so the
    arms are not pooled): incremental conversions = Σ diff_c · n_treatment,c, its variance
    Σ (n_treatment,c · se_c)² with se_c each campaign's standard error; the segment's lift is that divided by
    Σ n_treatment,c. Campaigns targeting no segment (score filters or uplift top-k only) are grouped as None.
    """
    groups: dict[Any, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(r.get("segment_id"), []).append(r)
    out = []
    for seg, rs in sorted(groups.items(), key=lambda kv: (kv[0] is None, str(kv[0]))):
        supp: dict[str, dict[str, Any]] = {}
        sla: dict[str, int] = {}
        for r in rs:
            for k, v in r["suppressed"].items():
                supp.setdefault(k, {"count": 0, "label": v["label"]})["count"] += v["count"]
            for k, v in r.get("leads_sla", {}).items():
                sla[k] = sla.get(k, 0) + v
        kinds: dict[str, dict[str, Any]] = {}
        for r in rs:
            for src, conv in r.get("conversions", {}).items():
                k = kinds.setdefault(src, {"label": conv["label"], "campaigns": 0, "n_treatment": 0, "n_control": 0,
                                           "conversions_treatment": 0.0, "conversions_control": 0.0,
                                           "incremental": 0.0, "_var": 0.0})
                t, c = conv["arms"].get("treatment", {}), conv["arms"].get("control", {})
                nt = int(t.get("n", 0))
                low, high = conv["lift"]["ci95"]
                se = (high - low) / (2 * 1.96) if nt and c.get("n") and low is not None else float("inf")
                k["campaigns"] += 1
                k["n_treatment"] += nt
                k["n_control"] += int(c.get("n", 0))
                k["conversions_treatment"] += float(t.get("conversions", 0))
                k["conversions_control"] += float(c.get("conversions", 0))
                k["incremental"] += conv["lift"]["diff"] * nt
                k["_var"] += (nt * se) ** 2 if nt else 0.0
        for k in kinds.values():
            var = k.pop("_var")
            nt = k["n_treatment"]
            diff = k["incremental"] / nt if nt else 0.0
            half = 1.96 * var ** 0.5 / nt if nt else float("inf")
            k["lift"] = {"diff": diff, "ci95": _ci(diff - half, diff + half),
                         "significant": diff - half > 0 or diff + half < 0}
            k["treatment_rate"] = k["conversions_treatment"] / nt if nt else 0.0
            k["control_rate"] = k["conversions_control"] / k["n_control"] if k["n_control"] else 0.0
        cost = sum(int(r.get("reward_cost_fen", 0)) for r in rs)
        value = sum(float(r.get("incremental_value_fen", 0.0)) for r in rs)
        out.append({
            "segment_id": seg, "campaigns": [r["campaign_id"] for r in rs],
            "process": {"queued": sum(r["reach"]["queued"] for r in rs), "sent": sum(r["reach"]["sent"] for r in rs),
                        "delivered": sum(r["reach"]["delivered"] for r in rs),
                        "assigned": {a: sum(r["assigned"].get(a, 0) for r in rs)
                                     for a in sorted({a for r in rs for a in r["assigned"]})},
                        "suppressed": dict(sorted(supp.items())), "leads_sla": sla},
            "result": {"conversions": dict(sorted(kinds.items(), key=lambda kv: (kv[0] != "sandbox", kv[0]))),
                       "reward_cost_yuan": str(yuan(cost)), "incremental_value_yuan": str(yuan(value)),
                       "roi": (value - cost) / cost if cost else None},
        })
    return out


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
    results = [campaign_result(engine, cid, ids, specs.get(cid, {}), today=until) for cid, ids in by_campaign.items()]
    return {"cycle": {"from": (since + dt.timedelta(days=1)).isoformat(), "to": until.isoformat(), "days": days},
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "campaigns": results,
            "segments": segment_indicators(results)}


def monitor(engine: Any, *, until: dt.date | None = None, days: int | None = None) -> dict[str, Any]:
    """The 监测图: every campaign's result over all its runs (or the runs of the ``days`` up to ``until``)
    and the per-segment process and result indicators."""
    from kequn.campaigns import service

    q = sa.select(T.campaign_run.c.run_id, T.campaign_run.c.campaign_id).order_by(T.campaign_run.c.campaign_id,
                                                                                  T.campaign_run.c.run_id)
    if until is not None:
        q = q.where(T.campaign_run.c.as_of <= until)
        if days is not None:
            q = q.where(T.campaign_run.c.as_of > until - dt.timedelta(days=days))
    with engine.connect() as conn:
        runs = conn.execute(q).all()
    by_campaign: dict[str, list[str]] = {}
    for r in runs:
        by_campaign.setdefault(r.campaign_id, []).append(r.run_id)
    results = [campaign_result(engine, cid, ids, service.get(engine, cid)["spec"], today=until)
               for cid, ids in by_campaign.items()]
    return {"campaigns": results, "segments": segment_indicators(results)}


def write(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """review-<to>.json and review-<to>.html in ``out_dir``."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"review-{report['cycle']['to']}"
    jp, hp = out_dir / f"{stem}.json", out_dir / f"{stem}.html"
    jp.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    templates = Path(__file__).resolve().parents[1] / "web" / "templates" / "campaigns"
    env = Environment(loader=FileSystemLoader(str(templates)), autoescape=select_autoescape(["html"]))
    hp.write_text(env.get_template("review.html").render(r=report, reasons=REASONS, labels=SOURCE_LABELS),
                  encoding="utf-8")
    return jp, hp
