"""The segments router behind the console's real gate (sign-in, role permissions, CSRF) on its tiny bank."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from test_api_support import login, make_app

AS_OF = "2026-11-29"


@pytest.fixture(scope="module")
def world(tmp_path_factory: Any) -> Any:
    app, wh, _engine = make_app(tmp_path_factory.mktemp("segapi"))
    clients = {}
    for user in ("analyst", "rm"):
        c = TestClient(app)
        c.headers["X-CSRF-Token"] = login(c, user)
        clients[user] = c
    return wh, clients


def test_segments_routes_behind_the_gate(world: Any) -> None:
    wh, clients = world
    analyst, rm = clients["analyst"], clients["rm"]
    listed = analyst.get("/api/segments")
    assert listed.status_code == 200 and {s["id"] for s in listed.json()} >= {"payroll", "new_citizens"}
    assert analyst.post("/api/segments/check", json={"rule": "new_citizen_flag"}).json() == {"valid": True}
    size = analyst.get("/api/segments/new_citizens/size", params={"as_of": AS_OF})
    assert size.status_code == 200, size.text
    expected = wh.table("profile_customer").filter(lambda t: t.new_citizen_flag).count().execute()
    assert size.json()["size"] == expected
    denied = rm.post("/api/segments", json={"id": "rm_seg", "name_zh": "x", "name_en": "x", "rule": "loan_holder"})
    assert denied.status_code == 403
    assert TestClient(analyst.app).get("/api/segments").status_code == 401
