"""The console in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium; never a
downloaded browser). Log in, search a customer, open the 360 page, see masked data, unmask with a reason as
a permitted role and be refused as another. Screenshots go to test-artifacts/ (gitignored).

Skips when Chromium or Playwright is missing, unless KEQUN_REQUIRE_SERVICES=1 (then it fails).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from test_api_support import PASSWORD, make_app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _require(what: str) -> None:
    msg = f"{what} is not available for the browser tests"
    if os.environ.get("KEQUN_REQUIRE_SERVICES") == "1":
        pytest.fail(msg + " (KEQUN_REQUIRE_SERVICES=1)")
    pytest.skip(msg)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        _require("Debian's chromium (/usr/bin/chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _require("the playwright Python package")
    import uvicorn

    app, _, _ = make_app(tmp_path_factory.mktemp("browser"))
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
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _login(browser, base: str, username: str):
    page = browser.new_page()
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")
    return page


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


def test_relationship_manager_searches_sees_masked_and_unmasks_with_reason(browser, server):
    page = _login(browser, server, "rm")
    assert page.inner_text("#whoami") == "rm"
    page.wait_for_selector("#chart-aum .main-svg")  # plotly.min.js served by Kequn drew the chart
    _shot(page, "home")
    page.click("a[href='/customers']")
    page.fill("#q", "欧阳")
    page.click("#search-submit")
    rows = page.locator("#customers tbody tr")
    assert rows.count() == 1 and "欧阳**" in rows.first.inner_text() and "139****4321" in rows.first.inner_text()
    _shot(page, "search")
    page.click("#customers tbody a")
    page.wait_for_selector("#masked-notice")
    body = page.inner_text("main")
    assert "139****4321" in body and "13987654321" not in body and "欧阳娜娜" not in body
    _shot(page, "360-masked")
    page.fill("#reason", "客户来电核实身份")
    page.click("#unmask-submit")
    page.wait_for_selector("#unmasked-notice")
    body = page.inner_text("main")
    assert "13987654321" in body and "欧阳娜娜" in body
    _shot(page, "360-unmasked")
    page.close()


def test_analyst_is_refused_unmasking_and_english_switch_works(browser, server):
    page = _login(browser, server, "analyst")
    page.goto(f"{server}/customers/C003")
    assert "137****1111" in page.inner_text("main")
    page.fill("#reason", "想看看完整号码")
    page.click("#unmask-submit")
    page.wait_for_selector("#error-message")
    assert page.get_attribute("#error-message", "data-code") == "permission_denied"
    assert "13700001111" not in page.content()
    _shot(page, "unmask-refused")
    page.goto(f"{server}/customers")
    page.click("#lang-switch")
    page.wait_for_selector("text=Customer search")
    _shot(page, "search-english")
    page.close()


def test_branch_manager_cannot_open_another_branchs_customer(browser, server):
    page = _login(browser, server, "manager")
    response = page.goto(f"{server}/customers/C003")
    assert response.status == 404 and "李四" not in page.content()
    page.close()
