"""Tag governance (标签治理) — the "3,000 → 50" discipline: measure every tag and recommend which to retire.

Per tag, on a snapshot: coverage and null rate, distribution (quantiles or top values), share of the most
frequent value, PSI drift against the previous snapshot, information value (IV) against a chosen target,
usage (which segment / model / campaign / playbook catalogues mention it), and redundant pairs
(|Pearson r| ≥ 0.9). All scans run in the warehouse; Python only sees small aggregates.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from kequn.errors import ValidationError
from kequn.tags.catalog import CATALOG_DIR, TagSpec
from kequn.tags.store import computed_dates, read_snapshot

MIN_COVERAGE = 0.05
MAX_TOP_SHARE = 0.99
REDUNDANT_R = 0.9
MIN_IV = 0.02
PSI_ALERT = 0.25
EPS = 1e-4
NUMERIC = ("number",)


@dataclass
class TagStats:
    id: str
    name_zh: str
    value_type: str
    coverage: float
    null_rate: float
    distinct: int
    top_share: float
    distribution: dict[str, Any]
    psi: float | None = None
    iv: float | None = None
    usage: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Recommendation:
    tag_id: str
    action: str  # "retire" or "review"
    reasons: tuple[str, ...]


@dataclass
class GovernanceReport:
    entity: str
    as_of: dt.date
    previous: dt.date | None
    target: str | None
    rows: int
    tags: list[TagStats]
    redundant_pairs: list[tuple[str, str, float]]
    recommendations: list[Recommendation]


# ------------------------------------------------------------------ usage
def usage_index(tag_ids: list[str], roots: list[Path] | None = None) -> dict[str, list[str]]:
    """Which catalogue files (segments, models, campaigns, playbooks, …) mention each tag id as a word.

    ``roots`` default: every folder of ``kequn/catalog`` except the tag catalogue itself.
    """
    if roots is None:
        base = CATALOG_DIR.parent
        roots = [p for p in base.iterdir() if p.is_dir() and p.name != "tags"] if base.exists() else []
    found: dict[str, list[str]] = {t: [] for t in tag_ids}
    patterns = {t: re.compile(rf"(?<![A-Za-z0-9_]){re.escape(t)}(?![A-Za-z0-9_])") for t in tag_ids}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.suffix not in (".yaml", ".yml", ".json", ".toml", ".txt", ".sql"):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for t, pat in patterns.items():
                if pat.search(text):
                    found[t].append(f"{root.name}/{path.relative_to(root)}")
    return found


# ------------------------------------------------------------------ per-tag statistics
def _value_key(col: ir.Value, spec: TagSpec) -> ir.StringValue:
    return col.cast("string") if spec.value_type not in NUMERIC else col.cast("float64").cast("string")


def _top_values(t: ir.Table, tag: str, n: int = 5) -> list[tuple[Any, int]]:
    c = t[tag]
    df = t.filter(c.notnull()).group_by(v=c).aggregate(n=c.count()).order_by(ibis.desc("n"), "v").limit(n).execute()
    return [(v, int(k)) for v, k in zip(df["v"], df["n"], strict=True)]


def _numeric_summary(t: ir.Table, tags: list[str]) -> dict[str, dict[str, float | None]]:
    if not tags:
        return {}
    aggs: dict[str, ir.Value] = {}
    for i, tag in enumerate(tags):
        x = t[tag].cast("float64")
        aggs.update({f"min{i}": x.min(), f"max{i}": x.max(), f"mean{i}": x.mean(),
                     **{f"q{q}_{i}": x.quantile(q / 100) for q in (10, 25, 50, 75, 90)}})
    row = t.aggregate(**aggs).execute().iloc[0]

    def f(v: Any) -> float | None:
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4)

    return {tag: {"min": f(row[f"min{i}"]), "p25": f(row[f"q25_{i}"]), "median": f(row[f"q50_{i}"]),
                  "p75": f(row[f"q75_{i}"]), "max": f(row[f"max{i}"]), "mean": f(row[f"mean{i}"]),
                  "deciles": [f(row[f"q{q}_{i}"]) for q in (10, 25, 50, 75, 90)]}
            for i, tag in enumerate(tags)}


def _counts(t: ir.Table, tags: list[str]) -> dict[str, tuple[int, int, int]]:
    """(rows, non-null, distinct) per tag in one scan."""
    aggs: dict[str, ir.Value] = {"_rows": t.count()}
    for i, tag in enumerate(tags):
        aggs[f"nn{i}"] = t[tag].count()
        aggs[f"nd{i}"] = t[tag].nunique()
    row = t.aggregate(**aggs).execute().iloc[0]
    return {tag: (int(row["_rows"]), int(row[f"nn{i}"]), int(row[f"nd{i}"])) for i, tag in enumerate(tags)}


# ------------------------------------------------------------------ bins, PSI, IV
def _bin_expr(t: ir.Table, tag: str, spec: TagSpec, edges: list[float] | None) -> ir.StringValue:
    c = t[tag]
    if spec.value_type in NUMERIC and edges:
        x = c.cast("float64")
        cases = [(x <= e, f"b{i:02d}") for i, e in enumerate(edges)]
        return ibis.ifelse(c.isnull(), "null", ibis.cases(*cases, else_=f"b{len(edges):02d}"))
    return c.cast("string").fill_null("null")


def _edges(t: ir.Table, tag: str) -> list[float]:
    x = t[tag].cast("float64")
    row = t.aggregate(**{f"q{q}": x.quantile(q / 10) for q in range(1, 10)}).execute().iloc[0]
    vals = [float(v) for v in row if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sorted(set(vals))


def _shares(t: ir.Table, b: ir.StringValue) -> dict[str, float]:
    df = t.group_by(bin=b).aggregate(n=t.count()).execute()
    total = float(df["n"].sum()) or 1.0
    return {str(k): float(v) / total for k, v in zip(df["bin"], df["n"], strict=True)}


def psi(expected: Mapping[str, float], actual: Mapping[str, float]) -> float:
    """Population stability index Σ (a − e) · ln(a / e) over the union of bins (ε for empty bins)."""
    total = 0.0
    for k in set(expected) | set(actual):
        e, a = max(expected.get(k, 0.0), EPS), max(actual.get(k, 0.0), EPS)
        total += (a - e) * math.log(a / e)
    return round(total, 4)


def information_value(good: Mapping[str, float], bad: Mapping[str, float]) -> float:
    """IV = Σ (g_i − b_i) · ln(g_i / b_i) over bins, with g/b the shares of target=1 / target=0 (counts
    smoothed by 0.5 so an empty bin does not give infinity)."""
    keys = set(good) | set(bad)
    gn = sum(good.values()) + 0.5 * len(keys)
    bn = sum(bad.values()) + 0.5 * len(keys)
    iv = 0.0
    for k in keys:
        g = (good.get(k, 0.0) + 0.5) / gn
        b = (bad.get(k, 0.0) + 0.5) / bn
        iv += (g - b) * math.log(g / b)
    return round(iv, 4)


def _target_expr(t: ir.Table, target: str, specs: Mapping[str, TagSpec]) -> tuple[ir.BooleanValue, str]:
    if target not in t.columns:
        raise ValidationError(f"target {target!r} is not a column of the profile; choose a tag such as overdue_flag")
    col = t[target]
    if col.type().is_boolean():
        return col, f"{target} is true"
    if col.type().is_numeric():
        med = t.aggregate(m=col.cast("float64").median()).execute()["m"].iloc[0]
        return col.cast("float64") > float(med), f"{target} > its median {float(med):g}"
    raise ValidationError(f"target {target!r} must be a flag or a number (a number is split at its median)")


def _iv(t: ir.Table, tag: str, spec: TagSpec, y: ir.BooleanValue, edges: list[float] | None) -> float:
    b = _bin_expr(t, tag, spec, edges)
    df = t.filter(y.notnull()).group_by(bin=b).aggregate(g=y.cast("int64").sum(), n=t.count()).execute()
    good = {str(k): float(g) for k, g in zip(df["bin"], df["g"], strict=True)}
    bad = {str(k): float(n - g) for k, g, n in zip(df["bin"], df["g"], df["n"], strict=True)}
    return information_value(good, bad)


def redundant_pairs(t: ir.Table, tags: list[str], threshold: float = REDUNDANT_R) -> list[tuple[str, str, float]]:
    """Pairs of numeric tags with |Pearson r| ≥ ``threshold`` (one aggregate query)."""
    pairs = [(a, b) for i, a in enumerate(tags) for b in tags[i + 1:]]
    if not pairs:
        return []
    aggs = {f"r{i}": t[a].cast("float64").corr(t[b].cast("float64")) for i, (a, b) in enumerate(pairs)}
    row = t.aggregate(**aggs).execute().iloc[0]
    out = []
    for i, (a, b) in enumerate(pairs):
        r = row[f"r{i}"]
        if r is not None and not math.isnan(r) and abs(r) >= threshold:
            out.append((a, b, round(float(r), 4)))
    return sorted(out, key=lambda p: -abs(p[2]))


# ------------------------------------------------------------------ the report
def _stats(t: ir.Table, specs: Mapping[str, TagSpec], prev: ir.Table | None) -> list[TagStats]:
    tags = [i for i in specs if i in t.columns]
    numeric = [i for i in tags if specs[i].value_type in NUMERIC]
    counts = _counts(t, tags)
    summary = _numeric_summary(t, numeric)
    out = []
    for tag in tags:
        spec = specs[tag]
        rows, nonnull, distinct = counts[tag]
        top = _top_values(t, tag)
        coverage = nonnull / rows if rows else 0.0
        dist = summary.get(tag) or {"top": [(str(spec.label(v)), round(n / rows, 4)) for v, n in top]}
        s = TagStats(tag, spec.name_zh, spec.value_type, round(coverage, 4), round(1 - coverage, 4), distinct,
                     round(top[0][1] / rows, 4) if top and rows else 0.0, dist)
        if prev is not None and tag in prev.columns and rows:
            edges = _edges(prev, tag) if spec.value_type in NUMERIC else None
            s.psi = psi(_shares(prev, _bin_expr(prev, tag, spec, edges)), _shares(t, _bin_expr(t, tag, spec, edges)))
        out.append(s)
    return out


def _recommend(stats: list[TagStats], specs: Mapping[str, TagSpec], pairs: list[tuple[str, str, float]],
               target: str | None) -> list[Recommendation]:
    reasons: dict[str, list[str]] = {s.id: [] for s in stats}
    review: dict[str, list[str]] = {s.id: [] for s in stats}
    by_id = {s.id: s for s in stats}
    order = list(specs)
    for s in stats:
        if specs[s.id].refresh == "on_model_run" and s.coverage == 0:
            continue  # a model-score slot waiting for its model
        if s.coverage < MIN_COVERAGE:
            reasons[s.id].append(f"覆盖率 {s.coverage:.1%} < {MIN_COVERAGE:.0%} (coverage too low)")
        elif s.top_share >= MAX_TOP_SHARE:
            reasons[s.id].append(f"单一取值占 {s.top_share:.1%} (one value dominates, no discrimination)")
        if target and s.iv is not None and s.iv < MIN_IV and not s.usage and s.id != target:
            reasons[s.id].append(f"对 {target} 的信息值 IV={s.iv} < {MIN_IV} 且未被引用 (weak and unused)")
        if s.psi is not None and s.psi >= PSI_ALERT:
            review[s.id].append(f"PSI={s.psi} ≥ {PSI_ALERT}: 分布漂移 (distribution drifted; check the source)")
    for a, b, r in pairs:
        # keep the tag that is used more, then the one declared first; recommend retiring the other
        keep, drop = sorted((a, b), key=lambda i: (-len(by_id[i].usage), order.index(i)))
        reasons[drop].append(f"与 {keep} 高度相关 r={r} (redundant with {keep})")
    out = [Recommendation(i, "retire", tuple(r)) for i, r in reasons.items() if r]
    out += [Recommendation(i, "review", tuple(r)) for i, r in review.items() if r and not reasons[i]]
    return out


def report(wh: Any, entity: str, specs: Mapping[str, TagSpec], *, as_of: dt.date | None = None,
           target: str | None = None, usage_roots: list[Path] | None = None) -> GovernanceReport:
    """Measure every tag of ``entity`` on the snapshot ``as_of`` (default: the latest) and recommend."""
    dates = computed_dates(wh, entity)
    if not dates:
        raise ValidationError(f"no {entity} snapshot yet: run `kequn tags compute --as-of DATE` first")
    as_of = as_of or dates[-1]
    t = read_snapshot(wh, entity, as_of)
    earlier = [d for d in dates if d < as_of]
    prev = read_snapshot(wh, entity, earlier[-1]) if earlier else None
    ent_specs = {i: s for i, s in specs.items() if s.entity == entity and i in t.columns}
    stats = _stats(t, ent_specs, prev)
    used = usage_index(list(ent_specs), usage_roots)
    for s in stats:
        s.usage = used.get(s.id, [])
    if target:
        y, _ = _target_expr(t, target, specs)
        for s in stats:
            if s.id != target:
                spec = ent_specs[s.id]
                s.iv = _iv(t, s.id, spec, y, _edges(t, s.id) if spec.value_type in NUMERIC else None)
    numeric = [s.id for s in stats if s.value_type in NUMERIC and s.coverage > 0 and s.distinct > 1]
    pairs = redundant_pairs(t, numeric)
    rows = int(t.count().execute())
    return GovernanceReport(entity, as_of, earlier[-1] if earlier else None, target, rows, stats, pairs,
                            _recommend(stats, ent_specs, pairs, target))
