"""Branch leads (商机): assignment by rules and capacity, SLA and escalation, status with reasons, one inbox
for campaign and loan-routing leads, outcomes in the campaign's results."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

NOW = dt.datetime(2026, 11, 6, 2, 0, tzinfo=dt.UTC)  # Friday 10:00 in Shanghai


def test_choose_rm_prefers_own_rm_then_least_loaded_under_capacity() -> None:
    from kequn.campaigns.leads import choose_rm

    assert choose_rm("R1", ["R1", "R2"], {"R1": 0}, capacity=2) == "R1"
    assert choose_rm("R1", ["R1", "R2", "R3"], {"R1": 2, "R2": 1}, capacity=2) == "R3"
    assert choose_rm(None, ["R1", "R2"], {"R1": 1, "R2": 0}, capacity=2) == "R2"
    assert choose_rm("R1", ["R1"], {"R1": 2}, capacity=2) is None  # the branch manager assigns


def test_sla_counts_working_days() -> None:
    from kequn.domain.campaigns import add_working_days

    assert add_working_days(dt.date(2026, 11, 6), 2) == dt.date(2026, 11, 10)  # Fri → Tue
    assert add_working_days(dt.date(2026, 11, 2), 2) == dt.date(2026, 11, 4)


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    from kequn.opstore import engine_for, migrate

    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    migrate(url)
    return engine_for(url)


def _directory() -> Any:
    from kequn.campaigns.directory import DictDirectory

    customers = {f"K{i}": {"branch_id": "B0101", "rm_id": "R1" if i < 4 else None} for i in range(6)}
    return DictDirectory(customers, {"B0101": {"rms": ["R1", "R2"], "manager": "M1"}})


def _campaign_leads(engine: Any, n: int = 6) -> Any:
    from kequn.campaigns import service
    from kequn.campaigns import tables as T
    from kequn.campaigns.sender import Sender
    from kequn.channels.lead_queue import LeadQueue

    service.submit(engine, service.parse_spec({
        "campaign_id": "wealth-leads", "name": "理财商机", "audience": {"segment_id": "s"},
        "offer": {"kind": "product", "code": "wealth", "name": "湘江财富"},
        "channels": [{"channel": "branch_lead", "template": "邀约面谈{offer_name}"}],
        "schedule": {"kind": "one_off", "at": "2026-11-06T10:00:00+08:00"}}), "maker_a")
    with engine.begin() as conn:
        conn.execute(T.outbox.insert(), [dict(send_key=f"r|K{i}|branch_lead", run_id="r", campaign_id="wealth-leads",
                                              customer_id=f"K{i}", channel="branch_lead", transactional=0,
                                              status="pending", attempts=0, not_before=NOW, created_at=NOW)
                                         for i in range(n)])
    d = _directory()
    q = LeadQueue(engine, d)
    stats = Sender(engine, {"branch_lead": q}, d, clock=lambda: NOW).run()
    return stats, q


def test_campaign_leads_assigned_by_capacity_and_idempotent(engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from kequn.campaigns import leads

    monkeypatch.setattr(leads, "DEFAULT_CAPACITY", 3)
    stats, q = _campaign_leads(engine)
    assert stats.sent == 6 and stats.delivered == 6
    rows = leads.inbox(engine, branches=frozenset({"B0101"}))
    by_rm: dict[str, int] = {}
    for r in rows:
        by_rm[r["rm_id"]] = by_rm.get(r["rm_id"], 0) + 1
    assert by_rm == {"R1": 3, "R2": 3}  # R1 full at 3: its 4th customer goes to R2
    assert {r["due_on"] for r in rows} == {dt.date(2026, 11, 10)}
    assert q.lookup(rows[0]["source_ref"]) is not None  # a restarted sender finds the lead, makes no second
    assert leads.inbox(engine, branches=frozenset({"B9999"})) == []  # branch scoping


def test_status_flow_reasons_escalation_and_outcomes(engine: Any) -> None:
    from kequn.campaigns import leads, review
    from kequn.campaigns import tables as T
    from kequn.errors import ConflictError, ValidationError

    _campaign_leads(engine)
    ids = [r["id"] for r in leads.inbox(engine)]
    leads.update(engine, ids[0], "contacted", "R1")
    assert leads.update(engine, ids[0], "won", "R1")["status"] == "won"
    with pytest.raises(ValidationError, match="reason"):
        leads.update(engine, ids[1], "lost", "R1")
    leads.update(engine, ids[1], "lost", "R1", reason="客户已在他行购买")
    with pytest.raises(ConflictError):
        leads.update(engine, ids[1], "contacted", "R1")
    with pytest.raises(sa.exc.IntegrityError):  # the database holds the rule too
        with engine.begin() as conn:
            conn.execute(T.lead.update().where(T.lead.c.id == ids[2]).values(status="lost", reason=None))
    late = leads.escalate_overdue(engine, dt.date(2026, 11, 11), _directory())
    assert sorted(late) == sorted(ids[2:])
    assert {r["escalated_to"] for r in leads.inbox(engine) if r["id"] in late} == {"M1"}
    assert leads.escalate_overdue(engine, dt.date(2026, 11, 12), _directory()) == []  # once
    res = review.campaign_result(engine, "wealth-leads", ["r"], {"offer": {}})
    assert res["leads"] == {"won": 1, "lost": 1, "new": 4}


def test_loan_routing_leads_join_the_same_inbox(engine: Any) -> None:
    from kequn.campaigns import leads

    with engine.begin() as conn:
        for i in (1, 2):
            conn.execute(sa.text(
                "INSERT INTO loan_decision (id, application_id, customer_id, branch_id, applied_on, ladder_id, "
                "ladder_version, model_version, outcome, product_id, reason_codes, application, trail, input_hash) VALUES "
                f"({i}, 'A{i}', 'K{i}', 'B0101', '2026-11-05', 'ladder', 1, 'm1', 'lead', 'business_loan', '[]', "
                f"'{{}}', x'00', 'h{i}')"))
            conn.execute(sa.text("INSERT INTO loan_lead (decision_id, branch_id, customer_id, product_id, status) "
                                 f"VALUES ({i}, 'B0101', 'K{i}', 'business_loan', 'open')"))
    assert leads.sync_loan_leads(engine, _directory(), now=NOW) == 2
    assert leads.sync_loan_leads(engine, _directory(), now=NOW) == 0  # idempotent
    rows = leads.inbox(engine, rm_id="R1")
    assert {(r["source"], r["product"]) for r in rows} == {("loan_routing", "business_loan")}
