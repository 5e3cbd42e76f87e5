"""POST /api/events (validated batches, dedup by event id, 422 never 500), the in-process trigger evaluator
(fires within seconds, latency measured from the stored times), and the campaigns router."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa


@pytest.fixture
def client(tmp_path: Path) -> Any:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from fastapi.testclient import TestClient

    from kequn.api.routes_campaigns import router
    from kequn.errors import KequnError
    from kequn.opstore import engine_for, migrate
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    wh = connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    create_tables(wh)
    con = wh.con.con
    con.execute("INSERT INTO touchpoint VALUES ('TP-APP-001', '首页-登录', 'app', 'engagement', NULL), "
                "('TP-WEB-001', '网银-登录', 'web', 'engagement', NULL)")
    con.execute("INSERT INTO customer (customer_id, name, home_branch_id, onboarded_on, status) VALUES "
                "('K1', '张三', 'B0101', DATE '2020-01-01', 'active'), ('K2', '李四', 'B0101', DATE '2020-01-01', 'active')")
    con.execute("INSERT INTO consent VALUES ('c1', 'K1', 'marketing', 'app_push', 'granted', TIMESTAMP '2025-01-01 09:00:00', 'app'), "
                "('c2', 'K2', 'marketing', 'app_push', 'granted', TIMESTAMP '2025-01-01 09:00:00', 'app')")
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)
    con.execute("INSERT INTO event VALUES ('old1', 'K1', ?, 'TP-APP-001', 'app', NULL), ('old2', 'K2', ?, 'TP-APP-001', 'app', NULL)",
                [today - dt.timedelta(days=40), today - dt.timedelta(days=5)])
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    migrate(url)
    engine = engine_for(url)
    app = FastAPI()
    app.include_router(router)
    app.state.campaigns_warehouse = wh
    app.state.campaigns_engine = engine

    @app.exception_handler(KequnError)
    def _h(_req: Any, exc: KequnError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    yield TestClient(app), engine, app
    wh.close()


def _approved_static_segment(engine: Any, wh: Any, sid: str, name_zh: str) -> None:
    """A static segment of K1 and K2, created by maker_a and approved by checker_b."""
    from kequn.segments import service as seg
    from kequn.segments.definitions import SegmentDef

    seg.create(engine, wh, SegmentDef(id=sid, name_zh=name_zh, name_en="x", static=True), "maker_a", ids=["K1", "K2"])
    seg.approve(engine, sid, "checker_b")


def _now_local() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def test_bad_batch_is_422_listing_every_problem_and_stores_nothing(client: Any) -> None:
    from kequn.campaigns import tables as T

    c, engine, _ = client
    batch = [
        {"event_id": "e1", "customer_id": "K1", "touchpoint_id": "TP-NOPE", "ts": _now_local()},
        {"event_id": "e2", "customer_id": "K1", "touchpoint_id": "TP-APP-001", "ts": "yesterday"},
        {"event_id": "e3", "touchpoint_id": "TP-APP-001", "ts": _now_local()},
        {"event_id": "e4", "customer_id": "K1", "touchpoint_id": "TP-APP-001", "ts": _now_local(), "channel": "web"},
        {"event_id": "e5", "customer_id": "K1", "touchpoint_id": "TP-APP-001", "ts": "2999-01-01T00:00:00"},
        "not an object",
    ]
    r = c.post("/api/events", json=batch)
    assert r.status_code == 422
    where = [d["where"] for d in r.json()["details"]]
    assert where == ["events[0].touchpoint_id", "events[1].ts", "events[2].customer_id", "events[3].channel",
                     "events[4].ts", "events[5]"]
    assert c.post("/api/events", content=b"{not json").status_code == 422
    assert c.post("/api/events", json={"events": "x"}).status_code == 422
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(T.touch_event)).scalar_one() == 0


def test_events_deduplicated_by_event_id(client: Any) -> None:
    c, _, _ = client
    batch = [{"event_id": f"e{i}", "customer_id": "K2", "touchpoint_id": "TP-WEB-001", "ts": _now_local()}
             for i in range(50)]
    assert c.post("/api/events", json=batch + batch[:5]).json() == {"received": 55, "accepted": 50, "duplicates": 5}
    assert c.post("/api/events", json={"events": batch}).json() == {"received": 50, "accepted": 0, "duplicates": 50}


def test_dormant_login_trigger_fires_within_seconds(client: Any) -> None:
    from kequn.campaigns import events, service
    from kequn.campaigns import tables as T

    c, engine, app = client
    wh = app.state.campaigns_warehouse
    _approved_static_segment(engine, wh, "logged_in", "登录客户")
    spec = {"campaign_id": "welcome-back", "name": "沉睡唤醒礼", "audience": {"segment_id": "logged_in"},
            "offer": {"kind": "reward", "code": "coupon", "name": "消费券"}, "control_share": 0.0, "holdout_share": 0.0,
            "channels": [{"channel": "app_push", "template": "{surname_title}，欢迎回来"}],
            "schedule": {"kind": "event", "touchpoint_id": "TP-APP-001", "dormant_days": 30}}
    assert c.post("/api/campaigns", json={**spec, "maker": "maker_a"}).status_code == 200
    assert c.post("/api/campaigns/welcome-back/approve", json={"checker": "maker_a"}).status_code == 403
    assert c.post("/api/campaigns/welcome-back/approve", json={"checker": "checker_b"}).json()["status"] == "approved"
    assert c.post("/api/campaigns/welcome-back/launch", json={"actor": "maker_a"}).json()["status"] == "live"
    t0 = time.monotonic()
    sent = c.post("/api/events", json=[
        {"event_id": "login-1", "customer_id": "K1", "touchpoint_id": "TP-APP-001", "ts": _now_local()},
        {"event_id": "login-2", "customer_id": "K2", "touchpoint_id": "TP-APP-001", "ts": _now_local()}])
    assert sent.json()["accepted"] == 2
    app.state.campaigns_triggers.flush(timeout=10)
    waited = time.monotonic() - t0
    with engine.connect() as conn:
        fires = conn.execute(sa.select(T.trigger_fire.c.customer_id, T.trigger_fire.c.outcome)).all()
        queued = conn.execute(sa.select(T.outbox.c.send_key, T.outbox.c.channel)).all()
    assert fires == [("K1", "queued")]  # K2 logged in 5 days ago: not dormant
    assert queued == [("welcome-back|evt|login-1", "app_push")]
    lat = events.latency(engine, "welcome-back")
    assert lat["n"] == 1 and lat["max_s"] < 2.0 and waited < 10
    # a replayed event is a duplicate: it never fires twice
    c.post("/api/events", json=[{"event_id": "login-1", "customer_id": "K1", "touchpoint_id": "TP-APP-001",
                                 "ts": _now_local()}])
    app.state.campaigns_triggers.flush(timeout=10)
    assert events.latency(engine, "welcome-back")["n"] == 1
    assert service.get(engine, "welcome-back")["status"] == "live"
    # a customer outside the campaign's segment never fires
    c.post("/api/events", json=[{"event_id": "login-9", "customer_id": "K9", "touchpoint_id": "TP-APP-001",
                                 "ts": _now_local()}])
    app.state.campaigns_triggers.flush(timeout=10)
    assert events.latency(engine, "welcome-back")["n"] == 1


def test_router_declares_a_permission_for_every_route() -> None:
    from fastapi import FastAPI

    from kequn.api.routes_campaigns import ROUTE_PERMISSIONS, router
    from kequn.api.rules import routes_of
    from kequn.security.roles import PERMISSIONS

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(router)
    served = set(routes_of(app))
    assert served == set(ROUTE_PERMISSIONS)
    assert all(p in PERMISSIONS or p == "login" for p in ROUTE_PERMISSIONS.values())


def test_trigger_honours_score_filters_and_pilot_branches(client: Any) -> None:
    """A login by a customer below the score threshold, without a score, or outside the pilot branches sends
    nothing, and trigger_fire records why; a customer passing every filter is queued."""
    from kequn.campaigns import tables as T
    from kequn.segments import service as seg
    from kequn.segments.definitions import SegmentDef

    c, engine, app = client
    wh = app.state.campaigns_warehouse
    con = wh.con.con
    con.execute("INSERT INTO branch VALUES ('B0100', '一支行', 'branch', NULL, '长沙', NULL), "
                "('B0101', '一支行营业部', 'sub_branch', 'B0100', '长沙', NULL), "
                "('B0200', '二支行', 'branch', NULL, '长沙', NULL)")
    con.execute("INSERT INTO customer (customer_id, name, home_branch_id, onboarded_on, status) VALUES "
                "('K3', '王五', 'B0101', DATE '2020-01-01', 'active'), ('K4', '赵六', 'B0200', DATE '2020-01-01', 'active'), "
                "('K5', '钱七', 'B0101', DATE '2020-01-01', 'active')")
    con.execute("INSERT INTO consent SELECT 'c' || customer_id, customer_id, 'marketing', 'app_push', 'granted', "
                "TIMESTAMP '2025-01-01 09:00:00', 'app' FROM customer WHERE customer_id IN ('K3', 'K4', 'K5')")
    con.execute("CREATE TABLE model_score (entity VARCHAR, customer_id VARCHAR, score_name VARCHAR, as_of DATE, "
                "score DOUBLE, reasons VARCHAR, model VARCHAR)")
    # K3 scored 0.2 earlier but 0.8 lately (the latest counts); K5 only 0.1; K4 0.9 but in a non-pilot branch
    con.execute("INSERT INTO model_score VALUES ('customer', 'K3', 'wealth_propensity', DATE '2026-01-01', 0.2, '', 'm'), "
                "('customer', 'K3', 'wealth_propensity', DATE '2026-06-01', 0.8, '', 'm'), "
                "('customer', 'K5', 'wealth_propensity', DATE '2026-06-01', 0.1, '', 'm'), "
                "('customer', 'K4', 'wealth_propensity', DATE '2026-06-01', 0.9, '', 'm')")
    seg.create(engine, wh, SegmentDef(id="pilot_pop", name_zh="试点客群", name_en="x", static=True), "maker_a",
               ids=["K1", "K3", "K4", "K5"])
    seg.approve(engine, "pilot_pop", "checker_b")
    spec = {"campaign_id": "pilot-login", "name": "试点登录礼",
            "audience": {"segment_id": "pilot_pop", "branches": ["B0100"],
                         "scores": [{"score_name": "wealth_propensity", "min": 0.5}]},
            "offer": {"kind": "reward", "code": "coupon", "name": "消费券"}, "control_share": 0.0, "holdout_share": 0.0,
            "channels": [{"channel": "app_push", "template": "{offer_name}"}],
            "schedule": {"kind": "event", "touchpoint_id": "TP-WEB-001", "dormant_days": 0}}
    assert c.post("/api/campaigns", json={**spec, "maker": "maker_a"}).status_code == 200
    assert c.post("/api/campaigns/pilot-login/approve", json={"checker": "checker_b"}).status_code == 200
    assert c.post("/api/campaigns/pilot-login/launch", json={"actor": "maker_a"}).json()["status"] == "live"
    batch = [{"event_id": f"web-{k}", "customer_id": k, "touchpoint_id": "TP-WEB-001", "ts": _now_local()}
             for k in ("K1", "K3", "K4", "K5")]
    assert c.post("/api/events", json=batch).json()["accepted"] == 4
    app.state.campaigns_triggers.flush(timeout=10)
    with engine.connect() as conn:
        fires = dict(conn.execute(sa.select(T.trigger_fire.c.customer_id, T.trigger_fire.c.outcome)
                                  .where(T.trigger_fire.c.campaign_id == "pilot-login")).all())
        queued = [r[0] for r in conn.execute(sa.select(T.outbox.c.customer_id)
                                              .where(T.outbox.c.campaign_id == "pilot-login"))]
        assigned = {r[0] for r in conn.execute(sa.select(T.assignment.c.customer_id)
                                               .where(T.assignment.c.campaign_id == "pilot-login"))}
    assert fires == {"K1": "no_score", "K3": "queued", "K4": "outside_pilot", "K5": "below_score"}
    assert queued == ["K3"] and assigned == {"K3"}  # the refused are not part of the campaign at all


def test_trigger_round_keeps_caps_and_writes_in_bulk(client: Any) -> None:
    """Batches that queued up are evaluated together; two logins of one customer in the same round see the
    first contact under the frequency cap (cap 1 → one queued, one suppressed), every event gets exactly one
    trigger_fire row, and the assignment is written once."""
    from kequn.campaigns import events, service
    from kequn.campaigns import tables as T
    from kequn.domain.campaigns import PolicyConfig

    c, engine, app = client
    wh = app.state.campaigns_warehouse
    _approved_static_segment(engine, wh, "gift_list", "礼券名单")
    spec = {"campaign_id": "login-gift", "name": "登录礼", "audience": {"segment_id": "gift_list"},
            "offer": {"kind": "reward", "code": "coupon", "name": "消费券"}, "control_share": 0.0, "holdout_share": 0.0,
            "channels": [{"channel": "app_push", "template": "{surname_title}，礼券已到账"}],
            "schedule": {"kind": "event", "touchpoint_id": "TP-APP-001"}}
    assert c.post("/api/campaigns", json={**spec, "maker": "maker_a"}).status_code == 200
    assert c.post("/api/campaigns/login-gift/approve", json={"checker": "checker_b"}).status_code == 200
    assert c.post("/api/campaigns/login-gift/launch", json={"actor": "maker_a"}).json()["status"] == "live"
    quiet = PolicyConfig(quiet_start=dt.time(0, 0), quiet_end=dt.time(0, 0), caps={"app_push": 1})
    ev = events.TriggerEvaluator(engine, lambda fn: fn(wh), cfg=quiet)
    now = dt.datetime.now(dt.UTC)
    batch = [{"event_id": f"g{i}", "customer_id": "K1", "touchpoint_id": "TP-APP-001", "ts": now, "received_at": now}
             for i in range(3)]
    assert ev.evaluate(batch) == 3
    with engine.connect() as conn:
        fires = sorted(r[0] for r in conn.execute(sa.select(T.trigger_fire.c.outcome)
                                                  .where(T.trigger_fire.c.campaign_id == "login-gift")))
        assert conn.execute(sa.select(sa.func.count()).select_from(T.outbox)
                            .where(T.outbox.c.campaign_id == "login-gift")).scalar_one() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(T.assignment)
                            .where(T.assignment.c.campaign_id == "login-gift")).scalar_one() == 1
    assert fires[-1] == "queued" and fires.count("queued") == 1 and len(fires) == 3, fires
    assert service.get(engine, "login-gift")["status"] == "live"
