"""Assemble tag expressions into one wide profile expression per entity (one row per entity).

Each source group becomes one aggregation (``GROUP BY key``) holding all its tags; the aggregations are
left-joined onto the entity's base row, empty groups are filled (0 for sums and counts, false for flags),
then derived tags are computed on the wide row. The whole core set of an entity is one Ibis expression.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import ibis
import ibis.expr.types as ir

from kequn.errors import NotFoundError
from kequn.tags.model import ENTITY_KEYS, AsOf, Entity, Tables, TagDef
from kequn.tags.registry import BASES, GROUPS, REGISTRY, closure, public_ids


def _check_ids(entity: str, ids: Iterable[str]) -> list[str]:
    ids = list(ids)
    bad = [i for i in ids if i not in REGISTRY or REGISTRY[i].entity != entity]
    if bad:
        raise NotFoundError(f"no {entity} tag(s) {', '.join(bad)} in the registry")
    return ids


def _aggregate(group: str, defs: list[TagDef], tables: Tables, a: AsOf,
               sources: Mapping[str, ir.Table]) -> ir.Table | None:
    src = sources[group] if group in sources else GROUPS[group].source(tables, a)
    if src is None:
        return None
    return src.group_by(_k=src.key).aggregate(**{d.id: d.expr(src, a) for d in defs})


def _join_groups(wide: ir.Table, by_group: dict[str, list[TagDef]], tables: Tables, a: AsOf,
                 sources: Mapping[str, ir.Table]) -> ir.Table:
    """Left-join every group's aggregation onto the base row in one join chain."""
    nulls: dict[str, ir.Value] = {}
    joined = wide
    picks: list[ir.Value] = []
    for group, gdefs in by_group.items():
        agg = _aggregate(group, gdefs, tables, a, sources)
        if agg is None:
            nulls.update({d.id: ibis.null("float64") for d in gdefs})
            continue
        agg = agg.rename({f"_k_{group}": "_k"})
        joined = joined.left_join(agg, wide.key == agg[f"_k_{group}"])
        picks += [agg[d.id] for d in gdefs]
    if joined is not wide:
        wide = joined.select(*[wide[c] for c in wide.columns], *picks)
    return wide.mutate(**nulls) if nulls else wide


def _derived_layers(defs: list[TagDef]) -> list[list[TagDef]]:
    """Derived tags in layers: each layer depends only on columns present before it (fewer subqueries)."""
    ready = {d.id for d in defs if d.kind != "derived"}
    pending = [d for d in defs if d.kind == "derived"]
    layers = []
    while pending:
        layer = [d for d in pending if set(d.deps) <= ready]
        if not layer:  # pragma: no cover - closure() already rejects cycles
            raise RuntimeError(f"unresolvable derived tags: {[d.id for d in pending]}")
        layers.append(layer)
        ready |= {d.id for d in layer}
        pending = [d for d in pending if d not in layer]
    return layers


def groups_of(entity: Entity, tag_ids: Iterable[str] | None = None) -> list[str]:
    """The source groups the tags ``tag_ids`` of ``entity`` (default: every public one) aggregate over."""
    wanted = _check_ids(entity, tag_ids if tag_ids is not None else public_ids(entity))
    return list(dict.fromkeys(d.group or "" for d in closure(wanted) if d.kind == "aggregate"))


def recency_source(group: str, tables: Tables, as_of: dt.date, since: dt.date | None = None) -> ir.Table:
    """A recency group's source reduced to each key's latest time (``key``, ``ts``) as of ``as_of``; with
    ``since``, only the rows dated after ``since`` (the part an incremental run scans)."""
    a = AsOf(as_of)
    src = GROUPS[group].source(tables, a)
    if src is None:  # pragma: no cover - recency groups read canonical tables, which always exist
        raise NotFoundError(f"group {group} has no source")
    if since is not None:
        src = src.filter(src.ts >= ibis.timestamp(dt.datetime.combine(since + dt.timedelta(days=1), dt.time())))
    return src.group_by(key=src.key).aggregate(ts=src.ts.max())


def profile_expr(entity: Entity, tables: Tables, as_of: dt.date, tag_ids: Iterable[str] | None = None, *,
                 sources: Mapping[str, ir.Table] | None = None) -> ir.Table:
    """The wide profile of ``entity`` as of ``as_of``: its key column plus one column per tag in ``tag_ids``
    (default: every public tag of the entity), computed from data known on that day.

    ``sources`` replaces a group's source with a given table of the same columns (the store passes the
    per-key latest times it carried forward for recency groups)."""
    a = AsOf(as_of)
    wanted = _check_ids(entity, tag_ids if tag_ids is not None else public_ids(entity))
    defs = closure(wanted)
    key = ENTITY_KEYS[entity]
    b = BASES[entity](tables, a)
    wide = b.select(b.key, **{d.id: d.expr(b, a) for d in defs if d.kind == "row"})
    by_group: dict[str, list[TagDef]] = {}
    for d in defs:
        if d.kind == "aggregate":
            by_group.setdefault(d.group or "", []).append(d)
    wide = _join_groups(wide, by_group, tables, a, sources or {})
    fills = {d.id: wide[d.id].fill_null(d.fill) for d in defs if d.kind == "aggregate" and d.fill is not None}
    if fills:
        wide = wide.mutate(**fills)
    for layer in _derived_layers(defs):
        wide = wide.mutate(**{d.id: d.expr(wide, a) for d in layer})
    return wide.select(wide.key.name(key), *[wide[i] for i in wanted])


def explain_sql(wh: object, tag_id: str, as_of: dt.date) -> str:
    """The SQL the warehouse runs to compute ``tag_id`` alone (with what it depends on) as of ``as_of``."""
    if tag_id not in REGISTRY or not REGISTRY[tag_id].public:
        raise NotFoundError(f"no tag {tag_id!r} in the registry")
    d = REGISTRY[tag_id]
    expr = profile_expr(d.entity, Tables(wh), as_of, [tag_id])
    return str(ibis.to_sql(expr, dialect=getattr(wh, "kind", "duckdb")))
