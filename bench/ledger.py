"""Points-ledger throughput: single postings per second on SQLite (one client) and on PostgreSQL with 8
client processes, and the daily growth accrual for N members — each beside a same-run baseline (a bare
INSERT-per-transaction loop on the same store, the floor any ledger pays per commit).

    .venv/bin/python bench/ledger.py [--postings 3000] [--members 1000000] [--pg postgresql://…]

Goals (issue 9): SQLite ≥ 2,000 postings/s; PostgreSQL with 8 clients ≥ 3,000/s; accrual for 1M members
≤ 60 s. Prints the figures; updates the "Rewards ledger" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from _perfdoc import write_section  # noqa: E402

from kequn import opstore  # noqa: E402
from kequn.rewards.ledger import Ledger  # noqa: E402


def _baseline(engine, n: int) -> float:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS bench_floor (id INTEGER PRIMARY KEY, k TEXT)"))
    t0 = time.perf_counter()
    for i in range(n):
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO bench_floor (k) VALUES (:k)"), {"k": f"{i}"})
    return n / (time.perf_counter() - t0)


def sqlite_rate(n: int, durability: str) -> tuple[float, float]:
    d = tempfile.mkdtemp(prefix="kequn-bench-ledger-")
    engine = opstore.engine_for(f"sqlite:///{d}/ops.sqlite", durability=durability)
    opstore.migrate(engine)
    led = Ledger(engine)
    for i in range(200):  # warm up: accounts exist, as in steady state
        led.earn(f"warm{i}", f"C{i % 500}", 10)
    t0 = time.perf_counter()
    for i in range(n):
        led.earn(f"p{i}", f"C{i % 500}", 10)
    rate = n / (time.perf_counter() - t0)
    floor = _baseline(engine, n)
    assert led.verify() == []
    return rate, floor


def _pg_worker(url: str, worker: int, n: int, q, durability: str) -> None:
    engine = opstore.engine_for(url, durability=durability)
    led = Ledger(engine)
    t0 = time.perf_counter()
    for i in range(n):
        led.earn(f"w{worker}-{i}", f"C{worker}-{i % 100}", 10)
    q.put((n, time.perf_counter() - t0))
    engine.dispose()


def pg_rate(admin_url: str, per_client: int, durability: str, clients: int = 8) -> float:
    import psycopg

    name = f"kequn_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        engine = opstore.engine_for(url)
        opstore.migrate(engine)
        led = Ledger(engine)
        for w in range(clients):  # accounts exist, as in steady state
            for c in range(100):
                led.earn(f"warm{w}-{c}", f"C{w}-{c}", 1)
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        procs = [ctx.Process(target=_pg_worker, args=(url, w, per_client, q, durability)) for w in range(clients)]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        wall = time.perf_counter() - t0
        done = sum(q.get()[0] for _ in procs)
        assert led.verify() == []
        engine.dispose()
        return done / wall
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def accrual(members: int) -> tuple[float, float, dict]:
    """Daily growth accrual for ``members`` active members from a DuckDB warehouse (one day of app events
    for every member, salary for a third, card spend for half), into a SQLite ops store."""
    from kequn.rewards.growth import accrue_day, load_membership
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    d = Path(tempfile.mkdtemp(prefix="kequn-bench-accrual-"))
    wh = connect(f"duckdb:///{d}/wh.duckdb")
    create_tables(wh, None)
    day = dt.date(2026, 10, 15)
    wh.sql(f"""INSERT INTO event SELECT 'E'||i, 'C'||i, TIMESTAMP '{day} 09:00:00', 'TP_APP_LOGIN', 'app', NULL
               FROM range({members}) t(i)""")
    wh.sql(f"""INSERT INTO "transaction" SELECT 'T'||i, 'A'||i, 'C'||i, TIMESTAMP '{day} 12:00:00',
               CASE WHEN i % 3 = 0 THEN 8000 ELSE -250 END, 'batch',
               CASE WHEN i % 3 = 0 THEN 'salary' ELSE 'card_spend' END, NULL, NULL, NULL
               FROM range({members}) t(i) WHERE i % 3 = 0 OR i % 2 = 0""")
    engine = opstore.engine_for(f"sqlite:///{d}/ops.sqlite")
    opstore.migrate(engine)
    rules = load_membership()[0]
    t0 = time.perf_counter()
    out = accrue_day(wh, engine, rules, day)
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()  # baseline: the same day's aggregation alone, hand-written SQL in DuckDB
    wh.sql(f"""SELECT customer_id, count(*) FROM event WHERE channel = 'app' AND ts >= TIMESTAMP '{day}'
               AND ts < TIMESTAMP '{day}' + INTERVAL 1 DAY GROUP BY 1""").fetchall()
    base = time.perf_counter() - t1
    wh.close()
    return seconds, base, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--postings", type=int, default=3000)
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--pg", default=os.environ.get("KEQUN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--no-doc", action="store_true", help="print only; do not update docs/performance.md")
    a = ap.parse_args()
    rows = []
    for mode in ("full", "normal"):
        sqlite_ps, sqlite_floor = sqlite_rate(a.postings, mode)
        print(f"SQLite ({mode}): {sqlite_ps:,.0f} postings/s (bare INSERT+commit floor: {sqlite_floor:,.0f}/s)")
        rows.append((f"SQLite single postings/s, 1 client, durability={mode}", f"{sqlite_ps:,.0f}",
                     f"bare INSERT+commit {sqlite_floor:,.0f}/s", "≥ 2,000/s", sqlite_ps >= 2000))
    for mode in ("full", "normal"):
        try:
            pg_ps = pg_rate(a.pg, max(1, a.postings // 4), mode)
            print(f"PostgreSQL ({mode}), 8 clients: {pg_ps:,.0f} postings/s")
        except Exception as exc:  # noqa: BLE001
            pg_ps = float("nan")
            print(f"PostgreSQL: not measured ({exc})")
        rows.append((f"PostgreSQL postings/s, 8 client processes, durability={mode}", f"{pg_ps:,.0f}", "—",
                     "≥ 3,000/s", pg_ps >= 3000))
    secs, base, out = accrual(a.members)
    print(f"growth accrual for {a.members:,} members: {secs:.1f} s ({out}); DuckDB aggregation alone {base:.2f} s")
    if not a.no_doc:
        rows.append((f"growth accrual, {a.members:,} members", f"{secs:.1f} s",
                     f"DuckDB aggregation alone {base:.2f} s", "≤ 60 s", secs <= 60))
        write_section("Rewards ledger (issue 9)", f".venv/bin/python bench/ledger.py --postings {a.postings} --members {a.members}", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
