"""Data-quality bench: the 54 default DQ rules over a generated warehouse (10M transactions by default).

Prints the time of the whole rule set, per rule kind and the slowest rules, beside a same-run baseline:
one plain DuckDB aggregate scan of the transaction table (count, max ts, sum amount, count distinct
txn_id). Goal: the full default rule set in ≤ 60 s at 10M transactions on 2 cores, with only aggregates
returned to Python.

    .venv/bin/python bench/dq.py [--rows 10000000] [--quick] [--threads N] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "dq"
AS_OF = dt.date(2024, 6, 30)


def generate(path: Path, rows: int, threads: int) -> None:
    from kequn.ingest import ensure_internal_tables
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    customers = max(rows // 20, 100)
    accounts = customers * 2
    wh = connect(f"duckdb:///{path}", threads=threads)
    create_tables(wh)
    ensure_internal_tables(wh)
    wh.sql("INSERT INTO branch SELECT 'B' || i, '支行' || i, CASE WHEN i = 0 THEN 'hq' ELSE 'branch' END, "
           "CASE WHEN i = 0 THEN NULL ELSE 'B0' END, '杭州', DATE '2000-01-01' FROM range(50) t(i)")
    wh.sql("INSERT INTO product SELECT 'P' || i, '产品' || i, 'deposit', 'bank', true, NULL FROM range(20) t(i)")
    wh.sql(f"""INSERT INTO customer SELECT 'C' || i, '客户', lpad(i::VARCHAR, 18, '1'),
        CASE WHEN i % 50 = 0 THEN NULL ELSE '138' || lpad((i % 100000000)::VARCHAR, 8, '0') END,
        CASE WHEN i % 2 = 0 THEN 'M' ELSE 'F' END, DATE '1960-01-01' + (i % 15000)::INT,
        ['clerk', 'worker', 'teacher', 'farmer', 'self_employed'][1 + i % 5], '杭州', 'B' || (i % 50),
        NULL, DATE '2015-01-01' + (i % 3000)::INT, false, 'active', NULL FROM range({customers}) t(i)""")
    wh.sql(f"""INSERT INTO account SELECT 'A' || i, 'C' || (i // 2), NULL, 'P' || (i % 20), 'deposit',
        'B' || (i % 50), DATE '2015-01-01', NULL, 'active' FROM range({accounts}) t(i)""")
    wh.sql(f"""INSERT INTO balance_monthly SELECT 'A' || i, m, (random() * 100000)::DECIMAL(18,2),
        (random() * 100000)::DECIMAL(18,2), 0 FROM range({accounts}) t(i),
        (VALUES (DATE '2024-04-30'), (DATE '2024-05-31'), (DATE '2024-06-30')) v(m)""")
    wh.sql(f"""INSERT INTO "transaction" SELECT 'T' || i, 'A' || (i % {accounts}), 'C' || ((i % {accounts}) // 2),
        TIMESTAMP '2024-01-01' + to_seconds((i * 15552000 // {rows})::BIGINT),
        ((random() - 0.5) * 20000)::DECIMAL(18,2),
        ['app', 'wechat', 'counter', 'atm', 'pos', 'online'][1 + i % 6],
        ['transfer_in', 'transfer_out', 'card_spend', 'salary'][1 + i % 4], NULL, NULL, NULL
        FROM range({rows}) t(i)""")
    for table, n in (("transaction", rows), ("customer", customers), ("balance_monthly", accounts * 3)):
        wh.sql(f"INSERT INTO _load_batch VALUES ('b1', '{table}', '{table}.csv', 'h1', {n}, {n}, 0, "
               f"TIMESTAMP '2024-06-29 02:00:00'), ('b2', '{table}', '{table}.csv', 'h2', {n}, {n}, 0, "
               f"TIMESTAMP '2024-06-30 02:00:00')")
    wh.close()


def baseline(path: Path, threads: int) -> float:
    import duckdb

    con = duckdb.connect(str(path), read_only=True, config={"threads": threads} if threads else {})
    t0 = time.perf_counter()
    con.sql('SELECT count(*), max(ts), sum(amount), count(DISTINCT txn_id) FROM "transaction"').fetchall()
    elapsed = time.perf_counter() - t0
    con.close()
    return elapsed


def run_rules(path: Path, threads: int) -> tuple[float, dict[str, float], list[tuple[float, str, str]]]:
    from kequn.opstore import engine_for, migrate
    from kequn.quality import load_rules
    from kequn.quality.runner import evaluate, store
    from kequn.warehouse import connect

    rules = load_rules()
    wh = connect(f"duckdb:///{path}", threads=threads, read_only=True)
    with tempfile.TemporaryDirectory() as tmp:
        engine = engine_for(f"sqlite:///{tmp}/ops.sqlite")
        migrate(engine)
        per_kind: dict[str, float] = defaultdict(float)
        timings = []
        results = []
        for passes in range(2):  # the second pass compares distributions against the first's baseline
            t_all = time.perf_counter()
            results = []
            for rule in rules:
                t0 = time.perf_counter()
                results += evaluate(wh, [rule], AS_OF, engine)
                took = time.perf_counter() - t0
                if passes == 1:
                    per_kind[rule.kind] += took
                    timings.append((took, rule.id, results[-1].status))
            store(engine, results, as_of=AS_OF, rules_file="default", warehouse="duckdb",
                  started_at=dt.datetime.now(dt.UTC))
            total = time.perf_counter() - t_all
        engine.dispose()
    wh.close()
    broken = [r.rule_id for r in results if r.message.startswith("check could not run")]
    if broken:
        print("rules that could not run:", broken)
    return total, dict(per_kind), sorted(timings, reverse=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="transactions")
    ap.add_argument("--quick", action="store_true", help="1M transactions")
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = all cores)")
    ap.add_argument("--keep", action="store_true", help="reuse a generated warehouse of the same size")
    a = ap.parse_args()
    rows = 1_000_000 if a.quick else a.rows
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"dq_{rows}.duckdb"
    if not (a.keep and path.exists()):
        path.unlink(missing_ok=True)
        t0 = time.perf_counter()
        generate(path, rows, a.threads)
        print(f"generated {rows:,} transactions, {max(rows // 20, 100):,} customers in {time.perf_counter() - t0:.1f}s")
    base = baseline(path, a.threads)
    total, per_kind, slowest = run_rules(path, a.threads)
    print(f"baseline: one aggregate scan of transaction ({rows:,} rows): {base:.2f}s")
    print(f"DQ: 54 default rules: {total:.2f}s  (= {total / base:.1f}× the baseline scan)")
    for kind, secs in sorted(per_kind.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:<20} {secs:6.2f}s")
    print("slowest rules:")
    for secs, rid, status in slowest[:5]:
        print(f"  {rid:<40} {secs:6.2f}s  {status}")
    goal = total <= 60
    print(f"goal ≤ 60 s at 10M transactions: {'met' if goal else 'NOT met'}" if rows >= 10_000_000 else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
