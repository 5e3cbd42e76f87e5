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


def test_monitor_shows_each_segments_process_and_result_indicators(world: Any) -> None:
    """监测图: per audience segment, reach / delivered / suppressed by reason / leads within SLA and conversions
    by kind with lift and CI, on the page (zh and en) and at GET /api/monitor/segments."""
    import datetime as dt
    import re
    from pathlib import Path

    from kequn.campaigns import tables as T
    from kequn.domain.campaigns import ArmStats, lift

    clients, engine = world
    analyst = clients["analyst"]
    spec = {"campaign_id": "mon-1", "name": "理财开户礼", "audience": {"segment_id": "payroll"},
            "offer": {"kind": "product", "code": "wealth", "name": "理财", "expected_value_fen": 10000},
            "channels": [{"channel": "app_push", "template": "{offer_name}"}],
            "schedule": {"kind": "one_off", "at": "2026-11-16T10:00:00+08:00"},
            "conversions": [{"kind": "product_opened"}, {"kind": "aum_up"}]}
    assert analyst.post("/api/campaigns", json=spec).status_code == 200
    now = dt.datetime(2026, 11, 16, 2, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(T.campaign_run.insert().values(run_id="m1", campaign_id="mon-1", version=1, started_at=now,
                                                    as_of=dt.date(2026, 11, 16), counts="{}"))
        arms = ["treatment" if i % 5 else "control" for i in range(100)]  # 80 / 20
        conn.execute(T.assignment.insert(), [dict(run_id="m1", campaign_id="mon-1", customer_id=f"C{i}", arm=a,
                                                  branch_id="B100", eligible=1) for i, a in enumerate(arms)])
        conn.execute(T.response.insert(), [dict(run_id="m1", campaign_id="mon-1", customer_id=f"C{i}", arm=a,
                                                converted=int(i % 4 == 1 if a == "treatment" else i == 0), redeemed=0,
                                                amount=0, source=src, observed_at=now)
                                           for i, a in enumerate(arms) for src in ("product_opened", "aum_up")])
        conn.execute(T.outbox.insert(), [dict(send_key=f"m1|C{i}|app_push", run_id="m1", campaign_id="mon-1",
                                              customer_id=f"C{i}", channel="app_push", transactional=0,
                                              status="delivered" if i % 3 else "sent", attempts=1, not_before=now,
                                              created_at=now) for i, a in enumerate(arms) if a == "treatment" and i < 60])
        conn.execute(T.suppression.insert(), [dict(run_id="m1", campaign_id="mon-1", customer_id=f"C{i}",
                                                   channel="app_push", reason="no_consent", at=now)
                                              for i in range(60, 100) if arms[i] == "treatment"])
        conn.execute(T.lead.insert(), [
            dict(source="campaign", source_ref="m1|C1", campaign_id="mon-1", customer_id="C1", branch_id="B100", product="wealth",
                 status="contacted", created_at=now, due_on=dt.date(2026, 11, 18), contacted_at=now),
            dict(source="campaign", source_ref="m1|C2", campaign_id="mon-1", customer_id="C2", branch_id="B100", product="wealth",
                 status="new", created_at=now, due_on=dt.date(2026, 11, 18), contacted_at=None)])
    treat_conv = sum(1 for i, a in enumerate(arms) if a == "treatment" and i % 4 == 1)
    ref = lift(ArmStats(80, treat_conv, treat_conv), ArmStats(20, 1, 1))

    api = analyst.get("/api/monitor/segments")
    assert api.status_code == 200
    (seg,) = [s for s in api.json() if s["segment_id"] == "payroll"]
    assert seg["campaigns"] == ["mon-1"]
    p = seg["process"]
    sent_n = len([i for i, a in enumerate(arms) if a == "treatment" and i < 60])
    assert p["queued"] == p["sent"] == sent_n and p["delivered"] == len([i for i, a in enumerate(arms)
                                                                         if a == "treatment" and i < 60 and i % 3])
    assert p["suppressed"]["no_consent"]["count"] == 80 - sent_n
    assert p["leads_sla"]["total"] == 2 and p["leads_sla"]["contacted_in_sla"] == 1
    conv = seg["result"]["conversions"]
    assert set(conv) == {"product_opened", "aum_up"}
    assert conv["product_opened"]["n_treatment"] == 80 and conv["product_opened"]["conversions_control"] == 1
    assert conv["product_opened"]["lift"]["diff"] == pytest.approx(ref.diff)
    assert conv["product_opened"]["lift"]["ci95"] == pytest.approx([ref.low, ref.high])
    assert analyst.get("/api/monitor/segments?until=2026-11-01&days=14").json() == []  # the run is later
    assert analyst.get("/api/monitor/segments?until=nope").status_code == 422

    page = analyst.get("/campaigns")
    assert page.status_code == 200
    html = page.text
    assert "分客群监测" in html and 'id="segment-payroll"' in html and "开立产品" in html and "资产提升" in html
    assert "无该渠道营销授权" in html and "时限内联系" in html
    assert f"{100 * ref.diff:+.2f} pp [{100 * ref.low:+.2f}, {100 * ref.high:+.2f}]" in html
    analyst.cookies.set("lang", "en")
    en = analyst.get("/campaigns").text
    assert "Segment indicators" in en and "Product opened" in en and "Contacted within SLA" in en
    # a campaign launched without a control group and not yet observed: unbounded intervals are null, not a 500
    assert analyst.post("/api/campaigns", json={**spec, "campaign_id": "mon-2", "audience": {"segment_id": "vip"},
                                                "control_share": 0.0}).status_code == 200
    with engine.begin() as conn:
        conn.execute(T.campaign_run.insert().values(run_id="m2", campaign_id="mon-2", version=1, started_at=now,
                                                    as_of=dt.date(2026, 11, 16), counts="{}"))
        conn.execute(T.assignment.insert(), [dict(run_id="m2", campaign_id="mon-2", customer_id=f"C{i}",
                                                  arm="treatment", branch_id="B100", eligible=1) for i in range(5)])
        conn.execute(T.response.insert(), [dict(run_id="m2", campaign_id="mon-2", customer_id=f"C{i}",
                                                arm="treatment", converted=0, redeemed=0, amount=0,
                                                source="product_opened", observed_at=now) for i in range(5)])
    segs = {s["segment_id"]: s for s in analyst.get("/api/monitor/segments").json()}
    assert segs["vip"]["result"]["conversions"]["product_opened"]["lift"]["ci95"] == [None, None]
    review_json = analyst.get("/api/review?until=2026-11-20")
    assert review_json.status_code == 200
    (m2,) = [c for c in review_json.json()["campaigns"] if c["campaign_id"] == "mon-2"]
    assert m2["lift"]["ci95"] == [None, None]
    assert analyst.get("/api/campaigns/mon-2/results").status_code == 200
    assert analyst.get("/campaigns").status_code == 200
    # every label the campaign pages use exists in both languages
    from kequn.web import i18n

    cat = i18n.catalogue()
    tpl = Path(i18n.__file__).resolve().parent / "templates" / "campaigns"
    keys = {k for p in tpl.glob("*.html") for k in re.findall(r"""\bt\(\s*['"]([a-zA-Z0-9_]+)['"]\s*\)""",
                                                            p.read_text(encoding="utf-8"))}
    kinds = {f"cm_kind_{k}" for k in ("sandbox", "product_opened", "reward_redeemed", "aum_up")}
    assert keys and not (keys | kinds) - set(cat)
