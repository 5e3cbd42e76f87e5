"""Decision log, review queue, leads, maker-checker ladder versions, replay and the champion/challenger
split — on real SQLite and real PostgreSQL."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from kequn.domain.loans import Application
from kequn.errors import ConflictError, PermissionDenied, ValidationError
from kequn.opstore import audit, engine_for, migrate
from kequn.routing import ladder, service, store
from kequn.routing.replay import assign_arm

BASE = dict(application_id="A1", customer_id="C1", branch_id="B01", applied_on="2026-11-28", channel="app",
            age=35, monthly_income="12000", amount_requested="100000", term_months=24, region="430104",
            risk_grade="B")


def app(**over) -> Application:
    return Application.model_validate({**BASE, **over})


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url").replace("postgresql://", "postgresql+psycopg://")
    eng = engine_for(url)
    migrate(eng)
    yield eng
    eng.dispose()


def approve_ladder(engine, spec, maker="maker_li", checker="checker_wang"):
    req = ladder.submit(engine, spec, maker)
    return ladder.approve(engine, req.id, checker)


def test_no_approved_ladder_refuses_to_route(engine):
    with pytest.raises(ConflictError, match="no approved version"):
        service.route_application(engine, app())
    ladder.submit(engine, ladder.load_ladder_file(ladder.DEFAULT_LADDER), "maker_li")  # a draft is not enough
    with pytest.raises(ConflictError):
        service.route_application(engine, app())


def test_maker_cannot_approve_own_ladder(engine):
    req = ladder.submit(engine, ladder.load_ladder_file(ladder.DEFAULT_LADDER), "maker_li")
    with pytest.raises(PermissionDenied):
        ladder.approve(engine, req.id, "maker_li")


def test_decision_is_stored_with_versions_codes_and_trail(engine):
    approve_ladder(engine, ladder.load_ladder_file(ladder.DEFAULT_LADDER))
    routed = service.route_application(engine, app(tags={"payroll_customer": True}, payroll_months=12))
    stored = store.get_decision(engine, routed.decision_id)
    assert (stored.ladder_id, stored.ladder_version, stored.model_version) == ("main", 1, "declared")
    assert stored.outcome == "offer" and stored.product_id == "salary_loan"
    assert Decimal(str(stored.apr)) == routed.decision.chosen.apr == Decimal("3.95")
    assert stored.reason_codes == ["BEST_APR", "PRODUCT_SALARY_LOAN"]
    assert stored.application["monthly_income"] == "12000"
    assert stored.decision == routed.decision  # the whole trail round-trips through the log
    assert len(stored.decision.trail) == 10 and stored.arm == "champion"


def test_decision_log_is_append_only_in_the_database(engine):
    approve_ladder(engine, ladder.load_ladder_file(ladder.DEFAULT_LADDER))
    did = service.route_application(engine, app()).decision_id
    for stmt in (sa.text("UPDATE loan_decision SET outcome = 'declined' WHERE id = :i"),
                 sa.text("DELETE FROM loan_decision WHERE id = :i")):
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.execute(stmt, {"i": did})
    assert store.get_decision(engine, did).outcome != "declined"


def test_branch_only_product_creates_a_lead_for_the_customers_branch(engine):
    approve_ladder(engine, ladder.load_ladder_file(ladder.DEFAULT_LADDER))
    routed = service.route_application(engine, app(branch_id="B0731", tags={"owns_property_in_region": True}))
    assert routed.decision.outcome == "lead" and routed.decision.chosen.product_id == "property_backed_loan"
    leads = store.leads(engine, "B0731")
    assert [(x["decision_id"], x["product_id"], x["status"]) for x in leads] == \
        [(routed.decision_id, "property_backed_loan", "open")]
    service.route_application(engine, app(application_id="A2"))  # an online offer makes no lead
    assert len(store.leads(engine)) == 1


def test_review_queue_request_decide_and_audit(engine):
    approve_ladder(engine, ladder.load_ladder_file(ladder.DEFAULT_LADDER))
    did = service.route_application(engine, app(age=70)).decision_id
    assert store.get_decision(engine, did).outcome == "declined"
    with pytest.raises(ValidationError):
        store.request_review(engine, did, "C1", "  ")
    rid = store.request_review(engine, did, "C1", "我的收入足够，希望人工复核")
    with pytest.raises(ConflictError, match="already has open review"):
        store.request_review(engine, did, "C1", "again")
    assert [r["id"] for r in store.reviews(engine)] == [rid]
    with pytest.raises(PermissionDenied):
        store.decide_review(engine, rid, "C1", "overturned", "self review")
    row = store.decide_review(engine, rid, "reviewer_zhao", "upheld", "年龄超出全部产品准入范围，维持原决定")
    assert row["status"] == "upheld" and row["reviewer"] == "reviewer_zhao"
    assert store.reviews(engine) == [] and len(store.reviews(engine, None)) == 1
    with pytest.raises(ConflictError):
        store.decide_review(engine, rid, "reviewer_qian", "overturned", "late")
    actions = [e.action for e in audit.entries(engine, target=f"loan_decision:{did}")]
    assert actions == ["loan_review.upheld", "loan_review.request"]


def _v2(spec):
    """Version 2: the salary loan also takes grade D, and its grade-B spread drops by 0.25 pp."""
    raw = copy.deepcopy(ladder.ladder_payload(spec))
    raw["version"] = 2
    salary = next(p for p in raw["products"] if p["id"] == "salary_loan")
    salary["pricing"]["spread_by_grade"].update({"B": "0.60", "D": "3.00"})
    next(r for r in salary["rules"] if r["field"] == "risk_grade")["value"] = ["A", "B", "C", "D"]
    return ladder.parse_ladder(raw)


def test_replay_shows_what_a_draft_would_change_before_approval(engine):
    v1 = ladder.load_ladder_file(ladder.DEFAULT_LADDER)
    approve_ladder(engine, v1)
    payroll = {"payroll_customer": True}
    for i, (grade, income) in enumerate([("B", "12000"), ("D", "9000"), ("D", "9000"), ("B", "600")]):
        service.route_application(engine, app(application_id=f"R{i}", risk_grade=grade, monthly_income=income,
                                              payroll_months=12, tags=payroll, age=30))
    ladder.submit(engine, _v2(v1), "maker_li")  # draft, not approved
    report = service.replay_version(engine, 2)
    assert (report.baseline.ladder_version, report.candidate.ladder_version) == (1, 2)
    assert report.baseline.n == report.candidate.n == 4
    assert report.candidate.approval_rate >= report.baseline.approval_rate
    changed = {c.application_id: c for c in report.changes}
    assert changed["R0"].before == changed["R0"].after == "salary_loan"
    assert changed["R0"].after_apr == changed["R0"].before_apr - Decimal("0.25")
    assert changed["R1"].before != "salary_loan" and changed["R1"].after == "salary_loan"
    assert "R3" not in changed  # limit 600 × 15 below the salary loan minimum: declined in both versions
    assert report.candidate.volume["salary_loan"][0] == report.baseline.volume["salary_loan"][0] + 2
    assert ladder.approved(engine).version == 1  # replay approved nothing


def test_champion_challenger_split_is_sticky_and_needs_approval(engine):
    v1 = ladder.load_ladder_file(ladder.DEFAULT_LADDER)
    approve_ladder(engine, v1)
    draft = ladder.submit(engine, _v2(v1), "maker_li")
    with pytest.raises(ConflictError, match="not approved"):
        service.submit_split(engine, "main", 2, 0.3, "maker_li")  # only an approved version may challenge
    ladder.approve(engine, draft.id, "checker_wang")
    # approving v2 made it the champion; a split sends a share to a challenger: here v1 challenges v2
    req = service.submit_split(engine, "main", 1, 0.3, "maker_li")
    assert service.split(engine, "main") is None  # not yet approved
    ladder.approve(engine, req.id, "checker_wang")
    arms = {}
    for i in range(40):
        r = service.route_application(engine, app(application_id=f"S{i}"))
        arms[f"S{i}"] = r.arm
        assert r.decision.ladder_version == (1 if r.arm == "challenger" else 2)
        assert r.arm == assign_arm(f"S{i}", 0.3, "main")
    assert 0 < sum(a == "challenger" for a in arms.values()) < 40
    again = service.route_application(engine, app(application_id="S7"))
    assert again.arm == arms["S7"]  # sticky


def _lead_app(i: int, customer: str = "C1") -> Application:
    """Every third applicant owns property in the region: the housing loan closes at the branch (a lead)."""
    return app(application_id=f"G{i}", customer_id=customer, tags={"owns_property_in_region": i % 3 == 0})


def _counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (conn.execute(sa.select(sa.func.count()).select_from(store.loan_decision)).scalar_one(),
                conn.execute(sa.select(sa.func.count()).select_from(store.loan_lead)).scalar_one())


def test_group_commit_logs_every_concurrent_decision_exactly_once(engine):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from kequn.routing.router import compile_ladder, route

    lad = compile_ladder(ladder.load_ladder_file(ladder.DEFAULT_LADDER))
    n_threads, per_thread = 16, 15
    apps = [_lead_app(i) for i in range(n_threads * per_thread)]
    start = threading.Barrier(n_threads)

    def worker(k: int) -> list[tuple[str, int]]:
        start.wait()  # every thread routes and writes at the same moment
        return [(a.application_id, writer.write(a, route(lad, a))) for a in apps[k::n_threads]]

    with store.DecisionWriter(engine, max_wait=0.005) as writer:
        with ThreadPoolExecutor(n_threads) as pool:
            got = [pair for part in pool.map(worker, range(n_threads)) for pair in part]
        assert writer.committed == len(apps)
        assert writer.batches < len(apps)  # decisions really were grouped (fewer commits than decisions)
    assert len(got) == len(apps) and len({i for _, i in got}) == len(apps)  # one distinct id each
    with engine.connect() as conn:
        rows = conn.execute(sa.select(store.loan_decision.c.id, store.loan_decision.c.application_id)).all()
    assert sorted(rows) == sorted((i, a) for a, i in got)  # each decision stored once, under its own id
    assert _counts(engine) == (len(apps), len(apps) // 3)  # and one branch lead per lead decision
    stored = store.get_decision(engine, got[0][1])
    assert stored.application_id == got[0][0] and len(stored.decision.trail) == 10


def _poison_leads(engine) -> None:
    """A real database error inside the batch: inserting the branch lead of customer POISON fails, after
    that batch's decision rows were inserted in the same transaction."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("CREATE TRIGGER poison BEFORE INSERT ON loan_lead WHEN NEW.customer_id = 'POISON' "
                                 "BEGIN SELECT RAISE(ABORT, 'poisoned lead'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                                 "IF NEW.customer_id = 'POISON' THEN RAISE EXCEPTION 'poisoned lead'; END IF; "
                                 "RETURN NEW; END $$")
            conn.exec_driver_sql("CREATE TRIGGER poison BEFORE INSERT ON loan_lead FOR EACH ROW "
                                 "EXECUTE FUNCTION poison()")


