"""Bench: batch scoring of 1M customers — features (from the point-in-time tag snapshots) → predict (with
reasons in words) → write back to ``model_score`` — goal ≤ 60 s.

Setup (not timed): a small synthetic bank is generated and loaded, a retail-churn model is trained on it,
approved by a second user and promoted; then the customer tag snapshots the features need (as of D, D − 1
month, D − 3 months) are replicated to ``--customers`` rows with new ids. Timed: ``kequn.models.scoring.score``
(the same call as ``kequn models score``), split into features / predict+reasons / write. Baseline in the
same run: predict only (no reasons) on the same rows.

    .venv/bin/python bench/score.py [--customers 1000000] [--seed-customers 3000]
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
    args = ap.parse_args()
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
        t = time.perf_counter()
        run = scoring.score(wh, engine, mv.name, mv.version, as_of=D)
        total = time.perf_counter() - t
        print(f"score (features → predict + reasons → write): {run.rows:,} rows in {total:.1f}s {run.seconds}")
        art = registry.load(registry.get(engine, mv.name, mv.version))
        df = DS.features_expr(wh, "customer", D).to_pandas()
        t = time.perf_counter()
        train.predict(art, df)
        print(f"baseline predict only (no reasons, no write): {time.perf_counter() - t:.1f}s")
        written = wh.con.con.execute("SELECT count(*) FROM model_score WHERE score_name = 'churn_risk'").fetchone()[0]
        print(f"rows in model_score: {written:,}; goal ≤ 60 s: {'met' if total <= 60 else 'NOT met'}")
        wh.close()


if __name__ == "__main__":
    main()
