"""Spark local vs DuckDB on the same synthetic bank: load → tags (customer profile) → segments → DQ.

    .venv/bin/python bench/spark.py [--customers 20000] [--months 6] [--quick]

Both engines run the same Ibis expressions; the script also checks that results agree (profile rows,
segment sizes, DQ statuses). Writes its section of docs/performance.md ("Spark local vs DuckDB").
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

AS_OF = dt.date(2026, 10, 31)


def _timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t, 2)


def _specs():  # type: ignore[no-untyped-def]
    from kequn.tags.approval import approved_ids
    from kequn.tags.catalog import default_catalog

    cat = default_catalog()
    return {i: cat[i] for i in approved_ids(cat)}


def duck_run(bank: Path, work: Path) -> dict:
    from kequn.ingest import ensure_internal_tables, load_dir
    from kequn.quality import evaluate, load_rules
    from kequn.segments.definitions import load_shipped
    from kequn.segments.service import size
    from kequn.tags.store import compute
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    wh = connect(f"duckdb:///{work / 'wh.duckdb'}")
    create_tables(wh)
    ensure_internal_tables(wh)
    _, t_load = _timed(lambda: load_dir(wh, bank))
    specs = {i: s for i, s in _specs().items() if s.entity == "customer"}
    _, t_tags = _timed(lambda: compute(wh, AS_OF, specs, entities=("customer",)))
    segs = [s for s in load_shipped().values() if not s.static and s.entity == "customer"]
    sizes, t_seg = _timed(lambda: {s.id: size(wh, s, AS_OF) for s in segs})
    rules = [r for r in load_rules() if r.kind != "volume_change"]
    dq, t_dq = _timed(lambda: {r.rule_id: r.status for r in evaluate(wh, rules, AS_OF)})
    rows = int(wh.table("profile_customer").count().execute())
    wh.close()
    return {"load": t_load, "tags": t_tags, "segments": t_seg, "dq": t_dq, "rows": rows, "sizes": sizes, "dq_status": dq}


def spark_run(bank: Path, work: Path) -> dict:
    from kequn.quality import evaluate, load_rules
    from kequn.segments.definitions import load_shipped
    from kequn.segments.service import size
    from kequn.tags.store import compute
    from kequn.warehouse import connect
    from kequn.warehouse.spark import load_parquet_dir

    wh, t_start = _timed(lambda: connect(f"spark+local://2?spark.sql.warehouse.dir={work / 'spark'}"))
    _, t_load = _timed(lambda: load_parquet_dir(wh, bank, mode="table"))

    def tags() -> int | None:
        specs = {i: s for i, s in _specs().items() if s.entity == "customer"}
        return compute(wh, AS_OF, specs, entities=("customer",))[0].rows

    rows, t_tags = _timed(tags)
    segs = [s for s in load_shipped().values() if not s.static and s.entity == "customer"]
    sizes, t_seg = _timed(lambda: {s.id: size(wh, s, AS_OF) for s in segs})
    rules = [r for r in load_rules() if r.kind != "volume_change"]
    dq, t_dq = _timed(lambda: {r.rule_id: r.status for r in evaluate(wh, rules, AS_OF)})
    wh.con._session.stop()
    return {"start": t_start, "load": t_load, "tags": t_tags, "segments": t_seg, "dq": t_dq, "rows": rows,
            "sizes": sizes, "dq_status": dq}


def main() -> int:
    from _perfdoc import write_section

    from kequn.synth import generate

    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--months", type=int, default=6)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.customers, args.months = 2_000, 3
    work = Path(tempfile.mkdtemp(prefix="kequn-bench-spark-"))
    manifest, t_synth = _timed(lambda: generate(work / "bank", customers=args.customers, months=args.months, seed=7))
    d = duck_run(work / "bank", work)
    s = spark_run(work / "bank", work)
    same = d["rows"] == s["rows"] and d["sizes"] == s["sizes"] and d["dq_status"] == s["dq_status"]
    txns = manifest["rows"]["transaction"]
    print(f"bank: {args.customers} customers, {args.months} months, {txns} transactions (synth {t_synth}s)")
    for step in ("load", "tags", "segments", "dq"):
        print(f"{step:9s} duckdb {d[step]:7.2f}s   spark local {s[step]:7.2f}s")
    print(f"spark start {s['start']}s; results agree: {same}")
    cmd = "python bench/spark.py" + (" --quick" if args.quick else f" --customers {args.customers} --months {args.months}")
    label = f"{args.customers:,} customers × {args.months} months ({txns:,} transactions)"
    rows = [(f"{step} — Spark local[2], {label}", f"{s[step]} s", f"DuckDB {d[step]} s", "same results as DuckDB", same)
            for step in ("load", "tags", "segments", "dq")]
    rows.append(("Spark session start (local[2])", f"{s['start']} s", "—", "—", True))
    write_section("Spark local vs DuckDB", cmd, rows)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
