"""The ladder as declared data: read YAML, validate (every problem at once, naming the file, the product
and the field), and move versions through maker-checker (``kind = "loan_ladder"``) in the ops store."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kequn.domain.loans import LadderSpec
from kequn.errors import ConflictError, NotFoundError, ValidationError
from kequn.routing.router import CompiledLadder, compile_ladder

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Engine

KIND = "loan_ladder"
SPLIT_KIND = "loan_ladder_split"  # champion/challenger split of a ladder, approved like the ladder itself
CATALOG_DIR = Path(__file__).resolve().parents[1] / "catalog" / "loan_ladder"
DEFAULT_LADDER = CATALOG_DIR / "main.yaml"


def _where(raw: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """``products[3](salary_loan).pricing.floor`` from a pydantic error location."""
    parts: list[str] = []
    node: Any = raw
    for key in loc:
        if isinstance(key, int):
            label = f"[{key}]"
            if isinstance(node, list) and key < len(node) and isinstance(node[key], dict) and "id" in node[key]:
                label += f"({node[key]['id']})"
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(key))
        node = node[key] if isinstance(node, (list, dict)) and _has(node, key) else None
    return "".join(parts) or "(ladder)"


def _has(node: Any, key: Any) -> bool:
    return (isinstance(node, dict) and key in node) or (isinstance(node, list) and isinstance(key, int)
                                                          and key < len(node))


def parse_ladder(raw: Any, source: str = "ladder") -> LadderSpec:
    """Validate a parsed ladder document; ``ValidationError`` lists every problem."""
    from pydantic import ValidationError as PydanticError

    if not isinstance(raw, dict):
        raise ValidationError(f"{source}: a ladder must be a mapping with ladder_id, version, lpr, products")
    try:
        return LadderSpec.model_validate(raw)
    except PydanticError as exc:
        details = [{"where": f"{source}: {_where(raw, tuple(e['loc']))}", "message": e["msg"]}
                   for e in exc.errors()]
        raise ValidationError(f"{source}: {len(details)} problem(s) in the loan ladder", details=details) from None


def load_ladder_file(path: Path) -> LadderSpec:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"ladder file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValidationError(f"{path}: not valid YAML: {exc}") from None
    return parse_ladder(raw, str(path))


def ladder_payload(spec: LadderSpec) -> dict[str, Any]:
    """The JSON form stored in the change request (Decimals as strings, so nothing is rounded)."""
    return spec.model_dump(mode="json")


# ------------------------------------------------------------------ maker-checker through the ops store


def submit(engine: Engine, spec: LadderSpec, maker: str) -> Any:
    from kequn.opstore import approvals

    return approvals.submit(engine, KIND, spec.ladder_id, spec.version, ladder_payload(spec), maker)


def approve(engine: Engine, request_id: int, checker: str) -> Any:
    from kequn.opstore import approvals

    req = approvals.get(engine, request_id)
    if req.kind not in (KIND, SPLIT_KIND):
        raise ConflictError(f"change request {request_id} is a {req.kind}, not a loan ladder or split")
    done = approvals.approve(engine, request_id, checker)
    _IDS.pop((_store_key(engine), req.item_id), None)
    return done


@lru_cache(maxsize=64)
def _compiled(payload_json: str) -> CompiledLadder:
    return compile_ladder(parse_ladder(json.loads(payload_json), "ops store"))


def compiled_from_payload(payload: dict[str, Any]) -> CompiledLadder:
    """Compile a stored ladder once per distinct payload (cached)."""
    return _compiled(json.dumps(payload, sort_keys=True, ensure_ascii=False))


#: approved change requests never change, so their compiled form is cached per (store, request id)
_BY_REQUEST: dict[tuple[Any, int], Any] = {}


#: how long a lookup of the approved version is reused: a version approved in another process (e.g. by
#: `kequn ladder approve` while the API runs) takes effect within this many seconds; in-process approvals
#: (``approve`` below) take effect at once
APPROVED_TTL_SECONDS = 1.0
_IDS: dict[tuple[Any, str], tuple[float, dict[str, int]]] = {}


def _store_key(engine: Engine) -> Any:
    return engine  # one cache entry per Engine object (an Engine is hashable and lives as long as its app)


def approved_ids(engine: Engine, ladder_id: str) -> dict[str, int]:
    """Request ids of the latest approved ladder and split of ``ladder_id`` (one light query, no payload)."""
    import time

    key = (_store_key(engine), ladder_id)
    hit = _IDS.get(key)
    if hit is not None and time.monotonic() - hit[0] < APPROVED_TTL_SECONDS:
        return hit[1]
    ids = _query_approved_ids(engine, ladder_id)
    _IDS[key] = (time.monotonic(), ids)
    return ids


def _query_approved_ids(engine: Engine, ladder_id: str) -> dict[str, int]:
    from sqlalchemy import select

    from kequn.opstore.tables import change_request as cr

    q = (select(cr.c.kind, cr.c.id, cr.c.version)
         .where(cr.c.kind.in_((KIND, SPLIT_KIND)), cr.c.item_id == ladder_id, cr.c.status == "approved"))
    best: dict[str, tuple[int, int]] = {}
    with engine.connect() as conn:
        for kind, rid, version in conn.execute(q):
            if kind not in best or version > best[kind][0]:
                best[kind] = (int(version), int(rid))
    return {kind: rid for kind, (_, rid) in best.items()}


def by_request(engine: Engine, request_id: int) -> Any:
    """The compiled ladder (or split payload) of one approved change request, cached."""
    from kequn.opstore import approvals

    key = (_store_key(engine), request_id)
    if key not in _BY_REQUEST:
        req = approvals.get(engine, request_id)
        if req.status != "approved":
            raise ConflictError(f"change request {request_id} is {req.status}, not approved")
        _BY_REQUEST[key] = compiled_from_payload(req.payload) if req.kind == KIND else req.payload
    return _BY_REQUEST[key]


def approved(engine: Engine, ladder_id: str = "main") -> CompiledLadder:
    """The latest approved version of the ladder (``ConflictError`` when none is approved yet)."""
    rid = approved_ids(engine, ladder_id).get(KIND)
    if rid is None:
        raise ConflictError(f"loan ladder {ladder_id!r} has no approved version: run `kequn ladder submit` "
                            "and have a second person run `kequn ladder approve`")
    return by_request(engine, rid)  # type: ignore[no-any-return]


def version_of(engine: Engine, ladder_id: str, version: int, *, approved_only: bool = False) -> CompiledLadder:
    """One stored version (draft or approved) of the ladder, e.g. for a replay before approval."""
    from sqlalchemy import select

    from kequn.opstore.tables import change_request as cr

    q = select(cr.c.payload, cr.c.status).where(cr.c.kind == KIND, cr.c.item_id == ladder_id,
                                                cr.c.version == version)
    with engine.connect() as conn:
        row = conn.execute(q).first()
    if row is None:
        raise NotFoundError(f"loan ladder {ladder_id!r} version {version} was never submitted")
    if approved_only and row.status != "approved":
        raise ConflictError(f"loan ladder {ladder_id!r} version {version} is {row.status}, not approved")
    return compiled_from_payload(json.loads(row.payload))


def history(engine: Engine, ladder_id: str = "main") -> list[dict[str, Any]]:
    """Every submitted version with its status, maker and checker (newest first)."""
    from sqlalchemy import select

    from kequn.opstore.tables import change_request as cr

    q = (select(cr.c.id, cr.c.version, cr.c.status, cr.c.maker, cr.c.checker, cr.c.created_at,
                cr.c.decided_at)
         .where(cr.c.kind == KIND, cr.c.item_id == ladder_id).order_by(cr.c.version.desc()))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings().all()]


__all__ = ["DEFAULT_LADDER", "KIND", "SPLIT_KIND", "approve", "approved", "compiled_from_payload", "history",
           "ladder_payload", "load_ladder_file", "parse_ladder", "submit", "version_of"]
