"""The campaigns router behind the console's real gate: pages (campaigns 监测图, leads inbox, 路线图) and
role permissions. The router is added to CAPABILITY_ROUTERS here as kequn.api.rules will list it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from test_api_support import login, make_app


@pytest.fixture
def world(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from kequn.api import rules

    if "kequn.api.routes_campaigns" not in rules.CAPABILITY_ROUTERS:
        monkeypatch.setattr(rules, "CAPABILITY_ROUTERS", (*rules.CAPABILITY_ROUTERS, "kequn.api.routes_campaigns"))
    rules.all_rules.cache_clear()
    app, _wh, engine = make_app(tmp_path)
    clients = {}
    for user in ("analyst", "rm"):
        c = TestClient(app)
        c.headers["X-CSRF-Token"] = login(c, user)
        clients[user] = c
    yield clients, engine
    rules.all_rules.cache_clear()


def test_pages_and_permissions(world: Any) -> None:
    clients, engine = world
    analyst, rm = clients["analyst"], clients["rm"]
    spec = {"campaign_id": "push-1", "name": "推送测试", "audience": {"segment_id": "payroll"},
            "offer": {"kind": "reward", "code": "coupon", "name": "消费券"},
            "channels": [{"channel": "app_push", "template": "{offer_name}"}],
            "schedule": {"kind": "one_off", "at": "2026-11-16T10:00:00+08:00"}}
    assert analyst.post("/api/campaigns", json=spec).status_code == 200
    assert rm.post("/api/campaigns", json={**spec, "campaign_id": "push-2"}).status_code == 403
    page = analyst.get("/campaigns")
    assert page.status_code == 200 and "营销活动" in page.text and "push-1" in page.text and "批准" in page.text
    same = analyst.post("/campaigns/push-1/approve", follow_redirects=False)
    assert same.status_code == 403  # the maker cannot approve their own campaign
    assert rm.get("/leads").status_code == 200 and "商机" in rm.get("/leads").text
    road = analyst.get("/roadmap")
    assert road.status_code == 200 and "payroll-fuel" in road.text
    bad = analyst.post("/api/events", json=[{"event_id": "x"}])
    assert bad.status_code == 422
