"""Benchmark `kequn load`: N transaction rows from Parquet with full validation vs a plain DuckDB insert.

    .venv/bin/python bench/load.py            # 10M rows (the goal: ≥ 1M rows/s and ≤ 2× the plain insert)
    .venv/bin/python bench/load.py --rows 1000000   # a quick run (--quick = 1M)

Generates (in bench/out/, gitignored) branch/product/customer/account files and a transaction.parquet
whose every foreign key resolves, loads the reference tables, then times in the same run:

- ``kequn.ingest.load_dir`` on the transaction file: types, required, enums, ranges, not-in-the-future,
  duplicate keys and three foreign keys (account, customer, merchant), quarantine, upsert check, batch record;
- the baseline: ``INSERT INTO … SELECT * FROM read_parquet(…)`` of the same file into a twin table, run
  once before and once after the load (the machine is shared; the mean of the two is the baseline).

Both write into the same fresh DuckDB warehouse file.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "load"


def generate(rows: int, out: Path) -> None:
    import duckdb

    customers = max(1000, rows // 10)
    ref, txn = out / "ref", out / "txn"
    for d in (ref, txn):
        d.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT 'B' || lpad(i::VARCHAR, 3, '0') AS branch_id, '分行' || i AS name,
        CASE WHEN i = 0 THEN 'hq' ELSE 'branch' END AS level, CASE WHEN i = 0 THEN NULL ELSE 'B000' END AS parent_id,
        '杭州' AS city, DATE '2001-01-01' AS opened_on FROM range(10) t(i)) TO '{ref}/branch.parquet'""")
    con.execute(f"""COPY (SELECT 'PD' || i AS product_id, '活期' || i AS name, 'deposit' AS category,
        'bank' AS provider, TRUE AS online_closable, DATE '2010-01-01' AS launched_on FROM range(5) t(i))
        TO '{ref}/product.parquet'""")
    con.execute(f"""COPY (SELECT 'C' || lpad(i::VARCHAR, 9, '0') AS customer_id, '客户' || i AS name,
        NULL::VARCHAR AS id_number, NULL::VARCHAR AS phone, CASE WHEN i % 2 = 0 THEN 'M' ELSE 'F' END AS gender,
        DATE '1980-01-01' + (i % 9000)::INT AS birth_date, NULL::VARCHAR AS occupation, '杭州' AS city,
        'B00' || (1 + i % 9) AS home_branch_id, NULL::VARCHAR AS rm_id, DATE '2015-01-01' AS onboarded_on,
        FALSE AS is_new_citizen, 'active' AS status, NULL::DATE AS closed_on FROM range({customers}) t(i))
        TO '{ref}/customer.parquet'""")
    con.execute(f"""COPY (SELECT 'A' || lpad(i::VARCHAR, 10, '0') AS account_id,
        'C' || lpad(i::VARCHAR, 9, '0') AS customer_id, NULL::VARCHAR AS enterprise_id, 'PD' || (i % 5) AS product_id,
        'deposit' AS kind, 'B00' || (1 + i % 9) AS branch_id, DATE '2015-01-01' AS opened_on,
        NULL::DATE AS closed_on, 'active' AS status FROM range({customers}) t(i)) TO '{ref}/account.parquet'""")
    con.execute(f"""COPY (SELECT 'T' || lpad(i::VARCHAR, 12, '0') AS txn_id,
        'A' || lpad((i % {customers})::VARCHAR, 10, '0') AS account_id,
        'C' || lpad((i % {customers})::VARCHAR, 9, '0') AS customer_id,
        TIMESTAMP '2024-01-01 00:00:00' + to_seconds(i % 31000000) AS ts,
        CAST(((i * 7919) % 2000000 - 1000000) / 100.0 AS DECIMAL(18,2)) AS amount,
        (['app','wechat','counter','atm','pos','online','batch','auto'])[1 + i % 8] AS channel,
        (['salary','transfer_in','transfer_out','card_spend','fee','interest'])[1 + i % 6] AS txn_type,
        NULL::VARCHAR AS counterparty, NULL::VARCHAR AS merchant_id, NULL::VARCHAR AS mcc
        FROM range({rows}) t(i)) TO '{txn}/transaction.parquet' (FORMAT parquet, ROW_GROUP_SIZE 122880)""")
    con.close()


