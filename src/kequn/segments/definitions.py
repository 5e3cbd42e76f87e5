"""Segment definitions (客群定义): shipped YAML (the bank's standard groups) and user-created ones.

A definition is either a **rule** over tags or a **static list** of uploaded ids (kept in the warehouse
table ``segment_static``). User-created definitions and new versions live in the ops store as maker-checker
change requests (``kind="segment"``): the payload *is* the definition, so every version stays on record.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from kequn.errors import NotFoundError, ValidationError

CATALOG_DIR = Path(__file__).resolve().parent.parent / "catalog" / "segments"

Entity = Literal["customer", "enterprise", "merchant"]


class SegmentDef(BaseModel):
    """One segment: who is in it (rule or static list), what it is called, who owns it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=48)
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    entity: Entity = "customer"
    rule: str | None = None
    static: bool = False
    description: str = ""
    owner: str = "operations"
    version: int = Field(1, ge=1)
    standard: bool = False

    @model_validator(mode="after")
    def _rule_or_static(self) -> SegmentDef:
        if self.static == bool(self.rule):
            raise ValueError("a segment has either a rule or static: true (an uploaded list), not both/neither")
        return self


def _parse_file(path: Path) -> tuple[list[SegmentDef], list[dict[str, Any]]]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        return [], [{"where": path.name, "message": f"not valid YAML: {exc}"}]
    entries = doc.get("segments") if isinstance(doc, Mapping) else None
    if not isinstance(entries, list):
        return [], [{"where": path.name, "message": "expected a top-level 'segments:' list"}]
    out, problems = [], []
    for i, raw in enumerate(entries):
        where = f"{path.name} entry {i + 1}" + (f" ({raw.get('id')})" if isinstance(raw, Mapping) else "")
        try:
            out.append(SegmentDef.model_validate({**raw, "standard": True} if isinstance(raw, Mapping) else raw))
        except PydanticValidationError as exc:
            problems += [{"where": where, "field": ".".join(map(str, e["loc"])) or "-", "message": e["msg"]}
                         for e in exc.errors()]
    return out, problems


def load_shipped(directory: Path | None = None) -> dict[str, SegmentDef]:
    """The shipped definitions (standard groups), by id; ``ValidationError`` lists every problem."""
    directory = directory or CATALOG_DIR
    found: dict[str, SegmentDef] = {}
    problems: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        defs, errs = _parse_file(path)
        problems += errs
        for d in defs:
            if d.id in found:
                problems.append({"where": path.name, "field": "id", "message": f"duplicate segment id {d.id!r}"})
            found[d.id] = d
    if problems:
        raise ValidationError(f"segment definitions in {directory} have {len(problems)} problem(s)",
                              details=problems)
    return found


def from_payload(payload: Mapping[str, Any]) -> SegmentDef:
    try:
        return SegmentDef.model_validate(dict(payload))
    except PydanticValidationError as exc:
        problems = [{"field": ".".join(map(str, e["loc"])) or "-", "message": e["msg"]} for e in exc.errors()]
        raise ValidationError(f"invalid segment definition: {problems[0]['field']}: {problems[0]['message']}",
                              details=problems) from None


def latest_requests(engine: Any) -> dict[str, Any]:
    """segment id → its latest change request (any status) in the ops store."""
    from sqlalchemy import select

    from kequn.opstore.approvals import _row_to_request
    from kequn.opstore.tables import change_request as cr

    q = select(cr).where(cr.c.kind == "segment").order_by(cr.c.item_id, cr.c.version)
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    return {r["item_id"]: _row_to_request(r) for r in rows}


def all_definitions(engine: Any | None) -> dict[str, tuple[SegmentDef, str]]:
    """Every segment: id → (latest definition, status). Status is the maker-checker state of that version:
    ``approved`` / ``draft`` / ``rejected`` or ``unsubmitted`` for a shipped one never submitted."""
    out = {k: (d, "unsubmitted") for k, d in load_shipped().items()}
    if engine is not None:
        for item_id, req in latest_requests(engine).items():
            out[item_id] = (from_payload(req.payload), req.status)
    return out


def get(engine: Any | None, segment_id: str, *, approved_only: bool = False) -> SegmentDef:
    """The latest definition of ``segment_id`` (or its latest approved one)."""
    if approved_only:
        from kequn.opstore import approvals

        req = approvals.current(engine, "segment", segment_id) if engine is not None else None
        if req is None:
            raise NotFoundError(f"segment {segment_id!r} has no approved version")
        return from_payload(req.payload)
    found = all_definitions(engine).get(segment_id)
    if found is None:
        raise NotFoundError(f"unknown segment {segment_id!r}; `kequn segments list` shows them")
    return found[0]
