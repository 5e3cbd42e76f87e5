"""Checking a parsed rule against the tag catalogue, and compiling it to an Ibis boolean expression.

The checker needs only a small view of the tag catalogue — which tags each entity has and the value type
of each (:class:`TagSpec`) — plus the relations that dotted names follow (``employer.industry``: a
customer's employer, an enterprise, found through the payroll relationship). :mod:`kequn.segments.catalogue`
builds that view from the tag system (or, when it is absent, from the profile table's schema).

Value types follow the tag catalogue: ``number`` and ``band`` (ordered numbers), ``flag`` (true/false),
``category`` (text), ``list`` (a list of text, tested with ``contains``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from kequn.errors import SegmentError
from kequn.segments.lang import (
    BoolOp,
    Compare,
    Contains,
    InList,
    IsNull,
    Lit,
    Node,
    Not,
    Ref,
    Truthy,
    parse,
    refs,
)

ValueType = Literal["number", "band", "flag", "category", "list"]
VALUE_TYPES: tuple[str, ...] = ("number", "band", "flag", "category", "list")
ENTITIES: tuple[str, ...] = ("customer", "enterprise", "merchant")
ENTITY_KEYS: dict[str, str] = {"customer": "customer_id", "enterprise": "enterprise_id", "merchant": "merchant_id"}


@dataclass(frozen=True)
class TagSpec:
    id: str
    entity: str
    value_type: str
    zh: str = ""
    #: ordered labels of a band held as text (low → high); empty = a numeric band
    levels: tuple[str, ...] = ()
    #: the codes a category tag takes, when the catalogue declares them (a literal must be one of them)
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Relation:
    """``name`` on ``from_entity`` leads to one ``to_entity`` (e.g. customer.employer → enterprise)."""

    name: str
    from_entity: str
    to_entity: str
    zh: str = ""


DEFAULT_RELATIONS: tuple[Relation, ...] = (
    Relation("employer", "customer", "enterprise", "代发单位"),
    Relation("owner", "merchant", "customer", "商户经营者"),
    Relation("enterprise", "merchant", "enterprise", "商户所属企业"),
)


@dataclass(frozen=True)
class Catalogue:
    """The tags of each entity and the relations between entities, as the rule checker sees them."""

    tags: Mapping[str, Mapping[str, TagSpec]]
    relations: tuple[Relation, ...] = field(default=DEFAULT_RELATIONS)

    @classmethod
    def of(cls, specs: list[TagSpec], relations: tuple[Relation, ...] = DEFAULT_RELATIONS) -> Catalogue:
        by_entity: dict[str, dict[str, TagSpec]] = {e: {} for e in ENTITIES}
        for s in specs:
            if s.value_type not in VALUE_TYPES:
                raise SegmentError(f"tag {s.id!r} has unknown value type {s.value_type!r}")
            by_entity.setdefault(s.entity, {})[s.id] = s
        return cls(by_entity, relations)

    def relation(self, entity: str, name: str) -> Relation | None:
        return next((r for r in self.relations if r.from_entity == entity and r.name == name), None)


def _kind(spec: TagSpec) -> str:
    if spec.value_type == "band":
        return "band" if spec.levels else "number"
    return spec.value_type


def value_kind(spec: TagSpec) -> str:
    """How the rule language treats a tag: number, flag, category, list or band (text levels)."""
    return _kind(spec)


def _lit_kind(value: object) -> str:
    if isinstance(value, bool):
        return "flag"
    if isinstance(value, Decimal):
        return "number"
    return "category"


_KIND_ZH = {"number": "a number", "flag": "a flag (true/false)", "category": "text", "list": "a list",
            "band": "a band"}


class _Checker:
    def __init__(self, catalogue: Catalogue, entity: str) -> None:
        self.cat = catalogue
        self.entity = entity
        self.problems: list[tuple[int, str]] = []

    def fail(self, pos: int, message: str) -> None:
        self.problems.append((pos, message))

    # -- operands
    def kind_of(self, operand: Ref | Lit) -> str | None:
        if isinstance(operand, Lit):
            return _lit_kind(operand.value)
        spec = self.resolve(operand)
        return None if spec is None else _kind(spec)

    def resolve(self, ref: Ref) -> TagSpec | None:
        entity, pos = self.entity, ref.pos
        if ref.relation is not None:
            rel = self.cat.relation(self.entity, ref.relation)
            if rel is None:
                known = [r.name for r in self.cat.relations if r.from_entity == self.entity]
                self.fail(pos, f"unknown related entity {ref.relation!r} of a {self.entity}"
                          + (f"; known: {', '.join(known)}" if known else ""))
                return None
            entity, pos = rel.to_entity, ref.name_pos
        tags = self.cat.tags.get(entity, {})
        spec = tags.get(ref.name)
        if spec is None:
            hint = difflib.get_close_matches(ref.name, list(tags), n=3)
            self.fail(pos, f"unknown tag {ref.name!r} of {entity}"
                      + (f"; did you mean {' or '.join(hint)}?" if hint else ""))
        return spec

    def describe(self, operand: Ref | Lit, kind: str) -> str:
        if isinstance(operand, Ref):
            return f"tag {operand.dotted!r} ({kind})"
        return f"the value {operand.value!s} ({_KIND_ZH[kind]})"

    # -- conditions
    def check(self, node: Node) -> None:
        method = getattr(self, f"_check_{type(node).__name__.lower()}")
        method(node)

    def _check_boolop(self, node: BoolOp) -> None:
        for part in node.operands:
            self.check(part)

    def _check_not(self, node: Not) -> None:
        self.check(node.operand)

    def _check_truthy(self, node: Truthy) -> None:
        if isinstance(node.operand, Lit):
            self.fail(node.pos, "expected a condition, found a bare value; compare a tag with it")
            return
        kind = self.kind_of(node.operand)
        if kind is not None and kind != "flag":
            example = "> 0" if kind == "number" else ('== "…"' if kind == "category" else 'contains "…"')
            self.fail(node.pos, f"tag {node.operand.dotted!r} is {_KIND_ZH[kind]}, not a flag: compare it, "
                      f"e.g. {node.operand.dotted} {example}")

    def _check_compare(self, node: Compare) -> None:
        if isinstance(node.left, Lit) and isinstance(node.right, Lit):
            self.fail(node.pos, "a comparison needs at least one tag")
            return
        lk, rk = self.kind_of(node.left), self.kind_of(node.right)
        if lk is None or rk is None:
            return
        if "band" in (lk, rk):
            self._check_band(node.left, lk, node.right, rk)
        elif "list" in (lk, rk):
            self.fail(node.pos, f"cannot use {node.op} on a list tag; use contains, e.g. tag contains \"…\"")
        elif lk != rk:
            self.fail(node.right.pos, f"cannot compare {self.describe(node.left, lk)} with "
                      f"{self.describe(node.right, rk)}")
        elif lk in ("flag", "category") and node.op not in ("==", "!="):
            self.fail(node.pos, f"cannot use {node.op} on {_KIND_ZH[lk]}; use == or != "
                      + ("(or in [...])" if lk == "category" else ""))
        elif lk == "category":
            for ref, lit in ((node.left, node.right), (node.right, node.left)):
                if isinstance(ref, Ref) and isinstance(lit, Lit):
                    self._check_code(ref, lit)

    def _check_band(self, left: Ref | Lit, lk: str, right: Ref | Lit, rk: str) -> None:
        if lk != "band" or not isinstance(left, Ref):
            self.fail(left.pos, "put the band tag on the left, e.g. aum_tier >= \"gold\"")
        elif not (isinstance(right, Lit) and rk == "category"):
            self.fail(right.pos, f"compare band {left.dotted!r} with one of its levels in quotes")
        else:
            self._check_level(left, right)

    def _check_level(self, ref: Ref, lit: Lit) -> None:
        spec = self.resolve(ref)
        if spec is not None and lit.value not in spec.levels:
            self.fail(lit.pos, f"{lit.value!s} is not a level of band {ref.dotted!r}; levels (low to high): "
                      + ", ".join(spec.levels))

    def _check_code(self, ref: Ref, lit: Lit) -> None:
        spec = self.resolve(ref)
        if spec is not None and spec.codes and lit.value not in spec.codes:
            self.fail(lit.pos, f"{lit.value!s} is not a value of {ref.dotted!r}; values: {', '.join(spec.codes)}")

    def _check_inlist(self, node: InList) -> None:
        if isinstance(node.ref, Lit):
            self.fail(node.ref.pos, "the left side of 'in' must be a tag")
            return
        kind = self.kind_of(node.ref)
        if kind is None:
            return
        if kind == "list":
            self.fail(node.pos, "cannot use 'in' on a list tag; use contains")
            return
        for v in node.values:
            vk = _lit_kind(v.value)
            if kind == "band" and vk == "category":
                self._check_level(node.ref, v)
            elif kind == "category" and vk == "category":
                self._check_code(node.ref, v)
            elif vk != kind:
                self.fail(v.pos, f"list item {v.value!s} is {_KIND_ZH[vk]} but tag {node.ref.dotted!r} "
                          f"is {_KIND_ZH[kind]}")

    def _check_contains(self, node: Contains) -> None:
        if isinstance(node.ref, Lit):
            self.fail(node.ref.pos, "the left side of 'contains' must be a list tag")
            return
        kind = self.kind_of(node.ref)
        if kind is not None and kind != "list":
            self.fail(node.pos, f"'contains' needs a list tag; {node.ref.dotted!r} is {_KIND_ZH[kind]}")
        if _lit_kind(node.value.value) != "category":
            self.fail(node.value.pos, "'contains' needs a text value in quotes")

    def _check_isnull(self, node: IsNull) -> None:
        if isinstance(node.ref, Lit):
            self.fail(node.ref.pos, "the left side of 'is null' must be a tag")
            return
        self.kind_of(node.ref)


def check(node: Node, catalogue: Catalogue, entity: str) -> None:
    """Raise ``SegmentError`` (first problem's position; ``details`` = every problem) if the rule is ill-typed."""
    if entity not in catalogue.tags:
        raise SegmentError(f"unknown entity {entity!r}; use one of {', '.join(ENTITIES)}")
    checker = _Checker(catalogue, entity)
    checker.check(node)
    if checker.problems:
        checker.problems.sort()
        pos, message = checker.problems[0]
        details = [{"position": p, "message": m} for p, m in checker.problems]
        raise SegmentError(message, position=pos, details=details)


def parse_and_check(text: str, catalogue: Catalogue, entity: str) -> Node:
    """Parse ``text`` and check it against the catalogue; the checked tree."""
    node = parse(text)
    check(node, catalogue, entity)
    return node


def column_name(ref: Ref) -> str:
    """The column a reference reads: the tag id, or ``relation__tag`` for a related entity's tag."""
    return f"{ref.relation}__{ref.name}" if ref.relation else ref.name


def relations_used(node: Node) -> dict[str, set[str]]:
    """relation name → tag ids of the related entity the rule reads."""
    out: dict[str, set[str]] = {}
    for r in refs(node):
        if r.relation:
            out.setdefault(r.relation, set()).add(r.name)
    return out


# ----------------------------------------------------------------------------------------- compile to Ibis
def _py(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _operand(table: Any, operand: Ref | Lit) -> Any:
    import ibis

    if isinstance(operand, Ref):
        return table[column_name(operand)]
    return ibis.literal(_py(operand.value))


_CMP = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def band_levels(node: Node, catalogue: Catalogue, entity: str) -> dict[str, tuple[str, ...]]:
    """column name → ordered levels, for every text band the rule reads."""
    out = {}
    for r in refs(node):
        ent = entity
        if r.relation:
            rel = catalogue.relation(entity, r.relation)
            ent = rel.to_entity if rel else entity
        spec = catalogue.tags.get(ent, {}).get(r.name)
        if spec is not None and _kind(spec) == "band":
            out[column_name(r)] = spec.levels
    return out


def _band_compare(op: str, col: Any, levels: tuple[str, ...], value: str) -> Any:
    """Ordered comparison of a text band with one of its levels (== and != compare the label itself)."""
    import ibis

    if op in ("==", "!="):
        return _CMP[op](col, ibis.literal(value))
    i = levels.index(value)
    chosen = {"<": levels[:i], "<=": levels[:i + 1], ">": levels[i + 1:], ">=": levels[i:]}[op]
    if not chosen:  # nothing below the lowest / above the highest level: FALSE, or NULL for a NULL band
        return ibis.ifelse(col.isnull(), ibis.null("boolean"), ibis.literal(False))
    return col.isin(list(chosen))


def to_ibis(node: Node, table: Any, bands: Mapping[str, tuple[str, ...]] | None = None) -> Any:
    """The rule as an Ibis boolean expression over ``table`` (SQL three-valued logic: NULL is not a member).

    ``bands`` gives the ordered levels of text bands (:func:`band_levels`) so ``aum_tier >= "gold"`` works.
    """
    bands = bands or {}
    if isinstance(node, BoolOp):
        parts = [to_ibis(p, table, bands) for p in node.operands]
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if node.op == "and" else (out | p)
        return out
    if isinstance(node, Not):
        return ~to_ibis(node.operand, table, bands)
    if isinstance(node, Truthy):
        return _operand(table, node.operand)
    if isinstance(node, Compare):
        if isinstance(node.left, Ref) and column_name(node.left) in bands and isinstance(node.right, Lit):
            return _band_compare(node.op, _operand(table, node.left), bands[column_name(node.left)],
                                 str(node.right.value))
        return _CMP[node.op](_operand(table, node.left), _operand(table, node.right))
    if isinstance(node, InList):
        col = _operand(table, node.ref)
        values = [_py(v.value) for v in node.values]
        if any(isinstance(v, float) for v in values):
            values = [float(v) for v in values]  # type: ignore[arg-type]
        return col.notin(values) if node.negated else col.isin(values)
    if isinstance(node, Contains):
        return _operand(table, node.ref).contains(_py(node.value.value))
    if isinstance(node, IsNull):
        col = _operand(table, node.ref)
        return col.notnull() if node.negated else col.isnull()
    raise TypeError(f"unknown node {node!r}")  # pragma: no cover - the parser makes only the nodes above


def members(node: Node, table: Any, key: str, bands: Mapping[str, tuple[str, ...]] | None = None) -> Any:
    """The member ids: ``table`` rows where the rule is TRUE (NULL counts as not a member). ``table`` has one
    row per entity (profiles are; relations are joined many-to-one), so no DISTINCT is needed."""
    return table.filter(to_ibis(node, table, bands).fill_null(False)).select(key)
