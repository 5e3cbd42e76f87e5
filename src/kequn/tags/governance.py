"""Tag governance (标签治理) — the "3,000 → 50" discipline: measure every tag and recommend which to retire.

Per tag, on a snapshot: coverage and null rate, distribution (quantiles or top values), share of the most
frequent value, PSI drift against the previous snapshot, information value (IV) against a chosen target,
usage (which segment / campaign / playbook catalogues mention it, and which registered models use it as a
feature — the caller passes those, see ``features_usage``), and redundant pairs
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
MIN_PAIR_ROWS = 30  # fewer paired values make a correlation meaningless
CORR_SAMPLE = 100_000
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
def features_usage(tag_ids: list[str], models: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Which models use each tag as a feature: ``models`` maps a model's label to its feature names (a tag
    is used as itself or through its changes, ``<tag>_chg_1m`` / ``<tag>_prev_3m``)."""
    found: dict[str, list[str]] = {t: [] for t in tag_ids}
    for label, features in models.items():
        for t in tag_ids:
            if any(f == t or f.startswith((f"{t}_chg_", f"{t}_prev_")) for f in features):
                found[t].append(label)
    return found


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


# ------------------------------------------------------------------ batched scans
def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4)


QS = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9)


def _numeric_summary(t: ir.Table, tags: list[str]) -> dict[str, dict[str, Any]]:
    """min / quartiles / max / mean and the deciles (bin edges) of every numeric tag, in one query."""
    if not tags:
        return {}
    aggs: dict[str, ir.Value] = {}
    for i, tag in enumerate(tags):
        x = t[tag].cast("float64")
        aggs.update({f"min{i}": x.min(), f"max{i}": x.max(), f"mean{i}": x.mean(), f"q{i}": x.quantile(list(QS))})
    row = t.aggregate(**aggs).execute().iloc[0]
    out = {}
    for i, tag in enumerate(tags):
        qs = dict(zip(QS, row[f"q{i}"], strict=True)) if row[f"q{i}"] is not None else dict.fromkeys(QS)
        deciles = [_num(qs[q]) for q in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)]
        out[tag] = {"min": _num(row[f"min{i}"]), "p25": _num(qs[0.25]), "median": _num(qs[0.5]),
                    "p75": _num(qs[0.75]), "max": _num(row[f"max{i}"]), "mean": _num(row[f"mean{i}"]),
                    "edges": sorted({d for d in deciles if d is not None})}
    return out


def _counts(t: ir.Table, tags: list[str]) -> dict[str, tuple[int, int, int]]:
    """(rows, non-null, distinct) per tag in one scan."""
    aggs: dict[str, ir.Value] = {"_rows": t.count()}
    for i, tag in enumerate(tags):
        aggs[f"nn{i}"] = t[tag].count()
        aggs[f"nd{i}"] = t[tag].nunique()
    row = t.aggregate(**aggs).execute().iloc[0]
    return {tag: (int(row["_rows"]), int(row[f"nn{i}"]), int(row[f"nd{i}"])) for i, tag in enumerate(tags)}


def _bin_expr(c: ir.Value, edges: list[float] | None) -> ir.StringValue:
    """A tag's bin: for numbers, which decile interval (by ``edges``); else the value itself."""
    if edges is not None:
        x = c.cast("float64")
        cases = [(x <= e, f"b{i:02d}") for i, e in enumerate(edges)]
        binned = ibis.cases(*cases, else_=f"b{len(edges):02d}") if cases else ibis.literal("b00")
        return ibis.ifelse(c.isnull(), "null", binned)
    return c.cast("string").fill_null("null")


