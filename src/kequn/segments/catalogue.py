"""The rule checker's view of the tags: which tags each entity has and each one's value type.

Sources, merged in this order (later ones fill gaps, never override):

1. the governed tag catalogue of :mod:`kequn.tags.catalog` (when it is installed and valid);
2. the columns of the profile tables ``profile_customer`` / ``profile_enterprise`` / ``profile_merchant``
   in the warehouse (the types of what was actually computed);
3. the non-personal columns of the canonical party tables (``enterprise.industry``, ``merchant.mcc`` …), so
   ``employer.industry == "制造业"`` works even before an enterprise profile was computed.

A ``band`` tag holding labels is ordered by the order of its ``values`` in the tag catalogue (low → high),
so ``aum_tier >= "gold"`` means gold, wealth or private; a band whose profile column holds numbers
compares like a number.
"""

from __future__ import annotations

from typing import Any

from kequn.segments.rules import ENTITIES, ENTITY_KEYS, Catalogue, TagSpec

#: canonical columns that must never become rule attributes (ids, dates, personal data)
_SKIP_TYPES = ("date", "timestamp")


def profile_table_name(entity: str) -> str:
    return f"profile_{entity}"


def _kind_of_dtype(dtype: Any) -> str | None:
    if dtype.is_boolean():
        return "flag"
    if dtype.is_numeric():
        return "number"
    if dtype.is_string():
        return "category"
    if dtype.is_array():
        return "list"
    return None


def from_tag_catalog() -> list[TagSpec]:
    """The governed tags of :mod:`kequn.tags` (empty when the tag system is not available)."""
    try:
        from kequn.tags.catalog import default_catalog

        specs = default_catalog()
    except Exception:  # noqa: BLE001 - the tag system is optional here: fall back to the schema
        return []
    return [TagSpec(s.id, s.entity, s.value_type, s.name_zh,
                    levels=tuple(s.values) if s.value_type == "band" and s.values else (),
                    codes=tuple(s.values) if s.value_type == "category" and s.values else ())
            for s in specs.values()]


def canonical_specs() -> list[TagSpec]:
    """Non-personal attribute columns of the canonical party tables, as category/number/flag tags."""
    from kequn.domain.datamodel import table

    out = []
    for entity in ENTITIES:
        for c in table(entity).columns:
            if c.pi or c.type in _SKIP_TYPES or c.name == ENTITY_KEYS[entity] or c.name.endswith("_id"):
                continue
            kind = {"boolean": "flag", "string": "category"}.get(c.type, "number")
            out.append(TagSpec(c.name, entity, kind, c.description, codes=c.enum or ()))
    return out


def schema_specs(wh: Any) -> list[TagSpec]:
    """The columns of the profile tables present in the warehouse, typed from their schema."""
    out = []
    for entity in ENTITIES:
        name = profile_table_name(entity)
        if not wh.has_table(name):
            continue
        for col, dtype in wh.table(name).schema().items():
            kind = _kind_of_dtype(dtype)
            if kind and col not in (ENTITY_KEYS[entity], "as_of"):
                out.append(TagSpec(col, entity, kind))
    return out


def merge(*sources: list[TagSpec], column_kinds: dict[tuple[str, str], str] | None = None) -> Catalogue:
    """One catalogue from several sources; earlier sources win; bands take the kind of their column."""
    seen: dict[tuple[str, str], TagSpec] = {}
    for source in sources:
        for s in source:
            seen.setdefault((s.entity, s.id), s)
    kinds = column_kinds or {}
    specs = []
    for key, s in seen.items():
        if s.value_type == "band" and kinds.get(key) == "number":
            s = TagSpec(s.id, s.entity, "number", s.zh)
        elif s.value_type == "band" and not s.levels:
            s = TagSpec(s.id, s.entity, "category", s.zh)
        elif s.value_type == "band" and kinds.get(key) not in (None, "category"):
            s = TagSpec(s.id, s.entity, kinds[key], s.zh)
        specs.append(s)
    return Catalogue.of(specs)


def load(wh: Any | None = None) -> Catalogue:
    """The catalogue the rule checker uses: tag catalogue + profile schemas + canonical attributes."""
    schema = schema_specs(wh) if wh is not None else []
    kinds = {(s.entity, s.id): s.value_type for s in schema}
    return merge(from_tag_catalog(), schema, canonical_specs(), column_kinds=kinds)