def run(rows: int, threads: int) -> dict[str, float]:
    from kequn.ingest import load_dir
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    db = OUT / "warehouse.duckdb"
    for p in (db, Path(f"{db}.wal")):
        p.unlink(missing_ok=True)
    wh = connect(f"duckdb:///{db}", threads=threads)
    create_tables(wh)
    t0 = time.perf_counter()
    ref = load_dir(wh, OUT / "ref")
    print(f"reference tables: {ref.loaded:,} rows in {time.perf_counter() - t0:.1f}s", flush=True)

    con = wh.con.con
    parquet = OUT / "txn" / "transaction.parquet"
    plain_before, cpu_plain_before = _plain_insert(con, parquet, rows)
    t0, c0 = time.perf_counter(), time.process_time()
    summary = load_dir(wh, OUT / "txn")
    t_load, cpu_load = time.perf_counter() - t0, time.process_time() - c0
    assert summary.loaded == rows and summary.quarantined == 0, summary.to_dict()
    plain_after, cpu_plain_after = _plain_insert(con, parquet, rows)
    wh.close()
    return {"load_s": t_load, "plain_before_s": plain_before, "plain_after_s": plain_after,
            "plain_s": (plain_before + plain_after) / 2, "load_cpu_s": cpu_load,
            "plain_cpu_s": (cpu_plain_before + cpu_plain_after) / 2}


def _plain_insert(con: object, parquet: Path, rows: int) -> tuple[float, float]:
    """The baseline: a plain INSERT … SELECT of the same file into a twin of the canonical table."""
    con.execute("DROP TABLE IF EXISTS transaction_plain")  # type: ignore[attr-defined]
    con.execute('CREATE TABLE transaction_plain AS SELECT * FROM "transaction" LIMIT 0')  # type: ignore[attr-defined]
    con.execute("CHECKPOINT")  # type: ignore[attr-defined]
    t0, c0 = time.perf_counter(), time.process_time()
    con.execute(f"INSERT INTO transaction_plain SELECT * FROM read_parquet('{parquet}')")  # type: ignore[attr-defined]
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert con.execute("SELECT count(*) FROM transaction_plain").fetchone()[0] == rows  # type: ignore[attr-defined]
    con.execute("DROP TABLE transaction_plain")  # type: ignore[attr-defined]
    con.execute("CHECKPOINT")  # type: ignore[attr-defined]
    return elapsed, cpu


def _loadavg() -> str:
    import os

    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--quick", action="store_true", help="1M rows")
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = all cores)")
    ap.add_argument("--keep", action="store_true", help="reuse generated files of the same size")
    args = ap.parse_args()
    rows = 1_000_000 if args.quick else args.rows
    stamp = OUT / f".rows-{rows}"
    if not (args.keep and stamp.exists()):
        shutil.rmtree(OUT, ignore_errors=True)
        OUT.mkdir(parents=True)
        t0 = time.perf_counter()
        generate(rows, OUT)
        stamp.touch()
        print(f"generated {rows:,} transactions in {time.perf_counter() - t0:.1f}s", flush=True)
    print(f"machine load average before: {_loadavg()}", flush=True)
    r = run(rows, args.threads)
    print(f"machine load average after: {_loadavg()}")
    load_rate, plain_rate = rows / r["load_s"], rows / r["plain_s"]
    ratio = r["load_s"] / r["plain_s"]
    ok = load_rate >= 1_000_000 and ratio <= 2.0
    print(f"kequn load (full validation): {rows:,} rows in {r['load_s']:.2f}s = {load_rate:,.0f} rows/s")
    print(f"plain INSERT … SELECT       : {rows:,} rows in {r['plain_s']:.2f}s = {plain_rate:,.0f} rows/s "
          f"(mean of {r['plain_before_s']:.2f}s before and {r['plain_after_s']:.2f}s after the load)")
    print(f"CPU time (all threads): load {r['load_cpu_s']:.2f}s, plain {r['plain_cpu_s']:.2f}s "
          f"= {r['load_cpu_s'] / r['plain_cpu_s']:.2f}×; on 2 idle cores ≈ {2 * rows / r['load_cpu_s']:,.0f} rows/s "
          f"vs {2 * rows / r['plain_cpu_s']:,.0f} rows/s")
    print(f"ratio load / plain = {ratio:.2f}×; goal ≥ 1,000,000 rows/s and ≤ 2×: {'MET' if ok else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
