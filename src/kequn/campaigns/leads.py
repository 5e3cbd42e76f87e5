"""Branch leads (商机转介) — ONE lead concept for the whole platform.

Decision: loan routing keeps writing its ``loan_lead`` rows (its own table, migration 0008), and
:func:`sync_loan_leads` copies them into this unified ``lead`` table (source ``loan_routing``, source_ref =
decision id; idempotent), so an RM has one inbox for campaign and loan leads alike.

A lead goes to the customer's branch and RM: the customer's own RM when under capacity, else the least
loaded RM of that branch, else the branch itself (rm NULL, the manager assigns). SLA: contact within N
working days; overdue leads are escalated to the branch manager. Status new → contacted → won / lost (a lost
lead needs a reason, also enforced by the database).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from kequn.campaigns import tables as T
from kequn.domain.campaigns import add_working_days
from kequn.errors import ConflictError, NotFoundError, ValidationError
from kequn.opstore import audit

DEFAULT_CAPACITY = 30  # open leads per RM
NEXT: Mapping[str, frozenset[str]] = {"new": frozenset({"contacted", "lost"}),
                                      "contacted": frozenset({"won", "lost"}), "won": frozenset(), "lost": frozenset()}


def choose_rm(own_rm: str | None, branch_rms: Sequence[str], load: Mapping[str, int],
              capacity: int = DEFAULT_CAPACITY) -> str | None:
    """Pure: the customer's RM if under capacity, else the least-loaded RM of the branch under capacity."""
    if own_rm is not None and load.get(own_rm, 0) < capacity:
        return own_rm
    free = [r for r in sorted(branch_rms) if load.get(r, 0) < capacity]
    return min(free, key=lambda r: (load.get(r, 0), r)) if free else None


def open_load(conn: Any) -> dict[str, int]:
    rows = conn.execute(sa.select(T.lead.c.rm_id, sa.func.count()).where(
        T.lead.c.status.in_(("new", "contacted")), T.lead.c.rm_id.is_not(None)).group_by(T.lead.c.rm_id)).all()
    return {r[0]: int(r[1]) for r in rows}


def create(conn: Any, items: list[dict[str, Any]], directory: Any, *, now: dt.datetime, sla_days: int = 2,
           capacity: int | None = None) -> list[int]:
    """Insert leads (idempotent on (source, source_ref)); each item: source, source_ref, campaign_id,
    customer_id, product. Returns the ids (existing ones for repeats)."""
    load = open_load(conn)
    capacity = capacity or DEFAULT_CAPACITY
    ids = []
    for it in items:
        found = conn.execute(sa.select(T.lead.c.id).where(T.lead.c.source == it["source"],
                                                          T.lead.c.source_ref == it["source_ref"])).first()
        if found is not None:
            ids.append(int(found.id))
            continue
        who = directory.customer(it["customer_id"])
        branch = it.get("branch_id") or who.get("branch_id")
        rm = choose_rm(who.get("rm_id"), directory.rms(branch), load, capacity)
        if rm is not None:
            load[rm] = load.get(rm, 0) + 1
        ids.append(int(conn.execute(T.lead.insert().values(
            source=it["source"], source_ref=it["source_ref"], campaign_id=it.get("campaign_id"),
            customer_id=it["customer_id"], branch_id=branch, rm_id=rm, product=it["product"], status="new",
            created_at=now, due_on=add_working_days(now.date(), sla_days))).inserted_primary_key[0]))
    return ids


