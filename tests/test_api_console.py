"""The console's API and pages on a real tiny bank: figures, branch scope, masking everywhere (pages,
API, exports, logs), unmasking with a reason (audited), exports (audited), errors and security headers."""

from __future__ import annotations

import io
import logging
import re
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from test_api_support import CUSTOMERS, login, make_app

RAW = [v for name, idn, phone, _ in CUSTOMERS.values() for v in (name, idn, phone)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    app, wh, engine = make_app(tmp_path_factory.mktemp("api"))
    clients = {}
    for user in ("analyst", "manager", "rm", "auditor", "admin"):
        c = TestClient(app)
        c.headers["X-CSRF-Token"] = login(c, user)
        clients[user] = c
    return app, engine, clients


def _expected_aum(branches: set[str] | None) -> Decimal:
    total = Decimal(0)
    for i, (_, _, _, br) in enumerate(CUSTOMERS.values()):
        if branches is None or br in branches:
            total += Decimal(12000 * (i + 1) + 300000 * (i + 1))
    return total


def _no_raw(text: str) -> list[str]:
    return [v for v in RAW if v in text]


def test_overview_figures_follow_the_callers_scope(world):
    _, _, c = world
    bank = c["analyst"].get("/api/overview").json()
    assert bank["scope"] == "whole_bank" and bank["customers"] == 3
    assert Decimal(bank["aum"]) == _expected_aum(None)
    branch = c["manager"].get("/api/overview").json()
    assert branch["scope"] == ["B100", "B110"] and branch["customers"] == 2
    assert Decimal(branch["aum"]) == _expected_aum({"B100", "B110"})
    assert {b["branch_id"] for b in branch["branches"]} == {"B100", "B110"}
    assert sum(s["customers"] for s in branch["segments"]) == 2
    page = c["manager"].get("/").text
    assert 'id="kpi-customers">2<' in page and "株洲支行" not in page
    from kequn.services.governance import segment_list

    assert all(s["name_zh"] in page for s in segment_list(None))  # the bank's segments are listed


def test_search_is_scoped_sorted_paginated_and_masked(world):
    _, _, c = world
    rows = c["manager"].get("/api/customers?sort=customer_id&desc=true").json()["rows"]
    assert [r["customer_id"] for r in rows] == ["C002", "C001"]
    assert rows[0]["name"] == "欧阳**" and rows[0]["phone"] == "139****4321" and rows[0]["id_number"] == "430102********3456"
    assert c["manager"].get("/api/customers?q=C003").json()["total"] == 0  # another branch's customer is invisible
    assert c["analyst"].get("/api/customers?q=13700001111").json()["rows"][0]["customer_id"] == "C003"
    p = c["analyst"].get("/api/customers?size=2&page=2").json()
    assert (p["total"], p["pages"], [r["customer_id"] for r in p["rows"]]) == (3, 2, ["C003"])
    assert c["analyst"].get("/api/customers?sort=phone").status_code == 422
    bad = c["analyst"].get("/api/customers?q=C0%0001")  # a NUL (found by schemathesis): 422, never a 500
    assert bad.status_code == 422 and "position 3" in bad.text
    assert c["analyst"].get("/customers?q=%00").status_code == 422
    for user in ("analyst", "manager"):
        assert not _no_raw(c[user].get("/api/customers").text)
        assert not _no_raw(c[user].get("/customers?q=C00").text)


def test_360_masked_by_default_and_foreign_customers_hidden(world):
    _, _, c = world
    r = c["rm"].get("/api/customers/C002")
    assert r.status_code == 200 and not _no_raw(r.text)
    assert r.json()["customer"]["name"] == "欧阳**"
    page = c["rm"].get("/customers/C002").text
    assert "masked-notice" in page and not _no_raw(page)
    status = r.json()["customer"]["status"]  # coded values read in the reader's language
    assert f'data-field="status">{ {"active": "正常", "closed": "已关闭"}[status] }<' in page
    foreign = c["rm"].get("/api/customers/C003")
    assert foreign.status_code == 404 and foreign.json()["error"] == "not_found"


def test_unmask_needs_permission_and_reason_and_is_audited(world):
    _, engine, c = world
    from kequn.opstore import audit

    assert c["rm"].post("/api/customers/C001/unmask", json={"reason": "x"}).status_code == 422
    r = c["rm"].post("/api/customers/C001/unmask", json={"reason": "客户来电修改地址"})
    assert r.status_code == 200 and r.json()["customer"]["phone"] == "13812345678"
    page = c["rm"].post("/customers/C001/unmask", data={"reason": "柜面业务核验"})
    assert "张三" in page.text and "unmasked-notice" in page.text
    refused = c["analyst"].post("/api/customers/C001/unmask", json={"reason": "想看看"})
    assert refused.status_code == 403 and "13812345678" not in refused.text
    log = audit.entries(engine, target="customer:C001", limit=50)
    unmasks = [e for e in log if e.action == "customer.unmask"]
    assert {(e.actor, e.reason) for e in unmasks} >= {("rm", "客户来电修改地址"), ("rm", "柜面业务核验")}
    denied = audit.entries(engine, actor="analyst", limit=50)
    assert any(e.action == "access.denied" and "unmask" in e.target for e in denied)


def test_exports_are_masked_scoped_and_audited(world):
    _, engine, c = world
    from openpyxl import load_workbook

    from kequn.opstore import audit

    r = c["manager"].get("/customers/export.xlsx")
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.values)
    assert rows[0][:3] == ("客户号", "姓名", "手机号")
    assert sorted(row[0] for row in rows[1:]) == ["C001", "C002"]
    assert not _no_raw(" ".join(str(v) for row in rows for v in row))
    assert {row[2] for row in rows[1:]} == {"138****5678", "139****4321"}
    exports = [e for e in audit.entries(engine, actor="manager", limit=50) if e.action == "export"]
    assert exports and exports[0].target == "export:customers" and exports[0].details["rows"] == 2
    assert c["rm"].get("/customers/export.xlsx").status_code == 403  # RMs may not export lists


