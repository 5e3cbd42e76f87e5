"""Campaign benchmarks (issue 10).

1. Policy into the outbox: a campaign whose audience is 1,000,000 customers (score threshold) goes through
   the whole launch — audience, sticky arms, the vectorised contact policy (consent per channel, opt-outs,
   no-personalisation, caps across campaigns, arbitration) and the bulk writes of assignments, suppressed
   contacts and the outbox into the SQLite ops store. Goal ≤ 60 s. Same-run baseline: writing the same
   number of outbox rows alone (the floor of the write).
2. Event ingestion over HTTP: uvicorn on 127.0.0.1 (started here) serving the campaigns router; batches of
   events (10% repeats) posted by keep-alive clients; goal ≥ 20,000 events/s with dedup. Same-run baseline:
   a no-op route that reads the same bodies.
3. Trigger delay: the same server with a live event-triggered campaign (login touchpoint, audience = score
   ≥ 0.8, so a fifth of the customers pass and the rest are refused with a reason); login events are posted
   at a steady rate (``--trigger-rate`` events/s for ``--trigger-seconds``) in small batches, then the
   delay of every trigger decision is read from ``trigger_fire`` (fired_at − received_at, both stamped by
   the server). Goal "triggers fire within seconds": p99 ≤ 5 s.

    .venv/bin/python bench/campaigns.py [--customers 1000000] [--requests 120] [--batch 2000]
        [--trigger-rate 5000] [--trigger-seconds 20] [--no-doc]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

NOW = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)


def build_warehouse(path: Path, n: int) -> None:
    import duckdb

    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    wh = connect(f"duckdb:///{path}")
    create_tables(wh)
    wh.close()
    con = duckdb.connect(str(path))
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"""INSERT INTO customer (customer_id, name, home_branch_id, onboarded_on, status)
        SELECT 'K' || lpad(CAST(i AS VARCHAR), 8, '0'), '张三', 'B' || lpad(CAST(i % 60 AS VARCHAR), 4, '0'),
               DATE '2020-01-01', 'active' FROM range({n}) t(i)""")
    con.execute(f"""INSERT INTO consent
        SELECT 'C' || i || ch, 'K' || lpad(CAST(i AS VARCHAR), 8, '0'), 'marketing', ch,
               CASE WHEN hash(i, ch) % 10 < 8 THEN 'granted' ELSE 'withdrawn' END,
               TIMESTAMP '2025-01-01 09:00:00', 'app'
        FROM range({n}) t(i), (VALUES ('sms'), ('app_push'), ('wechat_work'), ('email'), ('any')) c(ch)
        WHERE hash(i, ch, 1) % 10 < 7""")
    con.execute(f"""INSERT INTO consent SELECT 'P' || i, 'K' || lpad(CAST(i AS VARCHAR), 8, '0'), 'personalisation', 'any',
               CASE WHEN i % 25 = 0 THEN 'withdrawn' ELSE 'granted' END, TIMESTAMP '2025-01-01 09:00:00', 'app'
        FROM range({n}) t(i)""")
    con.execute("CREATE TABLE model_score (entity VARCHAR, customer_id VARCHAR, score_name VARCHAR, as_of DATE, "
                "score DOUBLE, reasons VARCHAR, model VARCHAR)")
    con.execute(f"""INSERT INTO model_score SELECT 'customer', 'K' || lpad(CAST(i AS VARCHAR), 8, '0'), 'propensity',
               DATE '2026-10-31', (hash(i) % 1000) / 1000.0, '[]', 'bench' FROM range({n}) t(i)""")
    con.execute("INSERT INTO touchpoint VALUES ('TP-APP-001', '首页-登录', 'app', 'engagement', NULL), "
                "('TP-APP-002', '首页-浏览', 'app', 'engagement', NULL)")
    con.close()


def prepare_ops(url: str, n: int) -> None:
    """Migrate; prior contacts (caps), opt-outs and a rival campaign's pending contacts (arbitration)."""
    from kequn.campaigns import service
    from kequn.campaigns import tables as T
    from kequn.campaigns.writer import _bulk
    from kequn.opstore import engine_for, migrate

    migrate(url)
    engine = engine_for(url)
    rival = service.parse_spec(_spec("rival", priority=1))
    service.submit(engine, rival, "bench_maker")
    yesterday = NOW - dt.timedelta(days=1)
    with engine.begin() as conn:
        _bulk(conn, T.outbox, ["send_key", "run_id", "campaign_id", "customer_id", "channel", "transactional", "status",
                               "attempts", "not_before", "created_at"],
              [(f"old|{i}", "old", "rival", f"K{i:08d}", "app_push", 0, "sent" if i % 2 else "pending", 1, yesterday,
                yesterday) for i in range(0, n, 10)])
        _bulk(conn, T.opt_out, ["customer_id", "channel", "source", "at"],
              [(f"K{i:08d}", "sms", "sms_reply_T", yesterday) for i in range(3, n, 97)])
    spec = service.parse_spec(_spec("bench-1m", priority=5))
    service.submit(engine, spec, "bench_maker")
    service.approve(engine, "bench-1m", "bench_checker")
    engine.dispose()


