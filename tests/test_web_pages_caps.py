"""Console pages for segments (list, builder, portrait), journeys (funnel), the enterprise panorama and loan
routing (ladder, decisions with their trail, the review queue) — on the small random bank of
tests/test_segments_bank.py, a migrated SQLite ops store with one user per role, an approved loan ladder and
one routed application."""

from __future__ import annotations

import re
from typing import Any

import pytest

from test_api_support import PASSWORD, add_users, login, settings
from test_segments_bank import AS_OF, build

GOOD = dict(application_id="A1", customer_id="C001", branch_id="B1", applied_on="2026-11-28", channel="app",
            age=35, monthly_income="12000", amount_requested="100000", term_months=24, region="430104",
            risk_grade="B", tags={"payroll_customer": True}, payroll_months=12)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from kequn.api import create_app
    from kequn.opstore import engine_for, migrate
    from kequn.routing import ladder
    from kequn.segments import journeys
    from kequn.warehouse import connect

    tmp = tmp_path_factory.mktemp("caps")
    wh = connect(f"duckdb:///{tmp / 'wh.duckdb'}")
    build(wh)
    journeys.run(wh, journeys.get_track("payroll"), AS_OF)
    engine = engine_for(f"sqlite:///{tmp / 'ops.sqlite'}")
    migrate(engine)
    add_users(engine)
    from kequn.services import users

    users.create_user(engine, "analyst2", "hq_analyst", password=PASSWORD, actor="test")  # the second pair of eyes
    req = ladder.submit(engine, ladder.load_ladder_file(ladder.DEFAULT_LADDER), "maker_li")
    ladder.approve(engine, req.id, "checker_wang")
    app = create_app(settings(), warehouse=wh, opstore=engine)
    client = TestClient(app)
    csrf = login(client, "analyst")
    r = client.post("/api/route", json=GOOD, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    return {"app": app, "client": client, "csrf": csrf, "wh": wh, "decision": r.json()["decision_id"]}


def test_segment_list_shows_sizes_equal_to_the_service(world: dict[str, Any]) -> None:
    from kequn.segments import definitions, service

    c = world["client"]
    page = c.get(f"/segments?as_of={AS_OF}")
    assert page.status_code == 200
    seg = definitions.load_shipped()["payroll"]
    size = service.size(world["wh"], seg, AS_OF)
    assert size > 0
    row = re.search(r'href="/segments/payroll">payroll</a>.*?<td class="num">(\d+)</td>', page.text, re.S)
    assert row and int(row.group(1)) == size
    assert 'href="/journeys/payroll"' in page.text
    assert 'href="/segments"' in page.text  # the nav link


def test_builder_page_uses_local_script_and_the_check_api(world: dict[str, Any]) -> None:
    c, h = world["client"], {"X-CSRF-Token": world["csrf"]}
    page = c.get("/segments/builder")
    assert page.status_code == 200 and '<script src="/static/segments.js">' in page.text
    assert "<script>" not in page.text  # CSP: no inline script
    js = c.get("/static/segments.js").text
    assert "/api/segments/check" in js and "/api/segments/preview" in js
    bad = c.post("/api/segments/check", json={"rule": "payroll_flag and and"}, headers=h).json()
    assert bad["valid"] is False and bad["position"] is not None
    good = c.post("/api/segments/preview", json={"rule": "payroll_flag", "as_of": str(AS_OF)}, headers=h).json()
    assert good["size"] == int(re.search(r'href="/segments/payroll">payroll</a>.*?<td class="num">(\d+)</td>',
                                         c.get(f"/segments?as_of={AS_OF}").text, re.S).group(1))


def test_portrait_page_shows_the_segment_size(world: dict[str, Any]) -> None:
    c = world["client"]
    api = c.get(f"/api/segments/payroll/profile?as_of={AS_OF}").json()
    page = c.get(f"/segments/payroll?as_of={AS_OF}")
    assert page.status_code == 200
    assert re.search(rf'id="portrait-size">[^<]*<b>{api["size"]}</b>', page.text)
    for tag in api["tags"]:
        assert f"<td>{tag['tag']}</td>" in page.text
    assert c.get("/segments/nope").status_code == 404


def test_journey_funnel_page_matches_the_api(world: dict[str, Any]) -> None:
    c = world["client"]
    api = c.get(f"/api/journeys/payroll/funnel?as_of={AS_OF}").json()
    page = c.get(f"/journeys/payroll?as_of={AS_OF}")
    assert page.status_code == 200 and "/static/vendor/plotly.min.js" in page.text and "/static/funnel.js" in page.text
    data = re.search(r'id="funnel-data">(.*?)</script>', page.text, re.S).group(1)
    import json

    chart = json.loads(data)
    main = [f for f in api["funnel"] if not f.get("side")]
    assert chart["reached"] == [f["reached"] for f in main] and sum(chart["reached"]) > 0


def test_panorama_page_counts_and_masks(world: dict[str, Any]) -> None:
    c = world["client"]
    api = c.get(f"/api/graph/enterprises/E0?as_of={AS_OF}").json()
    page = c.get(f"/panorama/E0?as_of={AS_OF}")
    assert page.status_code == 200
    assert f'id="employees">{api["employees"]}<' in page.text
    links = re.findall(r'<td>E0</td><td>→</td>', page.text)
    assert len(links) == api["employees"] > 0
    for full in ("张三", "李四", "欧阳娜娜"):
        assert full not in page.text  # names are masked
    assert "E0" in c.get(f"/panorama?as_of={AS_OF}").text


def test_loans_pages_ladder_decision_trail_and_review(world: dict[str, Any]) -> None:
    from kequn.routing import ladder

    c, did = world["client"], world["decision"]
    page = c.get("/loans")
    spec = ladder.load_ladder_file(ladder.DEFAULT_LADDER)
    assert page.status_code == 200 and f'href="/loans/decisions/{did}"' in page.text
    for p in spec.products:
        assert p.id in page.text
    detail = c.get(f"/loans/decisions/{did}")
    assert detail.status_code == 200 and 'id="trail"' in detail.text
    api = c.get(f"/api/loan-decisions/{did}").json()
    assert len(re.findall(r"<tr><td>\d+</td><td>[^<]+ <small>", detail.text)) == len(api["trail"])
    r = c.post(f"/loans/decisions/{did}/review", data={"csrf_token": world["csrf"], "reason": "客户要求人工复核"},
               follow_redirects=False)
    assert r.status_code == 303
    queue = c.get("/loans/reviews")
    rid = int(re.search(r'action="/loans/reviews/(\d+)/decide"', queue.text).group(1))
    form = {"csrf_token": world["csrf"], "status": "upheld", "note": "规则核对无误"}
    assert c.post(f"/loans/reviews/{rid}/decide", data=form, follow_redirects=False).status_code == 403  # 4 eyes
    from fastapi.testclient import TestClient

    other = TestClient(world["app"])
    form["csrf_token"] = login(other, "analyst2")
    assert other.post(f"/loans/reviews/{rid}/decide", data=form, follow_redirects=False).status_code == 303
    assert f'action="/loans/reviews/{rid}/decide"' not in c.get("/loans/reviews").text
    assert "upheld" in c.get(f"/loans/decisions/{did}").text
