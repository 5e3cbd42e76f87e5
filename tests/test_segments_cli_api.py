"""`kequn segments|journeys|graph` commands and the segments API router, end to end on the small bank."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from test_segments_bank import AS_OF, build


@pytest.fixture
def stores(data_dir: Any) -> Any:
    from kequn.opstore import migrate, open_default
    from kequn.warehouse import open_default as open_wh

    wh = open_wh()
    build(wh)
    wh.close()
    engine = open_default()
    migrate(engine)
    return engine


def _cli(*args: str) -> Any:
    from kequn.cli import cmd_segments
    from kequn.cli.console import Console

    app = typer.Typer()

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = Console(json_mode=True)

    cmd_segments.register(app)
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_cli_maker_checker_size_and_export(stores: Any, tmp_path: Any) -> None:
    from kequn.errors import PermissionDenied
    from kequn.segments.service import usable

    assert not usable("payroll", stores)
    r = _cli("segments", "submit", "payroll", "--maker", "alice")
    assert json.loads(r.stdout)["status"] == "draft"
    with pytest.raises(PermissionDenied):
        _cli("segments", "approve", "payroll", "--checker", "alice")
    assert not usable("payroll", stores)
    r = _cli("segments", "approve", "payroll", "--checker", "bob")
    assert json.loads(r.stdout)["status"] == "approved" and usable("payroll", stores)
    r = _cli("segments", "size", "payroll", "--as-of", str(AS_OF), "--store")
    out = json.loads(r.stdout)
    assert out["size"] > 0 and out["trend"][-1]["size"] == out["size"]
    listed = {row["id"]: row for row in json.loads(_cli("segments", "list").stdout)}
    assert listed["payroll"]["status"] == "approved" and listed["dormant"]["status"] == "unsubmitted"
    r = _cli("segments", "export", "payroll", "--out", str(tmp_path / "p.csv"), "--as-of", str(AS_OF))
    assert json.loads(r.stdout)["rows"] == out["size"]


def test_cli_create_rejects_a_bad_rule_with_position(stores: Any) -> None:
    from kequn.errors import SegmentError

    with pytest.raises(SegmentError) as err:
        _cli("segments", "create", "x1", "--name", "测试", "--maker", "alice", "--rule", "payroll_flag and aum > ")
    assert err.value.position == len("payroll_flag and aum > ")
    r = _cli("segments", "create", "rich", "--name", "高资产", "--maker", "alice", "--rule", "aum >= 200000")
    assert json.loads(r.stdout)["version"] == 1


def test_cli_static_list_journeys_and_graph(stores: Any, tmp_path: Any) -> None:
    ids = tmp_path / "ids.csv"
    ids.write_text("C001\nC002\nC002\nC003\n", encoding="utf-8")
    _cli("segments", "create", "vip_list", "--name", "名单", "--maker", "alice", "--ids-file", str(ids))
    r = _cli("segments", "size", "vip_list", "--as-of", str(AS_OF))
    assert json.loads(r.stdout)["size"] == 3
    runs = json.loads(_cli("journeys", "run", "payroll", "--as-of", str(AS_OF)).stdout)
    funnel = json.loads(_cli("journeys", "funnel", "payroll", "--as-of", str(AS_OF)).stdout)
    assert funnel[0]["reached"] == runs[0]["customers"] > 0
    ent = json.loads(_cli("graph", "enterprise", "E1", "--as-of", str(AS_OF)).stdout)
    assert ent["employees"] > 0 and 0 <= ent["penetration_credit_card"] <= 1
    prof = json.loads(_cli("segments", "profile", "payroll", "--as-of", str(AS_OF)).stdout)
    assert prof["size"] > 0 and {t["tag"] for t in prof["tags"]} >= {"aum", "payroll_flag"}
    fell = json.loads(_cli("graph", "headcount-fell", "--as-of", str(AS_OF)).stdout)
    assert all(r["headcount"] < r["previous"] for r in fell)


def test_api_router(stores: Any) -> None:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from fastapi.testclient import TestClient

    from kequn.api.routes_segments import ROUTE_PERMISSIONS, router
    from kequn.errors import KequnError
    from kequn.warehouse import open_default

    app = FastAPI()
    app.include_router(router)
    app.state.segments_warehouse = open_default()
    app.state.segments_engine = stores

    @app.exception_handler(KequnError)
    def _h(_req: Any, exc: KequnError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    c = TestClient(app)
    bad = c.post("/api/segments/check", json={"rule": "payroll_flag == 3"}).json()
    assert bad["valid"] is False and bad["position"] == 16
    assert c.post("/api/segments/check", json={"rule": 'aum_tier >= "gold"'}).json() == {"valid": True}
    size = c.post("/api/segments/preview", json={"rule": "payroll_flag", "as_of": str(AS_OF)}).json()["size"]
    assert size > 0
    assert c.get("/api/segments/payroll/size", params={"as_of": str(AS_OF)}).json()["size"] == size
    rows = c.get("/api/segments/payroll/members", params={"as_of": str(AS_OF), "limit": 5}).json()["rows"]
    assert len(rows) == 5 and all("****" in r["phone"] for r in rows)
    made = c.post("/api/segments", json={"id": "api_seg", "name_zh": "接口", "name_en": "api", "rule": "loan_holder",
                                         "maker": "alice"}).json()
    assert made["status"] == "draft"
    assert c.post("/api/segments/api_seg/approve", json={"checker": "alice"}).status_code == 403
    assert c.post("/api/segments/api_seg/approve", json={"checker": "bob"}).json()["status"] == "approved"
    assert c.get("/api/segments/api_seg").json()["usable"] is True
    assert c.get("/api/segments/nope").status_code == 404
    for path, body in (("/api/segments/preview", {"rule": "payroll_flag", "as_of": 5}),
                       ("/api/segments/check", {"rule": "payroll_flag", "entity": 5}),
                       ("/api/segments", {"id": "s2", "name_zh": "x", "name_en": "x", "static": True, "ids": 7,
                                          "maker": "alice"}),
                       ("/api/segments/api_seg/approve", {"checker": "bob", "reject_reason": ["x"]})):
        bad_req = c.post(path, json=body)
        assert bad_req.status_code == 422, (path, bad_req.text)
    assert c.get("/api/journeys").status_code == 200
    prof = c.get("/api/segments/payroll/profile", params={"as_of": str(AS_OF), "tags": "aum,aum_tier"}).json()
    assert prof["size"] == size and [t["tag"] for t in prof["tags"]] == ["aum", "aum_tier"]
    assert c.get("/api/graph/enterprises/E0", params={"as_of": str(AS_OF)}).json()["employees"] > 0
    paths = {(m, r.path) for r in router.routes for m in getattr(r, "methods", ())}
    assert paths == set(ROUTE_PERMISSIONS)


def test_route_permissions_are_declared_roles_permissions() -> None:
    from kequn.api.routes_segments import ROUTE_PERMISSIONS
    from kequn.security.roles import PERMISSIONS

    assert set(ROUTE_PERMISSIONS.values()) <= set(PERMISSIONS)


def test_daily_step_snapshots_approved_segments_and_runs_tracks(stores: Any) -> None:
    from kequn.segments import service
    from kequn.warehouse import open_default

    wh = open_default()
    service.submit_shipped(stores, wh, "new_citizens", "alice")
    service.approve(stores, "new_citizens", "bob")
    service.submit_shipped(stores, wh, "payroll", "alice")  # still a draft: not snapshotted
    out = service.daily(wh, stores, AS_OF)
    assert set(out["segments"]) == {"new_citizens"} and out["segments"]["new_citizens"] > 0
    assert set(out["journeys"]) == {"payroll", "new_citizen", "credit_card"}
    assert out["journeys"]["new_citizen"]["customers"] == out["segments"]["new_citizens"]
    wh.close()


def test_usable_is_false_on_an_unmigrated_ops_store(tmp_path: Any) -> None:
    from kequn.opstore import engine_for
    from kequn.segments.service import usable

    assert usable("payroll", engine_for(f"sqlite:///{tmp_path / 'empty.sqlite'}")) is False