def test_a_failed_batch_fails_every_waiting_caller_and_stores_nothing(engine):
    from kequn.routing.router import compile_ladder, route

    lad = compile_ladder(ladder.load_ladder_file(ladder.DEFAULT_LADDER))
    _poison_leads(engine)
    apps = [_lead_app(i, "POISON" if i == 3 else "C1") for i in range(8)]
    # one batch of exactly these 8 decisions: the writer waits (up to 5 s) until it holds 8
    with store.DecisionWriter(engine, max_batch=8, max_wait=5) as writer:
        futures = [writer.submit(a, route(lad, a)) for a in apps]
        errors = []
        for f in futures:
            with pytest.raises(store.DecisionLogError) as info:
                f.result(timeout=30)
            errors.append(info.value)
        assert writer.batches == 0 and writer.committed == 0
        assert _counts(engine) == (0, 0)  # nothing of the failed batch was stored: no decision, no lead
        msg = str(errors[0])
        assert "batch of 8 was rolled back" in msg and "poisoned lead" in msg
        assert isinstance(errors[0].__cause__, DBAPIError)
        assert errors[0].http_status == 503
        # the writer carries on: the next batch commits (without waiting for company)
        writer.max_wait = 0
        ok = writer.write(_lead_app(20), route(lad, _lead_app(20)))
        assert store.get_decision(engine, ok).application_id == "G20"
    assert _counts(engine) == (1, 0)


