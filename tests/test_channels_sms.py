"""The HTTP SMS gateway adapter against a tiny fake gateway on 127.0.0.1, retries with backoff, delivery
receipts, and a send job killed with SIGKILL mid-run and restarted: nothing is sent twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

NOW = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


class FakeGateway:
    """An SMS gateway: dedups by send key (409), can fail the first N sends (500), keeps every POST."""

    def __init__(self, fail_first: int = 0, delay_s: float = 0.0) -> None:
        self.posts: list[dict[str, Any]] = []
        self.held: dict[str, int] = {}
        self.fail_left = fail_first
        self.delay_s = delay_s
        self.lock = threading.Lock()
        gw = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _answer(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(gw.delay_s)
                with gw.lock:
                    gw.posts.append(body)
                    if gw.fail_left > 0:
                        gw.fail_left -= 1
                        return self._answer(500, {"error": "busy"})
                    if body["send_key"] in gw.held:
                        return self._answer(409, {"id": gw.held[body["send_key"]]})
                    gw.held[body["send_key"]] = len(gw.held) + 1
                    return self._answer(200, {"id": gw.held[body["send_key"]]})

            def do_GET(self) -> None:  # noqa: N802
                url = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(url.query)
                with gw.lock:
                    if url.path == "/status":
                        key = q["send_key"][0]
                        return self._answer(200, {"id": gw.held[key], "status": "accepted"}) if key in gw.held \
                            else self._answer(404, {"error": "unknown"})
                    after = int(q.get("after", ["0"])[0])
                    rec = [{"seq": i, "send_key": k, "status": "delivered" if i % 10 else "failed",
                            "at": "2026-11-02T02:00:05+00:00"} for k, i in gw.held.items() if i > after]
                    return self._answer(200, {"receipts": rec})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def _store(tmp_path: Path, n: int) -> tuple[str, Any]:
    from kequn.campaigns import service
    from kequn.campaigns import tables as T
    from kequn.opstore import engine_for, migrate

    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    migrate(url)
    engine = engine_for(url)
    service.submit(engine, service.parse_spec({
        "campaign_id": "sms-1", "name": "短信", "audience": {"segment_id": "s"},
        "offer": {"kind": "reward", "code": "coupon", "name": "消费券"},
        "channels": [{"channel": "sms", "template": "{surname_title}，{offer_name}已到账。回T退订"}],
        "schedule": {"kind": "one_off", "at": "2026-11-02T10:00:00+08:00"}}), "maker_a")
    with engine.begin() as conn:
        conn.execute(T.outbox.insert(), [dict(send_key=f"r1|K{i:04d}|sms", run_id="r1", campaign_id="sms-1",
                                              customer_id=f"K{i:04d}", channel="sms", transactional=0, status="pending",
                                              attempts=0, not_before=NOW, created_at=NOW) for i in range(n)])
    return url, engine


def _directory(n: int) -> Any:
    from kequn.campaigns.directory import DictDirectory

    return DictDirectory({f"K{i:04d}": {"name": "王小明", "gender": "M", "phone": f"138{i:08d}", "branch_id": "B0101"}
                          for i in range(n)})


def test_sms_gateway_send_retry_and_receipts(tmp_path: Path) -> None:
    from kequn.campaigns import tables as T
    from kequn.campaigns.sender import Sender
    from kequn.channels.http import sms_gateway

    url, engine = _store(tmp_path, 20)
    clock = [NOW]
    with FakeGateway(fail_first=3) as gw:
        sender = Sender(engine, {"sms": sms_gateway(gw.url)}, _directory(20), clock=lambda: clock[0], backoff_s=1)
        first = sender.run()
        assert first.retried == 3 and first.sent == 17
        clock[0] = NOW + dt.timedelta(seconds=5)  # after the backoff
        sender.run()
        assert len(gw.held) == 20
        text = gw.posts[-1]["text"]
        assert text.startswith("王先生") and text.endswith("回T退订")
        with engine.connect() as conn:
            status = dict(conn.execute(sa.select(T.outbox.c.status, sa.func.count()).group_by(T.outbox.c.status)).all())
            attempts = conn.execute(sa.select(sa.func.count()).select_from(T.send_attempt)).scalar_one()
    assert status == {"delivered": 18, "failed": 2}  # every 10th receipt says failed
    assert attempts == 23


def test_opt_out_takes_effect_before_the_next_send_and_quiet_hours_defer(tmp_path: Path) -> None:
    from kequn.campaigns import tables as T
    from kequn.campaigns.sender import Sender, record_opt_out
    from kequn.channels.http import sms_gateway

    url, engine = _store(tmp_path, 5)
    record_opt_out(engine, "K0001", "sms", source="sms_reply_T")
    night = dt.datetime(2026, 11, 2, 14, 0, tzinfo=dt.UTC)  # 22:00 Shanghai
    with FakeGateway() as gw:
        s = Sender(engine, {"sms": sms_gateway(gw.url)}, _directory(5), clock=lambda: night)
        st = s.run()
        assert gw.posts == [] and st.deferred == 4 and st.suppressed == 1
        s.clock = lambda: NOW + dt.timedelta(days=1)
        s.run()
        assert sorted(p["to"][-4:] for p in gw.posts) == ["0000", "0002", "0003", "0004"]
    with engine.connect() as conn:
        reasons = [r[0] for r in conn.execute(sa.select(T.suppression.c.reason))]
    assert reasons == ["opted_out"]


WORKER = textwrap.dedent("""
    import datetime as dt, sys
    from kequn.opstore import engine_for
    from kequn.campaigns.sender import Sender
    from kequn.campaigns.directory import DictDirectory
    from kequn.channels.http import sms_gateway
    url, gateway, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    d = DictDirectory({f"K{i:04d}": {"name": "李四", "gender": "F", "phone": f"139{i:08d}"} for i in range(n)})
    now = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)
    Sender(engine_for(url), {"sms": sms_gateway(gateway)}, d, clock=lambda: now).run(batch=25)
    print("done", flush=True)
