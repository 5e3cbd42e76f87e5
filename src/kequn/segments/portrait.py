"""The portrait of a segment (客群画像, the 高清图 of a group): how its members differ from everyone.

For each tag asked for: flags → share true in the segment and in the whole population (and the lift);
numbers → mean and median in both; categories and text bands → the most common values with their shares.
Everything is aggregated in the warehouse; only the small summary comes back to Python.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis

from kequn.errors import SegmentError
from kequn.segments import catalogue as catalogue_mod
from kequn.segments import engine
from kequn.segments.definitions import SegmentDef
from kequn.segments.lang import BoolOp, Node, Ref, Truthy
from kequn.segments.rules import ENTITY_KEYS, Catalogue, value_kind

#: tags shown when none are asked for (those present in the profile are used)
DEFAULT_TAGS: dict[str, tuple[str, ...]] = {
    "customer": ("aum", "products_held", "app_active_flag", "payroll_flag", "credit_card_holder", "loan_holder",
                 "aum_tier", "lifecycle_stage", "channel_preference", "churn_risk"),
    "enterprise": ("payroll_headcount", "employee_penetration", "industry", "size"),
    "merchant": ("turnover_30d", "refund_rate_90d", "mcc", "status"),
}


def _population(wh: Any, entity: str, tags: list[str], cat: Catalogue, as_of: dt.date | None) -> Any:
    refs: list[Node] = [Truthy(Ref(t, 0), 0) for t in tags]
    node = BoolOp("and", tuple(refs), 0) if len(refs) > 1 else refs[0]
    return engine.prepared(wh, entity, node, cat, as_of)


def _share(flag: Any) -> Any:
    return ibis.ifelse(flag.fill_null(False), 1.0, 0.0).mean()


def portrait(wh: Any, seg: SegmentDef, members: Any, as_of: dt.date | None, tags: list[str] | None = None,
             catalogue: Catalogue | None = None, top: int = 5) -> dict[str, Any]:
    """Summary of ``tags`` for the members (an Ibis table with ``entity_id``) against the whole population."""
    cat = catalogue or catalogue_mod.load(wh)
    specs = cat.tags.get(seg.entity, {})
    if tags:
        wanted = list(tags)
    else:  # the default tags that were computed
        have = set(engine.entity_table(wh, seg.entity, as_of).columns)
        wanted = [t for t in DEFAULT_TAGS[seg.entity] if t in specs and t in have]
    unknown = [t for t in wanted if t not in specs]
    if unknown:
        raise SegmentError(f"unknown tag(s) {', '.join(unknown)} of {seg.entity}")
    if not wanted:
        return {"segment": seg.id, "size": 0, "population": 0, "tags": []}
    key = ENTITY_KEYS[seg.entity]
    pop = _population(wh, seg.entity, wanted, cat, as_of).select(key, *wanted)
    inseg = pop.mutate(_in=pop[key].isin(members.entity_id))
    kinds = {t: value_kind(specs[t]) for t in wanted}
    aggs: dict[str, Any] = {"_n": inseg.count(), "_n_in": _share(inseg._in) * inseg.count()}
    for t, k in kinds.items():
        if k == "flag":
            aggs[f"{t}__all"] = _share(inseg[t])
            aggs[f"{t}__in"] = ibis.ifelse(inseg[t].fill_null(False), 1.0, 0.0).mean(where=inseg._in)
        elif k == "number":
            v = inseg[t].cast("float64")
            aggs[f"{t}__all"], aggs[f"{t}__in"] = v.mean(), v.mean(where=inseg._in)
            aggs[f"{t}__med_all"], aggs[f"{t}__med_in"] = v.median(), v.median(where=inseg._in)
    row = inseg.aggregate(**aggs).to_pyarrow().to_pylist()[0]
    out = [_summary(t, k, row) for t, k in kinds.items() if k in ("flag", "number")]
    for t, k in kinds.items():
        if k in ("category", "band"):
            out.append(_top_values(inseg, t, top, int(round(row["_n_in"] or 0)), k))
    return {"segment": seg.id, "as_of": as_of, "size": int(round(row["_n_in"] or 0)), "population": int(row["_n"]),
            "tags": out}


def _r(x: Any) -> float | None:
    return None if x is None else round(float(x), 4)


def _summary(tag: str, kind: str, row: dict[str, Any]) -> dict[str, Any]:
    seg_v, all_v = _r(row[f"{tag}__in"]), _r(row[f"{tag}__all"])
    out: dict[str, Any] = {"tag": tag, "kind": kind, "segment": seg_v, "population": all_v,
                           "lift": round(seg_v / all_v, 4) if seg_v is not None and all_v else None}
    if kind == "number":
        out["segment_median"], out["population_median"] = _r(row[f"{tag}__med_in"]), _r(row[f"{tag}__med_all"])
    return out


def _top_values(inseg: Any, tag: str, top: int, size: int, kind: str) -> dict[str, Any]:
    m = inseg.filter(inseg._in)
    counts = m.group_by(tag).aggregate(n=m.count()).order_by([ibis.desc("n"), tag]).limit(top)
    rows = counts.to_pyarrow().to_pylist()
    return {"tag": tag, "kind": kind, "top": [{"value": r[tag], "count": int(r["n"]),
                                               "share": round(r["n"] / size, 4) if size else None} for r in rows]}