def _spec(cid: str, priority: int) -> dict:
    return {"campaign_id": cid, "name": "百万客户权益", "priority": priority,
            "audience": {"scores": [{"score_name": "propensity", "min": 0.0}]},
            "offer": {"kind": "reward", "code": "coupon", "name": "消费券", "reward_fen": 500, "expected_value_fen": 3000},
            "channels": [{"channel": "app_push", "template": "{surname_title}，{offer_name}已到账"},
                         {"channel": "sms", "template": "{surname_title}，{offer_name}已到账。回T退订"}],
            "schedule": {"kind": "one_off", "at": "2026-11-02T10:00:00+08:00"}, "control_share": 0.1}


def policy_bench(tmp: Path, n: int) -> dict:
    from kequn.campaigns import service
    from kequn.campaigns import tables as T
    from kequn.campaigns.writer import _bulk
    from kequn.opstore import engine_for, migrate
    from kequn.warehouse import connect

    t0 = time.perf_counter()
    build_warehouse(tmp / "wh.duckdb", n)
    url = f"sqlite:///{tmp / 'ops.sqlite'}"
    prepare_ops(url, n)
    setup_s = time.perf_counter() - t0
    wh = connect(f"duckdb:///{tmp / 'wh.duckdb'}")
    engine = engine_for(url)
    t0 = time.perf_counter()
    run = service.launch(wh, engine, "bench-1m", "bench", now=NOW)
    launch_s = time.perf_counter() - t0
    wh.close()
    # same-run baseline: the same number of outbox rows written alone into a fresh store
    base_url = f"sqlite:///{tmp / 'base.sqlite'}"
    migrate(base_url)
    be = engine_for(base_url)
    rows = [(f"b|{i}", "b", "b", f"K{i:08d}", "app_push", 0, "pending", 0, NOW, NOW) for i in range(run["queued"])]
    t0 = time.perf_counter()
    with be.begin() as conn:
        _bulk(conn, T.outbox, ["send_key", "run_id", "campaign_id", "customer_id", "channel", "transactional", "status",
                               "attempts", "not_before", "created_at"], rows)
    base_s = time.perf_counter() - t0
    return {"customers": n, "setup_s": round(setup_s, 1), "launch_s": round(launch_s, 2),
            "plan_s": round(run["seconds"]["plan_s"], 2), "baseline_outbox_write_s": round(base_s, 2),
            "queued": run["queued"], "arms": run["arms"], "suppressed": run["suppressed"],
            "bumped": run["bumped_from_other_campaigns"]}