""")


def test_killed_send_job_restarted_sends_nothing_twice(tmp_path: Path) -> None:
    from kequn.campaigns import tables as T

    n = 120
    url, engine = _store(tmp_path, n)
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with FakeGateway(delay_s=0.01) as gw:
        proc = subprocess.Popen([sys.executable, str(script), url, gw.url, str(n)], env=env)
        deadline = time.monotonic() + 60
        while len(gw.posts) < 40 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        killed_at = len(gw.posts)
        assert 0 < killed_at < n, "the kill must land mid-run"
        with engine.connect() as conn:
            in_flight = conn.execute(sa.select(sa.func.count()).select_from(T.outbox)
                                     .where(T.outbox.c.status == "sending")).scalar_one()
        assert in_flight > 0  # claimed rows were left behind by the killed worker
        done = subprocess.run([sys.executable, str(script), url, gw.url, str(n)], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        per_key = Counter(p["send_key"] for p in gw.posts)
    assert len(per_key) == n
    assert max(per_key.values()) == 1, [k for k, v in per_key.items() if v > 1]  # the gateway never saw a key twice
    with engine.connect() as conn:
        left = dict(conn.execute(sa.select(T.outbox.c.status, sa.func.count()).group_by(T.outbox.c.status)).all())
    assert set(left) <= {"sent", "delivered", "failed"} and sum(left.values()) == n


@pytest.mark.parametrize("code,retryable", [(503, True), (429, True), (400, False)])
def test_gateway_errors_classified(code: int, retryable: bool) -> None:
    from kequn.channels.base import Message
    from kequn.channels.http import HttpChannel

    class One(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    srv = ThreadingHTTPServer(("127.0.0.1", 0), One)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        ch = HttpChannel("sms", f"http://127.0.0.1:{srv.server_address[1]}")
        (res,) = ch.send([Message("k", "c", "K1", "sms", "hi", "13800000000", {})])
    finally:
        srv.shutdown()
        srv.server_close()
    assert not res.ok and res.retryable is retryable and str(code) in (res.error or "")