def _bin_counts(t: ir.Table, tags: list[str], edges: Mapping[str, list[float]], y: ir.BooleanValue | None = None
                ) -> dict[str, dict[str, tuple[float, float]]]:
    """{tag: {bin: (rows, rows with target true)}} for every tag in one query (unpivoted)."""
    if not tags:
        return {}
    cols = {f"c{i}": _bin_expr(t[tag], edges.get(tag)) for i, tag in enumerate(tags)}
    w = t.select(_y=(y.cast("int64") if y is not None else ibis.literal(0)), **cols)  # NULL target stays NULL
    if y is not None:
        w = w.filter(w._y.notnull())
    long = w.pivot_longer(list(cols), names_to="tag", values_to="bin")
    df = long.group_by("tag", "bin").aggregate(n=long.count(), g=long._y.sum()).execute()
    out: dict[str, dict[str, tuple[float, float]]] = {tag: {} for tag in tags}
    for c, b, n, g in zip(df["tag"], df["bin"], df["n"], df["g"], strict=True):
        out[tags[int(re.sub(r"\D", "", str(c)))]][str(b)] = (float(n), float(g or 0))  # PG quotes names
    return out


def _numeric_tops(t: ir.Table, tags: list[str]) -> dict[str, float]:
    """How many entities hold each numeric tag's most frequent (non-null) value — one query."""
    if not tags:
        return {}
    parts = []
    for i, tag in enumerate(tags):
        f = t.filter(t[tag].notnull())
        g = f.group_by(v=f[tag].cast("float64")).aggregate(n=f.count())
        parts.append(g.order_by([ibis.desc("n"), "v"]).limit(1).select(i=ibis.literal(i), n=g.n))
    df = ibis.union(*parts).execute()
    return {tags[int(i)]: float(n) for i, n in zip(df["i"], df["n"], strict=True)}