SERVER = """
import os, sys
sys.path.insert(0, os.environ["KEQUN_BENCH_SRC"])
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from kequn.api.routes_campaigns import router
from kequn.errors import KequnError
from kequn.opstore import engine_for
from kequn.warehouse import connect

app = FastAPI()
app.include_router(router)
app.state.campaigns_engine = engine_for(os.environ["KEQUN_BENCH_OPSTORE"], durability="normal")
app.state.campaigns_warehouse = connect(os.environ["KEQUN_BENCH_WH"], read_only=True)


@app.exception_handler(KequnError)
def _h(_req, exc):
    return JSONResponse(exc.to_dict(), status_code=exc.http_status)


@app.post("/bench/noop")
async def noop(request: Request):
    await request.body()
    return JSONResponse({"ok": True})
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post_all(port: int, bodies: list[bytes], path: str, out: list[dict], errors: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for b in bodies:
        conn.request("POST", path, body=b, headers={"content-type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            errors.append(r.status)
        elif path == "/api/events":
            out.append(json.loads(data))
    conn.close()


def _load(port: int, bodies: list[bytes], clients: int, path: str) -> tuple[float, list[dict], list[int]]:
    out: list[dict] = []
    errors: list[int] = []
    threads = [threading.Thread(target=_post_all, args=(port, bodies[i::clients], path, out, errors))
               for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, out, errors


TRIGGER_TP = "TP-APP-001"


def live_trigger_campaign(url: str) -> None:
    """An approved, live event-triggered campaign: a login by a customer with score ≥ 0.8 → app push."""
    from kequn.campaigns import service
    from kequn.opstore import engine_for

    engine = engine_for(url)
    spec = {**_spec("bench-trigger", priority=3), "name": "登录即时礼",
            "audience": {"scores": [{"score_name": "propensity", "min": 0.8}]},
            "schedule": {"kind": "event", "touchpoint_id": TRIGGER_TP}, "control_share": 0.1}
    service.submit(engine, service.parse_spec(spec), "bench_maker")
    service.approve(engine, "bench-trigger", "bench_checker")
    service.launch(None, engine, "bench-trigger", "bench_maker")
    engine.dispose()


def _paced(port: int, rate: int, seconds: float, batch: int, n: int, seq0: int) -> tuple[int, float, list[int]]:
    """Post login events at ``rate`` events/s (batches of ``batch``, on schedule; a late batch is sent at
    once, not skipped). Returns events sent, wall seconds, HTTP errors."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    interval, errors, sent = batch / rate, [], 0
    t0 = time.perf_counter()
    k = 0
    while time.perf_counter() - t0 < seconds:
        due = t0 + k * interval
        if (wait := due - time.perf_counter()) > 0:
            time.sleep(wait)
        ts = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        evs = [{"event_id": f"login{seq0 + sent + j}", "customer_id": f"K{(seq0 + sent + j) * 7919 % n:08d}",
                "touchpoint_id": TRIGGER_TP, "ts": ts} for j in range(batch)]
        conn.request("POST", "/api/events", body=json.dumps(evs).encode(), headers={"content-type": "application/json"})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            errors.append(r.status)
        sent += batch
        k += 1
    conn.close()
    return sent, time.perf_counter() - t0, errors


def trigger_delays(url: str, expect: int, settle_s: float = 120.0) -> dict:
    """Wait until every posted login has its trigger decision (or ``settle_s`` passes), then the delays."""
    import numpy as np
    import sqlalchemy as sa

    from kequn.campaigns import tables as T
    from kequn.campaigns.events import _aware
    from kequn.opstore import engine_for

    engine = engine_for(url)
    q = sa.select(T.trigger_fire.c.received_at, T.trigger_fire.c.fired_at, T.trigger_fire.c.outcome)
    t0 = time.perf_counter()
    while True:
        with engine.connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(T.trigger_fire)).scalar_one()
        if n >= expect or time.perf_counter() - t0 > settle_s:
            break
        time.sleep(0.5)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    engine.dispose()
    d = np.array([(_aware(f) - _aware(r)).total_seconds() for r, f, _ in rows])  # type: ignore[operator]
    outcomes: dict[str, int] = {}
    for *_, o in rows:
        outcomes[o] = outcomes.get(o, 0) + 1
    pct = (lambda p: round(float(np.percentile(d, p)), 3)) if len(d) else (lambda p: float("nan"))
    return {"decisions": len(rows), "expected": expect, "outcomes": outcomes, "p50_s": pct(50), "p95_s": pct(95),
            "p99_s": pct(99), "max_s": round(float(d.max()), 3) if len(d) else float("nan")}


