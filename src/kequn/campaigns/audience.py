"""The audience of a campaign as ONE Ibis expression: (customer_id, branch_id).

segment members (approved segments only) ∩ score filters (latest ``model_score`` on or before the day)
∩ pilot branches; or the top-k customers by an uplift score where k = budget / cost per contact.
Only active customers are targeted.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis

from kequn.domain.campaigns import CampaignSpec, ScoreFilter
from kequn.errors import ValidationError


def _latest_score(wh: Any, name: str, as_of: dt.date) -> Any:
    if not wh.has_table("model_score"):
        raise ValidationError(f"audience uses score {name!r} but no model has written scores (model_score)")
    s = wh.table("model_score")
    s = s.filter(s.score_name == name, s.as_of <= ibis.date(as_of), s.entity == "customer")
    last = s.group_by("customer_id").aggregate(as_of=s.as_of.max())
    s = s.inner_join(last, ["customer_id", "as_of"])
    return s.select("customer_id", score=s.score)


def _apply_score(wh: Any, base: Any, f: ScoreFilter, as_of: dt.date) -> Any:
    s = _latest_score(wh, f.score_name, as_of)
    if f.min is not None:
        s = s.filter(s.score >= f.min)
    if f.max is not None:
        s = s.filter(s.score <= f.max)
    return base.semi_join(s, "customer_id")


def expand_branches(wh: Any, branches: list[str] | tuple[str, ...]) -> list[str]:
    """The branches and all their sub-branches (a pilot in a branch covers its sub-branches)."""
    from kequn.security.scope import children_map, subtree

    rows = wh.table("branch").select("branch_id", "parent_id").to_pyarrow().to_pylist()
    children = children_map(rows)
    return sorted({b for root in branches for b in subtree(children, root)})


def build(wh: Any, engine: Any, spec: CampaignSpec, as_of: dt.date) -> Any:
    from kequn.segments import service as seg

    c = wh.table("customer")
    base = c.filter(c.status == "active").select("customer_id", branch_id=c.home_branch_id)
    a = spec.audience
    if a.branches:
        base = base.filter(base.branch_id.isin(expand_branches(wh, a.branches)))
    if a.segment_id is not None:
        if not seg.usable(a.segment_id, engine):
            raise ValidationError(f"segment {a.segment_id!r} is not approved: campaigns may only target approved segments")
        members = seg.evaluate(wh, seg.approved(engine, a.segment_id), as_of)
        base = base.semi_join(members.select(customer_id=members.entity_id), "customer_id")
    for f in a.scores:
        base = _apply_score(wh, base, f, as_of)
    if a.uplift_top_k is not None:
        s = _latest_score(wh, a.uplift_top_k.score_name, as_of)
        j = base.inner_join(s, "customer_id")
        base = j.order_by([ibis.desc(j.score), j.customer_id]).limit(a.uplift_top_k.k).select("customer_id", "branch_id")
    return base


def only_ids(t: Any, ids: Any, col: str = "customer_id") -> Any:
    """The rows of ``t`` whose ``col`` is one of ``ids``: a semi-join on an in-memory table (an ``isin`` of
    thousands of literals costs Ibis seconds to compile; this costs milliseconds at any length)."""
    m = ibis.memtable({col: [str(i) for i in ids]}, schema={col: "string"})
    return t.semi_join(m, col)


def trigger_refusals(wh: Any, spec: CampaignSpec, customers: list[str], as_of: dt.date) -> dict[str, str]:
    """For an event trigger: the customers among ``customers`` that the audience's pilot branches or score
    filters exclude, with the reason (``outside_pilot``, ``no_score``, ``below_score``, ``above_score``;
    the first failing check in that order). The same rules as :func:`build`, for a handful of customers."""
    a = spec.audience
    out: dict[str, str] = {}
    if not customers:
        return out
    if a.branches:
        allowed = set(expand_branches(wh, a.branches))
        c = wh.table("customer")
        rows = only_ids(c, customers).select("customer_id", "home_branch_id").to_pyarrow().to_pylist()
        home = {r["customer_id"]: r["home_branch_id"] for r in rows}
        out.update({cust: "outside_pilot" for cust in customers if home.get(cust) not in allowed})
    for f in a.scores:
        rest = [cust for cust in customers if cust not in out]
        if not rest:
            break
        if not wh.has_table("model_score"):
            out.update({cust: "no_score" for cust in rest})
            continue
        s = _latest_score(wh, f.score_name, as_of)
        rows = only_ids(s, rest).to_pyarrow().to_pylist()
        score = {r["customer_id"]: r["score"] for r in rows}
        for cust in rest:
            v = score.get(cust)
            if v is None:
                out[cust] = "no_score"
            elif f.min is not None and v < f.min:
                out[cust] = "below_score"
            elif f.max is not None and v > f.max:
                out[cust] = "above_score"
    return out