def test_close_commits_queued_decisions_then_refuses_new_ones(engine):
    from kequn.routing.router import compile_ladder, route

    lad = compile_ladder(ladder.load_ladder_file(ladder.DEFAULT_LADDER))
    writer = store.DecisionWriter(engine, max_batch=1000, max_wait=10)  # would wait 10 s for more
    futures = [writer.submit(_lead_app(i), route(lad, _lead_app(i))) for i in range(5)]
    writer.close()  # does not wait the 10 s: closing commits what is queued at once
    assert sorted(f.result(timeout=0) for f in futures) == [d.id for d in reversed(store.decisions(engine))]
    assert writer.closed and _counts(engine) == (5, 2)
    with pytest.raises(store.DecisionLogError, match="closed"):
        writer.submit(_lead_app(9), route(lad, _lead_app(9)))
    writer.close()  # idempotent


def test_unmigrated_store_fails_the_write_with_a_clear_error(tmp_path):
    eng = engine_for(f"sqlite:///{tmp_path / 'unmigrated.sqlite'}")  # no tables: the insert fails
    from kequn.routing.router import compile_ladder, route

    lad = compile_ladder(ladder.load_ladder_file(ladder.DEFAULT_LADDER))
    try:
        with store.DecisionWriter(eng) as writer, pytest.raises(store.DecisionLogError, match="loan_decision"):
            writer.write(app(), route(lad, app()))
    finally:
        eng.dispose()


