"""Append-only audit trail (COMPLIANCE.md rule 11): who viewed, unmasked, exported or changed what,
when and why. The database refuses UPDATE and DELETE on ``audit_log`` (triggers from the migrations), so
this module only ever inserts and reads.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from kequn.opstore.tables import audit_log


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    reason: str | None
    details: dict[str, Any] | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def record(
    engine: Engine | Connection,
    actor: str,
    action: str,
    target: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one audit entry; returns its id. Pass a Connection to write inside the caller's transaction."""
    from kequn.errors import ValidationError

    if not actor or not action or not target:
        raise ValidationError("audit entry needs an actor, an action and a target")
    stmt = audit_log.insert().values(
        at=_now(), actor=actor, action=action, target=target, reason=reason,
        details=None if details is None else json.dumps(details, ensure_ascii=False, default=str),
    )
    if isinstance(engine, Connection):
        return int(engine.execute(stmt).inserted_primary_key[0])
    with engine.begin() as conn:
        return int(conn.execute(stmt).inserted_primary_key[0])


def entries(engine: Engine, *, target: str | None = None, actor: str | None = None,
            limit: int = 100) -> list[AuditEntry]:
    """The most recent audit entries (newest first), optionally for one target or actor."""
    q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if target is not None:
        q = q.where(audit_log.c.target == target)
    if actor is not None:
        q = q.where(audit_log.c.actor == actor)
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    return [
        AuditEntry(r["id"], r["at"], r["actor"], r["action"], r["target"], r["reason"],
                   None if r["details"] is None else json.loads(r["details"]))
        for r in rows
    ]


__all__ = ["AuditEntry", "entries", "record"]
