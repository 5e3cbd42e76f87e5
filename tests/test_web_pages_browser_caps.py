"""The segment builder and the journey funnel in a real browser (Playwright driving Debian's Chromium, as in
tests/test_browser_console.py): typing a rule checks and sizes it live through the REST API, an error is
marked at its position, and the funnel chart is drawn by the locally served plotly.

Skips when Chromium or Playwright is missing, unless KEQUN_REQUIRE_SERVICES=1 (then it fails).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from test_api_support import PASSWORD, add_users, settings
from test_browser_console import ARGS, CHROMIUM, _require
from test_segments_bank import AS_OF, build


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import shutil

    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        _require("Debian's chromium (/usr/bin/chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _require("the playwright Python package")
    import uvicorn

    from kequn.api import create_app
    from kequn.opstore import engine_for, migrate
    from kequn.segments import journeys
    from kequn.warehouse import connect

    tmp = tmp_path_factory.mktemp("caps-browser")
    wh = connect(f"duckdb:///{tmp / 'wh.duckdb'}")
    build(wh)
    journeys.run(wh, journeys.get_track("payroll"), AS_OF)
    engine = engine_for(f"sqlite:///{tmp / 'ops.sqlite'}")
    migrate(engine)
    add_users(engine)
    app = create_app(settings(), warehouse=wh, opstore=engine)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", wh
    srv.should_exit = True
    thread.join(timeout=5)


def test_builder_checks_and_sizes_live_and_funnel_is_drawn(server: Any) -> None:
    from playwright.sync_api import sync_playwright

    from kequn.segments import definitions, service

    base, wh = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(f"{base}/login")
        page.fill("#username", "analyst")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(f"{base}/")
        page.click("a[href='/segments']")
        page.click("a[href='/segments/builder']")
        page.fill("textarea[name=rule]", "payroll_flag and and")
        page.wait_for_selector("#builder-result.error")
        assert "^" in page.inner_text("#builder-result")  # the caret under the error's position
        page.fill("textarea[name=rule]", "payroll_flag")
        page.wait_for_selector("#builder-result.ok:has-text(':')")  # checked, then sized
        import datetime as dt

        want = service.size(wh, definitions.load_shipped()["payroll"], dt.date.today())
        assert page.inner_text("#builder-result").split(":")[1].split("(")[0].strip() == str(want)
        page.goto(f"{base}/journeys/payroll?as_of={AS_OF}")
        page.wait_for_selector("#chart-funnel .main-svg")
        browser.close()


def test_panorama_graph_is_drawn_in_the_browser(server: Any) -> None:
    """The enterprise → employee SVG and the G→B→C chain render (non-empty boxes) with as many nodes and
    edges as SQL says, and the page logs no error (no CSP violation)."""
    import datetime as dt

    from playwright.sync_api import sync_playwright

    base, wh = server
    first = AS_OF - dt.timedelta(days=30)
    n = wh.con.con.execute(f"""SELECT count(DISTINCT i.customer_id) FROM payroll_item i JOIN payroll_batch b
        USING (batch_id) WHERE b.enterprise_id = 'E0' AND b.pay_date BETWEEN DATE '{first}' AND DATE '{AS_OF}'""").fetchone()[0]
    members = wh.con.con.execute("SELECT count(*) FROM relationship WHERE kind = 'programme_member' "
                                 "AND from_id = (SELECT from_id FROM relationship WHERE kind = 'programme_member' "
                                 "AND to_id = 'E0')").fetchone()[0]
    assert n > 0 and members > 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource"
                not in m.text else None)  # failed loads are reported below with their address
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400
                and not r.url.endswith("/favicon.ico") else None)
        page.goto(f"{base}/login")
        page.fill("#username", "analyst")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(f"{base}/")
        page.goto(f"{base}/panorama/E0?as_of={AS_OF}")
        page.wait_for_selector("#pano-graph")
        assert page.locator("#pano-graph g.node[data-kind=employee]").count() == min(n, 60)
        assert page.locator("#pano-graph line.edge").count() == min(n, 60) + (1 if n > 60 else 0)
        assert page.locator("#chain-graph g.node[data-kind=enterprise]").count() == members
        for sel in ("#pano-graph", "#chain-graph"):
            box = page.locator(sel).bounding_box()
            assert box and box["width"] > 100 and box["height"] > 100, sel
        circle = page.locator("#pano-graph g.node[data-kind=employee] circle").first.bounding_box()
        assert circle and circle["width"] > 3  # drawn, not collapsed
        shots = Path(__file__).resolve().parents[1] / "test-artifacts"
        shots.mkdir(exist_ok=True)
        page.screenshot(path=str(shots / "panorama-graph.png"), full_page=True)
        assert not errors, errors
        browser.close()