def inbox(engine: Any, *, rm_id: str | None = None, branches: frozenset[str] | None = None,
          status: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Leads of an RM and/or within a set of branches (None = whole bank)."""
    q = sa.select(T.lead).order_by(T.lead.c.due_on, T.lead.c.id).limit(limit)
    if rm_id is not None:
        q = q.where(T.lead.c.rm_id == rm_id)
    if branches is not None:
        q = q.where(T.lead.c.branch_id.in_(sorted(branches)))
    if status is not None:
        q = q.where(T.lead.c.status == status)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings().all()]


def get(engine: Any, lead_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(sa.select(T.lead).where(T.lead.c.id == lead_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"lead {lead_id} does not exist")
    return dict(row)


def update(engine: Any, lead_id: int, status: str, actor: str, *, reason: str | None = None,
           now: dt.datetime | None = None) -> dict[str, Any]:
    """Move a lead along new → contacted → won/lost (lost needs a reason)."""
    now = now or dt.datetime.now(dt.UTC)
    cur = get(engine, lead_id)
    if status not in NEXT:
        raise ValidationError(f"unknown lead status {status!r}: use {', '.join(NEXT)}")
    if status not in NEXT[cur["status"]]:
        raise ConflictError(f"lead {lead_id} is {cur['status']}: cannot become {status}")
    if status == "lost" and not (reason and reason.strip()):
        raise ValidationError(f"lead {lead_id}: a lost lead needs a reason")
    values: dict[str, Any] = {"status": status, "reason": reason}
    values["contacted_at" if status == "contacted" else "closed_at"] = now
    with engine.begin() as conn:
        conn.execute(T.lead.update().where(T.lead.c.id == lead_id).values(**values))
    audit.record(engine, actor, f"lead.{status}", f"lead:{lead_id}", reason=reason)
    return get(engine, lead_id)


def escalate_overdue(engine: Any, today: dt.date, directory: Any, actor: str = "system") -> list[int]:
    """Leads still ``new`` after their due day go to the branch manager (escalated_at / escalated_to)."""
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        rows = conn.execute(sa.select(T.lead.c.id, T.lead.c.branch_id).where(
            T.lead.c.status == "new", T.lead.c.due_on < today, T.lead.c.escalated_at.is_(None))).all()
        for r in rows:
            conn.execute(T.lead.update().where(T.lead.c.id == r.id).values(
                escalated_at=now, escalated_to=directory.manager(r.branch_id) or f"branch:{r.branch_id}"))
    for r in rows:
        audit.record(engine, actor, "lead.escalate", f"lead:{r.id}", reason="SLA overdue")
    return [int(r.id) for r in rows]


def sync_loan_leads(engine: Any, directory: Any, *, now: dt.datetime | None = None) -> int:
    """Copy loan routing's branch leads into the unified lead table (idempotent). New ones returned."""
    from kequn.routing.store import leads as loan_leads

    now = now or dt.datetime.now(dt.UTC)
    items = [{"source": "loan_routing", "source_ref": str(r["decision_id"]), "customer_id": r["customer_id"],
              "branch_id": r["branch_id"], "product": r["product_id"]} for r in loan_leads(engine)]
    with engine.begin() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(T.lead)).scalar_one()
        create(conn, items, directory, now=now)
        after = conn.execute(sa.select(sa.func.count()).select_from(T.lead)).scalar_one()
    return int(after - before)


def outcomes(engine: Any, campaign_id: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(T.lead.c.status, sa.func.count()).where(T.lead.c.campaign_id == campaign_id)
                            .group_by(T.lead.c.status)).all()
    return {r[0]: int(r[1]) for r in rows}


def sla(engine: Any, campaign_id: str, today: dt.date, tz: str = "Asia/Shanghai") -> dict[str, int]:
    """The campaign's leads against their SLA: total, contacted within the SLA (first contact on or before
    ``due_on``, bank local day), contacted late, still new and overdue (``due_on`` < today), still new in time,
    closed (lost) without a recorded contact."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(T.lead.c.status, T.lead.c.due_on, T.lead.c.contacted_at)
                            .where(T.lead.c.campaign_id == campaign_id)).all()
    out = {"total": len(rows), "contacted_in_sla": 0, "contacted_late": 0, "overdue": 0, "open_in_sla": 0,
           "closed_uncontacted": 0}
    for status, due_on, contacted_at in rows:
        due = due_on if isinstance(due_on, dt.date) or due_on is None else dt.date.fromisoformat(str(due_on))
        if contacted_at is not None:
            t = dt.datetime.fromisoformat(contacted_at) if isinstance(contacted_at, str) else contacted_at
            day = (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).astimezone(zone).date()
            out["contacted_in_sla" if due is None or day <= due else "contacted_late"] += 1
        elif status == "new":
            out["overdue" if due is not None and due < today else "open_in_sla"] += 1
        else:
            out["closed_uncontacted"] += 1
    return out