def test_two_writers_on_one_sqlite_file_take_turns(tmp_path):
    """Like two uvicorn workers: two writers (own engines) on one SQLite file, serialised by the flock on
    ``<database>.writer.lock``; every decision is stored once."""
    from concurrent.futures import ThreadPoolExecutor

    from kequn.routing.router import compile_ladder, route

    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    engines = [engine_for(url), engine_for(url)]
    migrate(engines[0])
    lad = compile_ladder(ladder.load_ladder_file(ladder.DEFAULT_LADDER))
    apps = [_lead_app(i) for i in range(120)]
    writers = [store.DecisionWriter(e) for e in engines]
    try:
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda k: writers[k % 2].write(apps[k], route(lad, apps[k])), range(len(apps))))
    finally:
        for w in writers:
            w.close()
    assert (tmp_path / "ops.sqlite.writer.lock").exists()
    assert len(set(ids)) == len(apps) and _counts(engines[0]) == (120, 40)
    assert sum(w.committed for w in writers) == 120 and min(w.committed for w in writers) > 0
    for e in engines:
        e.dispose()


def test_writer_only_ever_lowers_the_thread_switch_interval(tmp_path):
    import sys

    eng = engine_for(f"sqlite:///{tmp_path / 'ops.sqlite'}")
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        store.DecisionWriter(eng).close()
        assert sys.getswitchinterval() == pytest.approx(store.SWITCH_INTERVAL_SECONDS)
        sys.setswitchinterval(0.0005)
        store.DecisionWriter(eng).close()  # already lower: left alone
        assert sys.getswitchinterval() == pytest.approx(0.0005)
        sys.setswitchinterval(0.005)
        store.DecisionWriter(eng, switch_interval=None).close()
        assert sys.getswitchinterval() == pytest.approx(0.005)
    finally:
        sys.setswitchinterval(before)
        eng.dispose()
