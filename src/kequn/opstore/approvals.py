"""Generic maker-checker (四眼原则) for any catalogue item: tags, segments, DQ rules, loan ladders,
playbooks, … A maker submits version N of an item as a draft; a second person (the checker, never the
maker) approves or rejects it. Only approved versions act on customers: :func:`current` returns the
latest one. The rule "checker ≠ maker" is enforced here (``PermissionDenied``) and by a CHECK constraint
in the database. Every submission and decision is written to the audit log in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from kequn.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from kequn.opstore import audit
from kequn.opstore.tables import change_request

Status = Literal["draft", "approved", "rejected"]


@dataclass(frozen=True)
class ChangeRequest:
    id: int
    kind: str
    item_id: str
    version: int
    payload: dict[str, Any]
    status: Status
    maker: str
    checker: str | None
    reason: str | None
    created_at: dt.datetime
    decided_at: dt.datetime | None

    @property
    def target(self) -> str:
        return f"{self.kind}:{self.item_id}@v{self.version}"


def _row_to_request(r: Any) -> ChangeRequest:
    return ChangeRequest(
        id=int(r["id"]), kind=r["kind"], item_id=r["item_id"], version=int(r["version"]),
        payload=json.loads(r["payload"]), status=r["status"], maker=r["maker"], checker=r["checker"],
        reason=r["reason"], created_at=r["created_at"], decided_at=r["decided_at"],
    )


def _get(conn: Connection, request_id: int) -> ChangeRequest:
    row = conn.execute(select(change_request).where(change_request.c.id == request_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"change request {request_id} does not exist")
    return _row_to_request(row)


def get(engine: Engine, request_id: int) -> ChangeRequest:
    """The change request ``request_id`` (``NotFoundError`` when there is none)."""
    with engine.connect() as conn:
        return _get(conn, request_id)


def submit(engine: Engine, kind: str, item_id: str, version: int, payload: dict[str, Any],
           maker: str) -> ChangeRequest:
    """Submit ``version`` of ``kind``/``item_id`` as a draft awaiting a checker."""
    problems = [f"{name} is empty" for name, v in (("kind", kind), ("item_id", item_id), ("maker", maker)) if not v]
    if not isinstance(version, int) or version < 1:
        problems.append(f"version must be a positive integer, got {version!r}")
    if problems:
        raise ValidationError(f"cannot submit change request: {'; '.join(problems)}")
    now = dt.datetime.now(dt.UTC)
    try:
        with engine.begin() as conn:
            rid = conn.execute(change_request.insert().values(
                kind=kind, item_id=item_id, version=version, status="draft", maker=maker, created_at=now,
                payload=json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str),
            )).inserted_primary_key[0]
            req = _get(conn, int(rid))
            audit.record(conn, maker, "change_request.submit", req.target, details={"request_id": req.id})
    except IntegrityError:
        raise ConflictError(f"{kind} {item_id!r} version {version} was already submitted; "
                            "submit a new version") from None
    return req


def _decide(engine: Engine, request_id: int, checker: str, status: Status, reason: str | None) -> ChangeRequest:
    if not checker:
        raise ValidationError("a decision needs the checker's name")
    with engine.begin() as conn:
        req = _get(conn, request_id)
        if req.status != "draft":
            raise ConflictError(f"change request {request_id} ({req.target}) is already {req.status}")
        if checker == req.maker:
            raise PermissionDenied(f"{checker} made change request {request_id} ({req.target}) and may not "
                                   "also check it: a second person must approve or reject (maker ≠ checker)")
        conn.execute(change_request.update().where(change_request.c.id == request_id).values(
            status=status, checker=checker, reason=reason, decided_at=dt.datetime.now(dt.UTC)))
        audit.record(conn, checker, f"change_request.{'approve' if status == 'approved' else 'reject'}",
                     req.target, reason=reason, details={"request_id": request_id, "maker": req.maker})
        return _get(conn, request_id)


def approve(engine: Engine, request_id: int, checker: str) -> ChangeRequest:
    """Approve a draft; the checker must not be its maker (``PermissionDenied``)."""
    return _decide(engine, request_id, checker, "approved", None)


def reject(engine: Engine, request_id: int, checker: str, reason: str) -> ChangeRequest:
    """Reject a draft with a reason; the checker must not be its maker."""
    if not reason:
        raise ValidationError(f"rejecting change request {request_id} needs a reason")
    return _decide(engine, request_id, checker, "rejected", reason)


def current(engine: Engine, kind: str, item_id: str) -> ChangeRequest | None:
    """The latest approved version of ``kind``/``item_id``, or ``None`` when none was approved yet."""
    q = (select(change_request)
         .where(change_request.c.kind == kind, change_request.c.item_id == item_id,
                change_request.c.status == "approved")
         .order_by(change_request.c.version.desc()).limit(1))
    with engine.connect() as conn:
        row = conn.execute(q).mappings().first()
    return None if row is None else _row_to_request(row)


def pending(engine: Engine, kind: str | None = None) -> list[ChangeRequest]:
    """Drafts awaiting a checker (oldest first), optionally of one kind."""
    q = select(change_request).where(change_request.c.status == "draft").order_by(change_request.c.id)
    if kind is not None:
        q = q.where(change_request.c.kind == kind)
    with engine.connect() as conn:
        return [_row_to_request(r) for r in conn.execute(q).mappings().all()]


__all__ = ["ChangeRequest", "approve", "current", "get", "pending", "reject", "submit"]
