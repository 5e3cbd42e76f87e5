"""One check per rule kind, each ``check(rule, ctx) -> Outcome``; every check is an Ibis expression run
inside the warehouse, and only aggregates (a handful of numbers, or a histogram of ≤ a few dozen bins)
come back to Python.

A rule whose table is missing or has no rows yet is skipped, not failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import ibis

from kequn.quality.psi import psi
from kequn.quality.rules import (
    CompletenessRule,
    DistributionShiftRule,
    FreshnessRule,
    ReferentialRule,
    UniquenessRule,
    ValidityRule,
    VolumeChangeRule,
)

Status = Literal["pass", "fail", "skip"]
LOAD_BATCH_TABLE = "_load_batch"
OTHER, NULL = "__other__", "__null__"


@dataclass(frozen=True)
class CheckContext:
    """What every check may use: the warehouse, the as-of date, and the stored details of a rule's
    previous result (for distribution shift)."""

    wh: Any
    as_of: dt.date
    previous_details: Callable[[str], dict[str, Any] | None] = lambda _rule_id: None


@dataclass(frozen=True)
class Outcome:
    status: Status
    measured: float | None
    threshold: str
    message: str
    details: dict[str, Any] | None = field(default=None)


def _rows(expr: Any) -> list[dict[str, Any]]:
    return expr.to_pyarrow().to_pylist()


def _one(expr: Any) -> dict[str, Any]:
    return _rows(expr)[0]


def _table(ctx: CheckContext, name: str) -> Any | None:
    return ctx.wh.table(name) if ctx.wh.has_table(name) else None


def _skip_missing(name: str, threshold: str) -> Outcome:
    return Outcome("skip", None, threshold, f"table {name} is not in the warehouse yet (run kequn init / load)")


def _skip_empty(name: str, threshold: str) -> Outcome:
    return Outcome("skip", None, threshold, f"table {name} has no rows yet")


def _flag(cond: Any) -> Any:
    return ibis.ifelse(cond, 1, 0).sum()


def _pct(x: float) -> str:
    return f"{x:.2%}"


def check_completeness(rule: CompletenessRule, ctx: CheckContext) -> Outcome:
    threshold = f"null rate ≤ {_pct(rule.max_null_rate)}"
    t = _table(ctx, rule.table)
    if t is None:
        return _skip_missing(rule.table, threshold)
    col = t[rule.column]
    missing = col.isnull()
    if rule.blank_is_null and col.type().is_string():
        missing = missing | (col.strip() == "")
    r = _one(t.aggregate(n=t.count(), missing=_flag(missing)))
    if not r["n"]:
        return _skip_empty(rule.table, threshold)
    rate = (r["missing"] or 0) / r["n"]
    ok = rate <= rule.max_null_rate
    return Outcome("pass" if ok else "fail", rate, threshold,
                   f"{r['missing'] or 0} of {r['n']} rows have no {rule.column} ({_pct(rate)})")


def _validity_condition(rule: ValidityRule, col: Any) -> tuple[Any, str]:
    if rule.allowed is not None:
        shown = ", ".join(rule.allowed[:8]) + (" …" if len(rule.allowed) > 8 else "")
        return col.isin(list(rule.allowed)), f"in {{{shown}}}"
    if rule.pattern is not None:
        return col.re_search(rule.pattern), f"matches {rule.pattern}"
    x = col.cast("float64")
    cond = ibis.literal(True)
    if rule.min is not None:
        cond = cond & (x >= rule.min)
    if rule.max is not None:
        cond = cond & (x <= rule.max)
    lo = "-∞" if rule.min is None else f"{rule.min:g}"
    hi = "+∞" if rule.max is None else f"{rule.max:g}"
    return cond, f"in [{lo}, {hi}]"


def check_validity(rule: ValidityRule, ctx: CheckContext) -> Outcome:
    t = _table(ctx, rule.table)
    cond_text = "valid"
    if t is not None:
        cond, cond_text = _validity_condition(rule, t[rule.column])
    threshold = f"invalid ≤ {_pct(rule.max_invalid_rate)}; {cond_text}"
    if t is None:
        return _skip_missing(rule.table, threshold)
    col = t[rule.column]
    r = _one(t.aggregate(n=t.count(), checked=col.count(), invalid=_flag(col.notnull() & ~cond)))
    if not r["n"]:
        return _skip_empty(rule.table, threshold)
    invalid = r["invalid"] or 0
    rate = invalid / r["checked"] if r["checked"] else 0.0
    ok = rate <= rule.max_invalid_rate
    return Outcome("pass" if ok else "fail", rate, threshold,
                   f"{invalid} of {r['checked']} non-empty {rule.column} values are invalid")


def check_uniqueness(rule: UniquenessRule, ctx: CheckContext) -> Outcome:
    threshold = f"duplicate rows ≤ {rule.max_duplicates}"
    t = _table(ctx, rule.table)
    if t is None:
        return _skip_missing(rule.table, threshold)
    n = t.count().to_pyarrow().as_py()
    if not n:
        return _skip_empty(rule.table, threshold)
    keyed = t
    for c in rule.columns:
        keyed = keyed.filter(keyed[c].notnull())
    groups = keyed.group_by(list(rule.columns)).aggregate(_k=keyed.count()).filter(lambda g: g._k > 1)
    r = _one(groups.aggregate(keys=groups.count(), extra=(groups._k - 1).sum()))
    extra = r["extra"] or 0
    key = ", ".join(rule.columns)
    return Outcome("pass" if extra <= rule.max_duplicates else "fail", float(extra), threshold,
                   f"{r['keys'] or 0} value(s) of ({key}) occur more than once ({extra} surplus rows of {n})")


def check_referential(rule: ReferentialRule, ctx: CheckContext) -> Outcome:
    threshold = f"orphan rate ≤ {_pct(rule.max_orphan_rate)} ({rule.column} → {rule.parent_table}.{rule.parent_column})"
    child = _table(ctx, rule.table)
    if child is None:
        return _skip_missing(rule.table, threshold)
    n = child.count().to_pyarrow().as_py()
    if not n:
        return _skip_empty(rule.table, threshold)
    parent = _table(ctx, rule.parent_table)
    linked = child.filter(child[rule.column].notnull())
    if parent is None:
        orphans = linked.count().to_pyarrow().as_py()
        checked = orphans
    else:
        keys = parent.select(_kequn_parent_key=parent[rule.parent_column]).distinct()
        orphan_rows = linked.anti_join(keys, linked[rule.column] == keys._kequn_parent_key)
        checked = linked.count().to_pyarrow().as_py()
        orphans = orphan_rows.count().to_pyarrow().as_py()
    rate = orphans / checked if checked else 0.0
    return Outcome("pass" if rate <= rule.max_orphan_rate else "fail", rate, threshold,
                   f"{orphans} of {checked} {rule.table}.{rule.column} values have no {rule.parent_table}")


def _as_date(v: Any) -> dt.date:
    return v.date() if isinstance(v, dt.datetime) else v


def check_freshness(rule: FreshnessRule, ctx: CheckContext) -> Outcome:
    threshold = f"latest {rule.column} ≥ as-of − {rule.max_age_days} days"
    t = _table(ctx, rule.table)
    if t is None:
        return _skip_missing(rule.table, threshold)
    col = t[rule.column]
    if col.type().is_timestamp():
        known = col < dt.datetime.combine(ctx.as_of + dt.timedelta(days=1), dt.time())
    else:
        known = col <= ctx.as_of
    r = _one(t.aggregate(n=t.count(), latest=col.max(where=known)))
    if not r["n"]:
        return _skip_empty(rule.table, threshold)
    if r["latest"] is None:
        return Outcome("fail", None, threshold, f"no {rule.table} row has {rule.column} on or before {ctx.as_of}")
    latest = _as_date(r["latest"])
    age = (ctx.as_of - latest).days
    ok = age <= rule.max_age_days
    return Outcome("pass" if ok else "fail", float(age), threshold,
                   f"latest {rule.column} is {latest} ({age} days before {ctx.as_of})")


def check_volume_change(rule: VolumeChangeRule, ctx: CheckContext) -> Outcome:
    threshold = f"latest ÷ previous batch rows in [{rule.min_ratio:g}, {rule.max_ratio:g}]"
    lb = _table(ctx, LOAD_BATCH_TABLE)
    if lb is None:
        return Outcome("skip", None, threshold, "no load history yet (_load_batch missing)")
    mine = lb.filter(lb.table_name == rule.table)
    batches = _rows(mine.group_by("batch_id")
                    .aggregate(rows=mine.rows_loaded.sum(), at=mine.loaded_at.max())
                    .order_by([ibis.desc("at"), ibis.desc("batch_id")]).limit(2))
    if len(batches) < 2:
        return Outcome("skip", None, threshold, f"{len(batches)} load batch(es) of {rule.table}: need two to compare")
    latest, previous = (int(b["rows"] or 0) for b in batches)
    ratio = latest / previous if previous else (1.0 if latest == 0 else float("inf"))
    ok = rule.min_ratio <= ratio <= rule.max_ratio
    return Outcome("pass" if ok else "fail", ratio, threshold,
                   f"batch {batches[0]['batch_id']} loaded {latest} rows, batch {batches[1]['batch_id']} "
                   f"loaded {previous}")


def _window(rule: DistributionShiftRule, t: Any, as_of: dt.date) -> Any:
    if rule.window_days is None:
        return t
    tc = t[rule.effective_time_column]
    start = as_of - dt.timedelta(days=rule.window_days - 1)
    if tc.type().is_timestamp():
        return t.filter(tc >= dt.datetime.combine(start, dt.time()),
                        tc < dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()))
    return t.filter(tc >= start, tc <= as_of)


def _numeric_histogram(rule: DistributionShiftRule, t: Any, prev: dict[str, Any] | None) -> dict[str, Any]:
    x = t[rule.column].cast("float64")
    if prev and prev.get("type") == "numeric":
        edges = [float(e) for e in prev["edges"]]
    else:
        qs = {f"q{i}": x.quantile(i / rule.bins) for i in range(1, rule.bins)}
        r = _one(t.aggregate(**qs))
        edges = sorted({float(v) for v in r.values() if v is not None})
    bin_no = sum((ibis.ifelse(x >= e, 1, 0) for e in edges), ibis.literal(0))
    key = ibis.ifelse(x.isnull(), -1, bin_no)
    counts = {int(r["b"]): int(r["n"]) for r in _rows(t.group_by(b=key).aggregate(n=t.count()))}
    hist = {str(b): counts.get(b, 0) for b in range(len(edges) + 1)}
    if counts.get(-1):
        hist[NULL] = counts[-1]
    return {"type": "numeric", "edges": edges, "counts": hist}


def _categorical_histogram(rule: DistributionShiftRule, t: Any, prev: dict[str, Any] | None) -> dict[str, Any]:
    col = t[rule.column]
    key = ibis.ifelse(col.isnull(), NULL, col.cast("string"))
    grouped = t.group_by(k=key).aggregate(n=t.count())
    top = _rows(grouped.order_by([ibis.desc("n"), "k"]).limit(rule.max_categories))
    counts = {r["k"]: int(r["n"]) for r in top}
    known = [k for k in (prev or {}).get("counts", {}) if k not in counts and k != OTHER]
    if known:
        counts.update({r["k"]: int(r["n"]) for r in _rows(grouped.filter(grouped.k.isin(known)))})
    total = t.count().to_pyarrow().as_py()
    if total - sum(counts.values()) > 0:
        counts[OTHER] = total - sum(counts.values())
    return {"type": "categorical", "counts": counts}


def check_distribution_shift(rule: DistributionShiftRule, ctx: CheckContext) -> Outcome:
    threshold = f"PSI ≤ {rule.max_psi:g}"
    t = _table(ctx, rule.table)
    if t is None:
        return _skip_missing(rule.table, threshold)
    t = _window(rule, t, ctx.as_of)
    n = t.count().to_pyarrow().as_py()
    if not n:
        where = f" in the {rule.window_days} days up to {ctx.as_of}" if rule.window_days else ""
        return Outcome("skip", None, threshold, f"table {rule.table} has no rows{where} yet")
    prev = ctx.previous_details(rule.id)
    kind = "numeric" if rule.numeric else "categorical"
    if prev is not None and prev.get("type") != kind:
        prev = None
    build = _numeric_histogram if rule.numeric else _categorical_histogram
    hist = build(rule, t, prev) | {"n": n, "as_of": ctx.as_of.isoformat()}
    if prev is None:
        return Outcome("skip", None, threshold, f"baseline histogram of {rule.column} recorded ({n} rows); "
                       "the next run compares against it", hist)
    value = psi(prev["counts"], hist["counts"])
    ok = value <= rule.max_psi
    return Outcome("pass" if ok else "fail", value, threshold,
                   f"PSI of {rule.column} vs the previous run ({prev.get('as_of', '?')}) is {value:.4f}", hist)


CHECKS: Mapping[str, Callable[[Any, CheckContext], Outcome]] = MappingProxyType({
    "completeness": check_completeness,
    "validity": check_validity,
    "uniqueness": check_uniqueness,
    "referential": check_referential,
    "freshness": check_freshness,
    "volume_change": check_volume_change,
    "distribution_shift": check_distribution_shift,
})

__all__ = ["CHECKS", "CheckContext", "Outcome"]
