"""Assemble tag expressions into one wide profile expression per entity (one row per entity).

Each source group becomes one aggregation (``GROUP BY key``) holding all its tags; the aggregations are
left-joined onto the entity's base row, empty groups are filled (0 for sums and counts, false for flags),
then derived tags are computed on the wide row. The whole core set of an entity is one Ibis expression.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

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


def _aggregate(group: str, defs: list[TagDef], tables: Tables, a: AsOf) -> ir.Table | None:
    src = GROUPS[group].source(tables, a)
    if src is None:
        return None
    return src.group_by(_k=src.key).aggregate(**{d.id: d.expr(src, a) for d in defs})


def _join_groups(wide: ir.Table, by_group: dict[str, list[TagDef]], tables: Tables, a: AsOf) -> ir.Table:
    """Left-join every group's aggregation onto the base row in one join chain."""
    nulls: dict[str, ir.Value] = {}
    joined = wide
    picks: list[ir.Value] = []
    for group, gdefs in by_group.items():
        agg = _aggregate(group, gdefs, tables, a)
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


def profile_expr(entity: Entity, tables: Tables, as_of: dt.date, tag_ids: Iterable[str] | None = None) -> ir.Table:
    """The wide profile of ``entity`` as of ``as_of``: its key column plus one column per tag in ``tag_ids``
    (default: every public tag of the entity), computed from data known on that day."""
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
    wide = _join_groups(wide, by_group, tables, a)
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