def _shares(bins: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    total = sum(n for n, _ in bins.values()) or 1.0
    return {k: n / total for k, (n, _) in bins.items()}


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
        y, desc = col, f"{target} is true"
    elif col.type().is_numeric():
        med = t.aggregate(m=col.cast("float64").median()).execute()["m"].iloc[0]
        if med is None or med != med:
            raise ValidationError(f"target {target!r} has no values in this snapshot (a model score is filled "
                                  "once the model has scored: `kequn models score NAME`); choose another target")
        y, desc = col.cast("float64") > float(med), f"{target} > its median {float(med):g}"
    else:
        raise ValidationError(f"target {target!r} must be a flag or a number (a number is split at its median)")
    n = t.aggregate(n=y.count(), pos=y.cast("int64").sum()).execute()
    rows, pos = int(n["n"].iloc[0]), n["pos"].iloc[0]
    pos = 0 if pos is None or pos != pos else int(pos)
    if rows == 0:
        raise ValidationError(f"target {target!r} has no values in this snapshot; choose another target")
    if pos in (0, rows):
        raise ValidationError(f"target {target!r} takes one value only in this snapshot ({desc}: {pos} of {rows}); "
                              "information value needs both outcomes — choose another target")
    return y, desc


def redundant_pairs(t: ir.Table, tags: list[str], threshold: float = REDUNDANT_R, min_rows: int = MIN_PAIR_ROWS,
                    sample_rows: int = CORR_SAMPLE) -> list[tuple[str, str, float]]:
    """Pairs of numeric tags with |Pearson r| ≥ ``threshold`` over at least ``min_rows`` entities where
    both are present. Computed on a random sample of at most ``sample_rows`` entities (pairwise
    complete): a few hundred pairs of exact ``corr`` aggregates cost far more than reading a sample, and a
    sample of 100,000 estimates r to about ±0.003."""
    if len(tags) < 2:
        return []
    rows = int(t.count().execute())
    sub = t.select(*tags)
    if rows > sample_rows:
        sub = sub.sample(sample_rows / rows, seed=42)
    df = sub.to_pyarrow().to_pandas().astype("float64")
    r = df.corr(min_periods=min_rows)
    out = []
    for i, a in enumerate(tags):
        for b in tags[i + 1:]:
            v = r.loc[a, b]
            if not math.isnan(v) and abs(v) >= threshold:
                out.append((a, b, round(float(v), 4)))
    return sorted(out, key=lambda p: -abs(p[2]))


# ------------------------------------------------------------------ the report
def _stats(t: ir.Table, specs: Mapping[str, TagSpec], prev: ir.Table | None,
           y: ir.BooleanValue | None) -> list[TagStats]:
    tags = [i for i in specs if i in t.columns]
    numeric = [i for i in tags if specs[i].value_type in NUMERIC]
    counts = _counts(t, tags)
    summary = _numeric_summary(t, numeric)
    # raw value counts of the coded tags; for numeric tags only their most frequent value (a value count
    # of a million distinct balances would cost 30× the rest of the report)
    values = _bin_counts(t, [i for i in tags if i not in numeric], {}, None)
    tops = _numeric_tops(t, numeric)
    drift: dict[str, float] = {}
    if prev is not None:
        common = [i for i in tags if i in prev.columns]
        prev_edges = {k: v["edges"] for k, v in _numeric_summary(prev, [i for i in numeric if i in common]).items()}
        before, after = _bin_counts(prev, common, prev_edges), _bin_counts(t, common, prev_edges)
        drift = {i: psi(_shares(before[i]), _shares(after[i])) for i in common}
    ivs: dict[str, float] = {}
    if y is not None:
        binned = _bin_counts(t, tags, {k: v["edges"] for k, v in summary.items()}, y)
        ivs = {i: information_value({k: g for k, (n, g) in b.items()}, {k: n - g for k, (n, g) in b.items()})
               for i, b in binned.items()}
    out = []
    for tag in tags:
        spec = specs[tag]
        rows, nonnull, distinct = counts[tag]
        top = sorted(((k, n) for k, (n, _) in values.get(tag, {}).items() if k != "null"),
                     key=lambda kv: (-kv[1], kv[0]))
        top_n = tops.get(tag, 0.0) if tag in numeric else (top[0][1] if top else 0.0)
        coverage = nonnull / rows if rows else 0.0
        dist: dict[str, Any] = ({k: v for k, v in summary[tag].items() if k != "edges"} if tag in summary
                                else {"top": [(str(spec.label(v)), round(n / rows, 4)) for v, n in top[:5]]})
        out.append(TagStats(tag, spec.name_zh, spec.value_type, round(coverage, 4), round(1 - coverage, 4), distinct,
                            round(top_n / rows, 4) if rows else 0.0, dist, drift.get(tag), ivs.get(tag)))
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
    dropped: set[str] = set()
    for a, b, r in pairs:  # strongest first; never retire both tags of a pair
        if a in dropped or b in dropped:
            continue
        # keep the tag that is used more, then the one declared first; recommend retiring the other
        keep, drop = sorted((a, b), key=lambda i: (-len(by_id[i].usage), order.index(i)))
        reasons[drop].append(f"与 {keep} 高度相关 r={r} (redundant with {keep})")
        dropped.add(drop)
    out = [Recommendation(i, "retire", tuple(r)) for i, r in reasons.items() if r]
    out += [Recommendation(i, "review", tuple(r)) for i, r in review.items() if r and not reasons[i]]
    return out


def report(wh: Any, entity: str, specs: Mapping[str, TagSpec], *, as_of: dt.date | None = None,
           target: str | None = None, usage_roots: list[Path] | None = None,
           model_usage: Mapping[str, list[str]] | None = None) -> GovernanceReport:
    """Measure every tag of ``entity`` on the snapshot ``as_of`` (default: the latest) and recommend."""
    dates = computed_dates(wh, entity)
    if not dates:
        raise ValidationError(f"no {entity} snapshot yet: run `kequn tags compute --as-of DATE` first")
    as_of = as_of or dates[-1]
    t = read_snapshot(wh, entity, as_of)
    earlier = [d for d in dates if d < as_of]
    prev = read_snapshot(wh, entity, earlier[-1]) if earlier else None
    ent_specs = {i: s for i, s in specs.items() if s.entity == entity and i in t.columns}
    y = _target_expr(t, target, specs)[0] if target else None
    stats = _stats(t, ent_specs, prev, y)
    used = usage_index(list(ent_specs), usage_roots)
    for s in stats:
        s.usage = used.get(s.id, []) + list((model_usage or {}).get(s.id, []))
        if s.id == target:
            s.iv = None  # a tag says everything about itself
    numeric = [s.id for s in stats if s.value_type in NUMERIC and s.coverage > 0 and s.distinct > 1]
    pairs = redundant_pairs(t, numeric)
    rows = int(t.count().execute())
    return GovernanceReport(entity, as_of, earlier[-1] if earlier else None, target, rows, stats, pairs,
                            _recommend(stats, ent_specs, pairs, target))
