"""Bench: batch scoring of 1M customers — features (from the point-in-time tag snapshots) → predict (with
reasons in words) → write back to ``model_score`` — goal ≤ 60 s.

Setup (not timed): a small synthetic bank is generated and loaded, a retail-churn model is trained on it,
approved by a second user and promoted; then the customer tag snapshots the features need (as of D, D − 1
month, D − 3 months) are replicated to ``--customers`` rows with new ids. Timed: ``kequn.models.scoring.score``
(the same call as ``kequn models score``), split into features / predict+reasons / write. Baseline in the
same run: predict only (no reasons) on the same rows. Writes the "Model scoring" section of
docs/performance.md (``--no-doc`` to skip).

    .venv/bin/python bench/score.py [--customers 1000000] [--seed-customers 3000] [--no-doc]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

D = dt.date(2026, 10, 31)


def replicate(wh, n_target: int, dates: list[dt.date]) -> int:
    """Grow tag_snapshot_customer at ``dates`` to about ``n_target`` customers per date (new ids)."""
    con = wh.con.con
    base = con.execute(f"SELECT count(*) FROM tag_snapshot_customer WHERE as_of = DATE '{D}'").fetchone()[0]
    copies = max(1, -(-n_target // base))
    cols = [r[0] for r in con.execute("DESCRIBE tag_snapshot_customer").fetchall()]
    sel = ", ".join("customer_id || '-' || i::VARCHAR AS customer_id" if c == "customer_id" else f'"{c}"' for c in cols)
    in_dates = ", ".join(f"DATE '{d}'" for d in dates)
    con.execute(f"CREATE TEMP TABLE _seed AS SELECT * FROM tag_snapshot_customer WHERE as_of IN ({in_dates})")
    con.execute(f"DELETE FROM tag_snapshot_customer WHERE as_of IN ({in_dates})")
    con.execute(f"INSERT INTO tag_snapshot_customer SELECT {sel} FROM _seed, range({copies}) r(i)")
    return con.execute(f"SELECT count(*) FROM tag_snapshot_customer WHERE as_of = DATE '{D}'").fetchone()[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed-customers", type=int, default=3000)
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    import os

    import models_bank
    from kequn.models import datasets as DS
    from kequn.models import registry, scoring, train

    models_bank.CUSTOMERS = args.seed_customers
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        wh, _, engine = models_bank.make_bank(root)
        dates = [dt.date(2026, 6, 30), dt.date(2026, 7, 31), dt.date(2026, 8, 31), dt.date(2026, 9, 30)]
        mv, metrics = train.train(wh, engine, "retail_churn", user="bench", dates=dates, folder=root / "models")
        registry.submit(engine, mv.name, mv.version, "bench")
        registry.approve(engine, mv.name, mv.version, "checker")
        DS.ensure_feature_snapshots(wh, "customer", [D])
        n = replicate(wh, args.customers, [D, DS.add_months(D, -1), DS.add_months(D, -3)])
        print(f"setup {time.perf_counter() - t:.1f}s: {n:,} customers as of {D}; model AUC "
              f"{metrics['test']['auc']:.3f}", flush=True)
        load0 = os.getloadavg()[0]
        t, c = time.perf_counter(), time.process_time()
        run = scoring.score(wh, engine, mv.name, mv.version, as_of=D)
        total, cpu = time.perf_counter() - t, time.process_time() - c
        load1 = os.getloadavg()[0]
        print(f"score (features → predict + reasons → write): {run.rows:,} rows in {total:.1f}s {run.seconds}; "
              f"CPU {cpu:.1f}s (all threads); load average {load0:.1f} → {load1:.1f}", flush=True)
        art = registry.load(registry.get(engine, mv.name, mv.version))
        df = scoring.features_frame(wh, "customer", D)
        t, c = time.perf_counter(), time.process_time()
        train.predict(art, df)
        base, base_cpu = time.perf_counter() - t, time.process_time() - c
        print(f"baseline predict only (no reasons, no write): {base:.1f}s, CPU {base_cpu:.1f}s")
        written = wh.con.con.execute("SELECT count(*) FROM model_score WHERE score_name = 'churn_risk'").fetchone()[0]
        with_reasons = wh.con.con.execute("SELECT count(*) FROM model_score WHERE score_name = 'churn_risk' "
                                          "AND reasons <> '[]'").fetchone()[0]
        print(f"rows in model_score: {written:,} ({with_reasons:,} with reasons); goal ≤ 60 s: "
              f"{'met' if total <= 60 else 'NOT met'}")
        wh.close()
    if not args.no_doc:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _perfdoc import write_section

        s = run.seconds
        write_section("Model scoring (kequn models score)", f".venv/bin/python bench/score.py --customers {args.customers}", [
            (f"score {run.rows:,} customers (features → predict + reasons for the {with_reasons:,} highest → write)",
             f"{total:.1f} s (features {s['features']} s, predict + reasons {s['predict']} s, write {s['write']} s); "
             f"CPU {cpu:.1f} s on all threads; load average {load0:.1f} → {load1:.1f} during the run",
             f"predict only: {base:.1f} s (CPU {base_cpu:.1f} s)", "≤ 60 s",
             total <= 60),
        ])


if __name__ == "__main__":
    main()