def events_bench(tmp: Path, requests: int, batch: int, clients: int, customers: int = 1_000_000,
                 trigger_rate: int = 5000, trigger_seconds: float = 20.0) -> dict:
    from kequn.opstore import migrate

    url = f"sqlite:///{tmp / 'events.sqlite'}"
    migrate(url)
    live_trigger_campaign(url)
    (tmp / "kequn_bench_campaigns_app.py").write_text(SERVER, encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "KEQUN_BENCH_SRC": str(ROOT / "src"), "KEQUN_BENCH_OPSTORE": url,
           "KEQUN_BENCH_WH": f"duckdb:///{tmp / 'wh.duckdb'}", "PYTHONPATH": str(tmp)}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "kequn_bench_campaigns_app:app", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning", "--no-access-log"], env=env, cwd=tmp)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        ts = NOW.isoformat(timespec="seconds")
        bodies, seq = [], 0
        for _r in range(requests):
            evs = []
            for _k in range(batch):
                # every 10th event repeats the id of an event of the previous batch: a client retry to drop
                eid = f"e{seq - batch - 1}" if seq % 10 == 9 and seq > batch else f"e{seq}"
                evs.append({"event_id": eid, "customer_id": f"K{seq % 1000000:08d}", "touchpoint_id": "TP-APP-002",
                            "ts": ts})
                seq += 1
            bodies.append(json.dumps(evs).encode())
        _load(port, bodies[:2], 1, "/api/events")  # warm-up (catalogue, store), counted below as duplicates
        base_wall, _, base_err = _load(port, bodies, clients, "/bench/noop")
        wall, answers, errors = _load(port, bodies, clients, "/api/events")
        # trigger delay: steady logins while the campaign is live (every login of an audience customer fires)
        tb = max(50, trigger_rate // 20)  # 20 requests a second, like an event gateway flushing every 50 ms
        t_sent, t_wall, t_err = _paced(port, trigger_rate, trigger_seconds, tb, customers, 0)
        trig = trigger_delays(url, expect=t_sent)
        trig.update({"rate": trigger_rate, "sent": t_sent, "sent_per_s": round(t_sent / t_wall), "batch": tb,
                     "errors": len(t_err)})
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    sent = requests * batch
    accepted = sum(a["accepted"] for a in answers)
    dups = sum(a["duplicates"] for a in answers)
    return {"requests": requests, "batch": batch, "clients": clients, "events": sent, "errors": len(errors) + len(base_err),
            "wall_s": round(wall, 2), "events_per_s": round(sent / wall), "accepted": accepted, "duplicates": dups,
            "baseline_noop_events_per_s": round(sent / base_wall), "trigger": trig}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=120)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--trigger-rate", type=int, default=5000, help="login events/s while measuring trigger delay")
    ap.add_argument("--trigger-seconds", type=float, default=20.0)
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kequn-bench-campaigns-") as t:
        tmp = Path(t)
        pol = policy_bench(tmp, args.customers)
        print(json.dumps(pol, ensure_ascii=False), flush=True)
        ev = events_bench(tmp, args.requests, args.batch, args.clients, args.customers, args.trigger_rate,
                          args.trigger_seconds)
        print(json.dumps(ev), flush=True)
    if not args.no_doc:
        from _perfdoc import write_section

        cmd = (f".venv/bin/python bench/campaigns.py --customers {args.customers} --requests {args.requests} "
               f"--batch {args.batch} --clients {args.clients} --trigger-rate {args.trigger_rate} "
               f"--trigger-seconds {args.trigger_seconds:g}")
        tr = ev["trigger"]
        write_section("Campaigns (contact policy into the outbox; event ingestion)", cmd, [
            (f"launch of a {pol['customers']:,}-customer audience: audience + arms + policy + arbitration + writes "
             f"({pol['queued']:,} queued, suppressed {pol['suppressed']}, {pol['bumped']:,} rival contacts bumped)",
             f"{pol['launch_s']} s (ops-store facts + Ibis expression {pol['plan_s']} s; the rest is the DuckDB "
             "execution and the SQLite writes)",
             f"{pol['baseline_outbox_write_s']} s to write {pol['queued']:,} outbox rows alone", "≤ 60 s",
             pol["launch_s"] <= 60),
            (f"POST /api/events over HTTP, 1 uvicorn worker, SQLite ops store, {ev['clients']} keep-alive clients, "
             f"{ev['requests']} batches × {ev['batch']} ({ev['duplicates']:,} duplicates dropped, {ev['errors']} errors)",
             f"{ev['events_per_s']:,} events/s", f"{ev['baseline_noop_events_per_s']:,} events/s through a no-op route",
             "≥ 20,000 events/s", ev["events_per_s"] >= 20000 and ev["errors"] == 0),
            (f"trigger delay: {tr['sent']:,} logins at {tr['sent_per_s']:,} events/s (batches of {tr['batch']}) with a "
             f"live event-triggered campaign (score ≥ 0.8); {tr['decisions']:,} of {tr['expected']:,} decisions recorded "
             f"({', '.join(f'{k} {v:,}' for k, v in sorted(tr['outcomes'].items()))})",
             f"p99 {tr['p99_s']} s (p50 {tr['p50_s']}, p95 {tr['p95_s']}, max {tr['max_s']})", "—",
             "triggers fire within seconds: p99 ≤ 5 s",
             tr["p99_s"] <= 5 and tr["decisions"] == tr["expected"] and tr["errors"] == 0),
        ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
