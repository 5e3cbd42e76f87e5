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
