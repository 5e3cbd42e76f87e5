"""Points-ledger throughput: single postings per second on SQLite (one client) and on PostgreSQL with 8
client processes, and the daily growth accrual for N members — each beside a same-run baseline (a bare
INSERT-per-transaction loop on the same store through the DBAPI, with the same number of clients and the
same durability: the floor any ledger pays per durable commit).

    .venv/bin/python bench/ledger.py [--postings 2000] [--members 1000000] [--pg postgresql://…]

A posting is ``Ledger.earn`` (a new lot for an existing member, one durable commit each). On PostgreSQL
each client process opens its engine and warms up (first postings, prepared statements) before a barrier;
the rate is the postings of all clients divided by the time from the barrier to the last client's end.

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
    """Bare INSERT + commit per row through the DBAPI (sqlite3), on the ledger's own store."""
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS bench_floor (id INTEGER PRIMARY KEY, k TEXT)"))
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        t0 = time.perf_counter()
        for i in range(n):
            dbapi.execute("INSERT INTO bench_floor (k) VALUES (?)", (f"{i}",))
            dbapi.commit()
        return n / (time.perf_counter() - t0)
    finally:
        raw.close()


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


def _pg_worker(url: str, worker: int, n: int, q, durability: str, barrier, floor: bool) -> None:
    engine = opstore.engine_for(url, durability=durability)
    if floor:  # the baseline: a bare INSERT per autocommit statement on one DBAPI connection
        raw = engine.raw_connection()
        dbapi = raw.driver_connection
        dbapi.autocommit = True

        def one(i: int) -> None:
            dbapi.execute("INSERT INTO bench_floor (k) VALUES (%s)", (f"{worker}-{i}",))
    else:
        led = Ledger(engine)

        def one(i: int) -> None:
            led.earn(f"w{worker}-{i}", f"C{worker}-{i % 100}", 10)
    for i in range(10):  # warm up: connection, prepared statements
        one(-1 - i)
    barrier.wait()
    t0, c0 = time.monotonic(), time.process_time()
    for i in range(n):
        one(i)
    q.put((n, t0, time.monotonic(), time.process_time() - c0))
    barrier.wait()  # keep the backend alive until its CPU time has been read
    if floor:
        raw.close()
    engine.dispose()


