"""POST /api/route and the review endpoints over FastAPI's TestClient, with the routing router mounted on a
small app: bad applications get one 422 listing every problem (never a 500); good ones a stored decision."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kequn.api.routes_routing import router
from kequn.opstore import engine_for, migrate
from kequn.routing import ladder

GOOD = dict(application_id="A1", customer_id="C1", branch_id="B01", applied_on="2026-11-28", channel="app",
            age=35, monthly_income="12000", amount_requested="100000", term_months=24, region="430104",
            risk_grade="B", tags={"payroll_customer": True}, payroll_months=12)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    engine = engine_for(f"sqlite:///{tmp_path_factory.mktemp('api') / 'ops.sqlite'}")
    migrate(engine)
    req = ladder.submit(engine, ladder.load_ladder_file(ladder.DEFAULT_LADDER), "maker_li")
    ladder.approve(engine, req.id, "checker_wang")
    app = FastAPI()
    app.include_router(router)
    app.state.routing_engine = engine
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    engine.dispose()


def post(client, body, **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/api/route", content=data, headers={"content-type": "application/json"}, **kw)


def fields(r) -> set[str]:
    return {d["field"] for d in r.json()["details"]}


def test_good_application_is_routed_stored_and_explained(client):
    r = post(client, GOOD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "offer" and body["chosen"]["product_id"] == "salary_loan"
    assert body["chosen"]["apr"] == "3.95" and body["ladder_version"] == 1
    assert "trail" not in body and "薪金贷" in body["explanation"]
    stored = client.get(f"/api/loan-decisions/{body['decision_id']}").json()
    assert stored["application_id"] == "A1" and len(stored["trail"]) == 10
    assert stored["explanation"] == body["explanation"]
    with_trail = post(client, {**GOOD, "application_id": "A1b"}, params={"trail": "true"}).json()
    assert len(with_trail["trail"]) == 10


def test_missing_fields_are_all_listed(client):
    r = post(client, {"application_id": "A2"})
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"
    assert fields(r) == {"customer_id", "branch_id", "applied_on", "channel", "age", "monthly_income",
                         "amount_requested", "term_months", "region"}


def test_wrong_types_and_absurd_values_are_all_listed_at_once(client):
    bad = {**GOOD, "age": "thirty", "monthly_income": -5, "amount_requested": "1e12", "term_months": 0,
           "risk_grade": "Z", "channel": "pigeon", "applied_on": "1900-01-01", "region": "长沙",
           "tags": ["not", "a", "map"], "segments": "vip", "surprise": 1}
    r = post(client, bad)
    assert r.status_code == 422
    assert fields(r) == {"age", "monthly_income", "amount_requested", "term_months", "risk_grade", "channel",
                         "applied_on", "region", "tags", "segments", "surprise"}
    assert all(d["message"] for d in r.json()["details"])
    assert "thirty" not in r.text  # input values are not echoed back


@pytest.mark.parametrize("body", [b"", b"{not json", b"[1, 2]", b"null", b"\xff\xfe", "42"])
def test_body_that_is_not_an_object_is_422(client, body):
    r = post(client, body)
    assert r.status_code == 422 and r.json()["details"]


def test_age_200_and_income_with_three_decimals_are_422(client):
    r = post(client, {**GOOD, "age": 200, "monthly_income": "100.123"})
    assert r.status_code == 422 and fields(r) == {"age", "monthly_income"}


def test_review_over_http(client):
    did = post(client, {**GOOD, "application_id": "A9", "age": 75}).json()["decision_id"]
    r = client.post(f"/api/loan-decisions/{did}/review", json={"requested_by": "C1"})
    assert r.status_code == 422 and fields(r) == {"reason"}
    r = client.post(f"/api/loan-decisions/{did}/review", json={"requested_by": "C1", "reason": "请人工复核"})
    assert r.status_code == 201
    rid = r.json()["review_id"]
    assert rid in [x["id"] for x in client.get("/api/loan-reviews").json()]
    r = client.post(f"/api/loan-reviews/{rid}/decide", json={"reviewer": "zhao", "status": "maybe", "note": "x"})
    assert r.status_code == 422
    r = client.post(f"/api/loan-reviews/{rid}/decide",
                    json={"reviewer": "zhao", "status": "upheld", "note": "年龄超出准入范围"})
    assert r.status_code == 200 and r.json()["status"] == "upheld"
    assert client.post("/api/loan-decisions/999999/review", json={"requested_by": "C1", "reason": "x"}
                       ).status_code == 404


def test_ladder_and_decision_list(client):
    lad = client.get("/api/loan-ladder").json()
    assert lad["version"] == 1 and len(lad["products"]) == 10
    assert client.get("/api/loan-decisions", params={"limit": 2}).status_code == 200


def test_a_failed_decision_log_write_is_a_503_and_nothing_is_stored(tmp_path):
    """The decision log fails (a real SQLite error inside the write): the request gets a clear 503, no
    decision and no branch lead is stored, and shutting the app down closes the group-commit writer."""
    import sqlalchemy as sa

    from kequn.routing import store

    engine = engine_for(f"sqlite:///{tmp_path / 'ops.sqlite'}")
    migrate(engine)
    req = ladder.submit(engine, ladder.load_ladder_file(ladder.DEFAULT_LADDER), "maker_li")
    ladder.approve(engine, req.id, "checker_wang")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TRIGGER poison BEFORE INSERT ON loan_lead WHEN NEW.customer_id = 'POISON' "
                             "BEGIN SELECT RAISE(ABORT, 'poisoned lead'); END")
    app = FastAPI()
    app.include_router(router)
    app.state.routing_engine = engine
    lead = {**GOOD, "tags": {"owns_property_in_region": True}, "payroll_months": 0}
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            ok = post(c, {**lead, "application_id": "L1"})
            assert ok.status_code == 200 and ok.json()["outcome"] == "lead"
            bad = post(c, {**lead, "application_id": "L2", "customer_id": "POISON"})
            assert bad.status_code == 503
            assert bad.json()["error"] and "rolled back" in bad.json()["message"]
            assert "poisoned lead" in bad.json()["message"]
            writer = app.state.routing_writer
            assert not writer.closed
        assert writer.closed  # the app's shutdown closed it
        with engine.connect() as conn:
            ids = conn.execute(sa.select(store.loan_decision.c.application_id)).scalars().all()
            n_leads = conn.execute(sa.select(sa.func.count()).select_from(store.loan_lead)).scalar_one()
        assert ids == ["L1"] and n_leads == 1
    finally:
        engine.dispose()