def test_audit_log_is_for_auditors_page_and_api(world):
    _, _, c = world
    c["manager"].get("/customers/C001")
    entries = c["auditor"].get("/api/audit?actor=manager").json()
    assert any(e["action"] == "customer.view" and e["target"] == "customer:C001" for e in entries)
    assert "customer.view" in c["auditor"].get("/audit").text
    assert c["analyst"].get("/api/audit").status_code == 403


def test_tags_and_dq_pages(world):
    _, _, c = world
    from kequn.services.governance import tag_catalogue

    data = c["analyst"].get("/api/tags").json()
    assert data["governance"]["total"] == len(data["tags"]) == len(tag_catalogue())
    page = c["analyst"].get("/tags?sort=id&desc=true").text
    assert f'id="gov-total">{len(tag_catalogue())}<' in page
    runs_table = page.split('id="tag-runs"', 1)[1].split("</table>", 1)[0]  # the latest tag runs
    assert "<td>customer</td><td>2026-11-29</td>" in runs_table and 'data-mode="full">全量</td>' in runs_table
    assert c["analyst"].get("/api/dq/runs").json() == []  # no DQ run yet in this ops store
    runs = c["analyst"].get("/api/tags/runs?entity=customer").json()
    assert [(r["entity"], r["as_of"], r["mode"]) for r in runs] == [("customer", "2026-11-29", "full")]
    assert runs[0]["rows"] > 0 and runs[0]["tags"] > 40
    assert c["analyst"].get("/api/tags/runs?entity=shop").status_code == 422
    rep = c["analyst"].get("/api/tags/report?target=aum").json()  # AUM split at its median
    assert rep["entity"] == "customer" and rep["as_of"] == "2026-11-29" and rep["rows"] == runs[0]["rows"]
    by_id = {t["id"]: t for t in rep["tags"]}
    assert by_id["aum"]["coverage"] == 1.0 and by_id["aum"]["iv"] is None and "recommendations" in rep
    bad = c["analyst"].get("/api/tags/report?target=city")
    assert bad.status_code == 422 and "flag or a number" in bad.text
    one = c["analyst"].get("/api/tags/report?target=overdue_flag")  # nobody is overdue in this bank
    assert one.status_code == 422 and "one value only" in one.text
    assert c["analyst"].get("/api/tags/report?as_of=2026-13-01").status_code == 422
    assert "数据质量历史" in c["analyst"].get("/dq").text


def test_security_headers_and_no_external_resources(world):
    _, _, c = world
    for path in ("/", "/customers", "/api/overview", "/login"):
        h = c["analyst"].get(path).headers
        assert "default-src 'self'" in h["content-security-policy"] and "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "same-origin" and h["cache-control"] == "no-store"
    home = c["analyst"].get("/").text
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', home)  # every script, style and link is ours
    assert c["analyst"].get("/static/vendor/plotly.min.js").status_code == 200
    assert "/api/customers" in c["analyst"].get("/docs").text


def test_errors_render_json_for_api_and_html_for_pages(world):
    app, _, c = world
    anon = TestClient(app)
    r = anon.get("/api/overview")
    assert r.status_code == 401 and r.json()["error"] == "authentication_error"
    assert anon.get("/customers", follow_redirects=False).headers["location"] == "/login"
    r = c["analyst"].get("/customers/NOPE")
    assert r.status_code == 404 and 'id="error-message"' in r.text
    assert c["analyst"].get("/api/nothing-here").json()["error"] == "http_error"
    bad = c["analyst"].get("/api/customers?size=0")
    assert bad.status_code == 422 and bad.json()["details"][0]["where"].endswith("size")


def test_english_switch_and_masked_access_log(world, caplog):
    _, _, c = world
    client = c["analyst"]
    client.get("/lang/en")
    assert "Customer search" in client.get("/customers").text
    client.get("/lang/zh")
    assert "客户搜索" in client.get("/customers").text
    with caplog.at_level(logging.INFO, logger="kequn.access"):
        client.get("/customers?q=13700001111")
        client.get("/api/customers?q=%E6%9D%8E%E5%9B%9B")
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "/customers?q" in logged and "13700001111" not in logged and "李四" not in logged and "%E6" not in logged