def _cpu_seconds(pid: int) -> float:
    """CPU (user + system) a process has used so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def _pg_clients(url: str, per_client: int, durability: str, clients: int, floor: bool) -> tuple[float, float]:
    """(rate/s, CPU µs per posting: client processes + their PostgreSQL backends)."""
    import psycopg

    ctx = mp.get_context("fork")
    q = ctx.Queue()
    barrier = ctx.Barrier(clients + 1)
    procs = [ctx.Process(target=_pg_worker, args=(url, w, per_client, q, durability, barrier, floor))
             for w in range(clients)]
    for p in procs:
        p.start()
    with psycopg.connect(url, autocommit=True) as mon:
        barrier.wait()  # every client is connected and warm
        pids = [r[0] for r in mon.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")]
        before = sum(_cpu_seconds(pid) for pid in pids)
        results = [q.get(timeout=600) for _ in procs]
        server = sum(_cpu_seconds(pid) for pid in pids) - before
        barrier.wait()
    for p in procs:
        p.join()
    done = sum(r[0] for r in results)
    rate = done / (max(r[2] for r in results) - min(r[1] for r in results))
    client = sum(r[3] for r in results)
    print(f"  [{'floor' if floor else 'ledger'}] client {client / done * 1e6:,.0f} µs + backend {server / done * 1e6:,.0f} µs per posting")
    return rate, (server + client) / done * 1e6


def pg_rate(admin_url: str, per_client: int, durability: str, clients: int = 8) -> tuple[float, float, float]:
    """(ledger postings/s, bare INSERT+commit/s, CPU µs per posting) with ``clients`` client processes on a
    fresh database."""
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
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE bench_floor (id BIGSERIAL PRIMARY KEY, k TEXT)"))
        engine.dispose()  # no pooled connection crosses the fork
        rate, cpu = _pg_clients(url, per_client, durability, clients, floor=False)
        floor, floor_cpu = _pg_clients(url, per_client, durability, clients, floor=True)
        print(f"  CPU per posting (clients + backends): {cpu:,.0f} µs; bare INSERT+commit {floor_cpu:,.0f} µs")
        assert led.verify() == []
        engine.dispose()
        return rate, floor, cpu
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
    ap.add_argument("--postings", type=int, default=2000,
                    help="SQLite postings per durability mode; PostgreSQL: postings/4 per client (8 clients)")
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--pg", default=os.environ.get("KEQUN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--no-doc", action="store_true", help="print only; do not update docs/performance.md")
    a = ap.parse_args()
    load_start = os.getloadavg()[0]
    pg_cpus: dict[str, float] = {}
    rows = []
    for mode in ("full", "normal"):
        sqlite_ps, sqlite_floor = sqlite_rate(a.postings, mode)
        print(f"SQLite ({mode}): {sqlite_ps:,.0f} postings/s (bare INSERT+commit floor: {sqlite_floor:,.0f}/s)")
        rows.append((f"SQLite single postings/s, 1 client, durability={mode}", f"{sqlite_ps:,.0f}",
                     f"bare INSERT+commit (DBAPI) {sqlite_floor:,.0f}/s", "≥ 2,000/s", sqlite_ps >= 2000))
    for mode in ("full", "normal"):
        try:
            pg_ps, pg_floor, pg_cpu = pg_rate(a.pg, max(1, a.postings // 4), mode)
            pg_cpus[mode] = pg_cpu
            print(f"PostgreSQL ({mode}), 8 clients: {pg_ps:,.0f} postings/s (bare INSERT+commit floor: {pg_floor:,.0f}/s)")
            floor_text = f"bare INSERT+commit, 8 clients {pg_floor:,.0f}/s"
        except Exception as exc:  # noqa: BLE001
            pg_ps = float("nan")
            floor_text = "—"
            print(f"PostgreSQL: not measured ({exc})")
        rows.append((f"PostgreSQL postings/s, 8 client processes, durability={mode}", f"{pg_ps:,.0f}", floor_text,
                     "≥ 3,000/s", pg_ps >= 3000))
    secs, base, out = accrual(a.members)
    print(f"growth accrual for {a.members:,} members: {secs:.1f} s ({out}); DuckDB aggregation alone {base:.2f} s")
    if not a.no_doc:
        rows.append((f"growth accrual, {a.members:,} members", f"{secs:.1f} s",
                     f"DuckDB aggregation alone {base:.2f} s", "≤ 60 s", secs <= 60))
        title = "Rewards ledger (issue 9)"
        write_section(title, f".venv/bin/python bench/ledger.py --postings {a.postings} --members {a.members}", rows)
        _add_notes(title, [
            f"Load average {load_start:.1f} at the start of the run and {os.getloadavg()[0]:.1f} at its end "
            "(the line above gives the one when the section was written).",
            "A posting is `Ledger.earn` (new lot, one durable commit). On PostgreSQL it is one round trip to "
            "`kequn_ledger_move` (migration 0013); on SQLite five prepared DBAPI statements and a commit; the "
            "same-run baseline is a bare INSERT + commit per row with the same clients and durability. With "
            "`full` durability both are bound by the disk's fsync latency, so compare the ratio on a busy "
            "machine.",
            "PostgreSQL CPU per posting, 8 clients (client processes + their backends, from /proc): "
            + "; ".join(f"{mode} {cpu:,.0f} µs" for mode, cpu in pg_cpus.items())
            + " — on 2 cores that CPU alone caps the rate near 2,000,000 / µs-per-posting.",
        ])
    return 0


def _add_notes(title: str, notes: list[str]) -> None:
    """Put ``notes`` under the table of the section ``title`` (write_section rewrites the section whole)."""
    from _perfdoc import DOC

    text = DOC.read_text(encoding="utf-8")
    head = text.index(f"## {title}\n")
    nxt = text.find("\n## ", head + 1)
    end = len(text) if nxt < 0 else nxt + 1
    section = text[head:end].rstrip("\n") + "\n\n" + "\n\n".join(notes) + "\n\n"
    DOC.write_text(text[:head] + section + text[end:], encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
