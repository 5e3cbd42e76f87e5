"""Evaluating a rule in the warehouse: the profile table as of a date, widened with what the rule reads.

The table a rule runs on is the entity's profile as of the date (``profile_<entity>``, one wide row per
entity), left-joined with the non-personal columns of the canonical party table it lacks, and — for each
related entity the rule names (``employer.industry``) — the related entity's attributes under the column
``<relation>__<tag>``. Everything is one Ibis expression; nothing is pulled into Python.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kequn.errors import NotFoundError, SegmentError
from kequn.segments.catalogue import canonical_specs, profile_table_name
from kequn.segments.lang import Node, refs
from kequn.segments.rules import (
    ENTITY_KEYS,
    Catalogue,
    Relation,
    band_levels,
    column_name,
    members,
    relations_used,
)


def profile(wh: Any, entity: str, as_of: dt.date | None) -> Any | None:
    """The profile rows of ``entity`` as of ``as_of`` — the latest tag snapshot on or before that day
    (``tag_snapshot_<entity>``), or the current ``profile_<entity>`` without a date — or None."""
    import ibis

    snap_name, name = f"tag_snapshot_{entity}", profile_table_name(entity)
    if as_of is not None and wh.has_table(snap_name):
        s = wh.table(snap_name)
        day = s.filter(s.as_of <= ibis.date(as_of)).as_of.max().execute()
        if day is None or str(day) in ("NaT", "nan", "None"):
            return None
        return s.filter(s.as_of == ibis.date(dt.date.fromisoformat(str(day)[:10]))).drop("as_of")
    if not wh.has_table(name):
        return None
    t = wh.table(name)
    return t.drop("as_of") if "as_of" in t.columns else t


def _canonical(wh: Any, entity: str, as_of: dt.date | None) -> Any:
    import ibis

    t = wh.table(entity)
    if as_of is not None and "onboarded_on" in t.columns:
        t = t.filter(t.onboarded_on <= ibis.date(as_of))
    return t


def entity_table(wh: Any, entity: str, as_of: dt.date | None, wanted: set[str] | None = None) -> Any:
    """Profile of ``entity`` plus the canonical attributes among ``wanted`` it lacks (all when None),
    one row per entity known as of the date."""
    key = ENTITY_KEYS[entity]
    prof = profile(wh, entity, as_of)
    canon_cols = [s.id for s in canonical_specs() if s.entity == entity and (wanted is None or s.id in wanted)]
    if not wh.has_table(entity):
        if prof is None:
            raise NotFoundError(f"neither {profile_table_name(entity)} nor {entity} is in the warehouse; "
                                "run `kequn init` and load data")
        return prof
    if prof is None:
        canon = _canonical(wh, entity, as_of)
        return canon.select(key, *canon_cols)
    missing = [c for c in canon_cols if c not in prof.columns]
    if not missing:
        return prof
    canon = _canonical(wh, entity, as_of)
    extra = canon.select(key, *missing)
    return prof.left_join(extra, prof[key] == extra[key]).select(prof, *[extra[c] for c in missing])


#: the customer tag that *is* the ``employer.`` relation (代发单位): one definition for both
EMPLOYER_TAG = "payroll_employer"


def _payroll_employer(wh: Any, base: Any, as_of: dt.date | None) -> Any:
    """(customer_id, _target): the ``employer.`` relation is the ``payroll_employer`` tag — read from the
    profile the rule runs on when it holds the tag, else computed live by the tag engine's own registered
    expression as of the same date (the same code), so rule and tag can never disagree."""
    if EMPLOYER_TAG in base.columns:
        return base.select("customer_id", _target=base[EMPLOYER_TAG])
    from kequn.tags.build import profile_expr
    from kequn.tags.model import Tables

    live = profile_expr("customer", Tables(wh), as_of or dt.date.today(), [EMPLOYER_TAG])
    return live.select("customer_id", _target=live[EMPLOYER_TAG])


def _links(wh: Any, rel: Relation, base: Any, as_of: dt.date | None) -> tuple[Any, str]:
    """A table (source key, target id) for ``rel`` and the name of its target-id column."""
    key = ENTITY_KEYS[rel.from_entity]
    if rel.name == "employer":
        return _payroll_employer(wh, base, as_of), "_target"
    column = {"owner": "owner_customer_id", "enterprise": "enterprise_id"}[rel.name]
    src = base if column in base.columns else _canonical(wh, rel.from_entity, as_of)
    return src.select(key, column).rename(_target=column), "_target"


def prepared(wh: Any, entity: str, node: Node, catalogue: Catalogue, as_of: dt.date | None) -> Any:
    """The table the rule runs on (see the module doc); SegmentError when a tag was never computed."""
    key = ENTITY_KEYS[entity]
    own = {column_name(r) for r in refs(node) if not r.relation}
    base = entity_table(wh, entity, as_of, own | {"owner_customer_id", "enterprise_id"})
    for name, tag_ids in sorted(relations_used(node).items()):
        rel = catalogue.relation(entity, name)
        assert rel is not None  # checked before
        links, target_col = _links(wh, rel, base, as_of)
        target = entity_table(wh, rel.to_entity, as_of, set(tag_ids))
        tkey = ENTITY_KEYS[rel.to_entity]
        _require(target, sorted(tag_ids), f"{name} ({rel.to_entity})", as_of)
        attrs = target.select(tkey, *[target[t].name(f"{name}__{t}") for t in sorted(tag_ids)])
        linked = links.left_join(attrs, links[target_col] == attrs[tkey]).select(
            links[key].name("_src"), *[attrs[f"{name}__{t}"] for t in sorted(tag_ids)])
        base = base.left_join(linked, base[key] == linked["_src"]).drop("_src")
    _require(base, sorted(own), entity, as_of)
    return base


def _require(table: Any, columns: list[str], what: str, as_of: dt.date | None) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        when = f" as of {as_of}" if as_of else ""
        raise SegmentError(f"tag(s) {', '.join(missing)} of {what} have not been computed{when}; "
                           "run `kequn tags compute --as-of DATE` first")


def rule_members(wh: Any, entity: str, node: Node, catalogue: Catalogue, as_of: dt.date | None) -> Any:
    """The ids (column ``entity_id``) of the entities for which the rule is TRUE as of the date."""
    key = ENTITY_KEYS[entity]
    table = prepared(wh, entity, node, catalogue, as_of)
    return members(node, table, key, band_levels(node, catalogue, entity)).rename(entity_id=key)
