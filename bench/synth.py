"""Benchmark `kequn synth`: 1,000,000 customers × 12 months (goal ≤ 10 min, ≤ 8 GB peak memory), beside
the same-run baseline of the demo size (20,000 × 12, goal < 60 s).

    .venv/bin/python bench/synth.py                       # the full run; updates docs/performance.md
    .venv/bin/python bench/synth.py --customers 100000 --no-doc   # a trial run

Each generation runs in its own process so its peak memory (max RSS) is measured alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = """
import json, sys, datetime as dt
from pathlib import Path
from kequn.synth.generate import SynthParams, generate
n, m, seed, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
man = generate(out, SynthParams(customers=n, months=m, seed=seed), progress=lambda s: print(s, file=sys.stderr, flush=True))
print(json.dumps({"rows": man["row_counts"], "elapsed": man["elapsed_seconds"]}))
"""


def run(n: int, months: int, seed: int, out: Path) -> dict:
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(n), str(months), str(seed), str(out)],
                          capture_output=True, text=True, cwd=HERE.parent)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"generation of {n:,} customers failed (exit {proc.returncode})")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"customers": n, "wall_s": wall, "peak_gb": peak_kb / 1024**2, "rows": res["rows"],
            "total_rows": sum(res["rows"].values()), "bytes": size}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "synth")
    ap.add_argument("--keep", action="store_true", help="keep the generated folders")
    ap.add_argument("--no-doc", action="store_true", help="do not update docs/performance.md")
    ap.add_argument("--quick", action="store_true", help="100,000 customers (for make bench -- --quick)")
    a = ap.parse_args()
    n = 100_000 if a.quick else a.customers
    base = run(20_000, a.months, a.seed, a.out / "demo")  # the same-run baseline: what `make demo` generates
    big = run(n, a.months, a.seed, a.out / "big")
    for r in (base, big):
        print(f"{r['customers']:>9,} customers × {a.months} months: {r['wall_s']:7.1f} s, peak {r['peak_gb']:.2f} GB, "
              f"{r['total_rows']:,} rows ({r['rows']['transaction']:,} transactions, {r['rows']['event']:,} events), "
              f"{r['bytes'] / 1e9:.2f} GB on disk, {r['total_rows'] / r['wall_s'] / 1e6:.2f} M rows/s")
    if not a.keep:
        shutil.rmtree(a.out, ignore_errors=True)
    if not a.no_doc:
        sys.path.insert(0, str(HERE))
        from _perfdoc import write_section

        full = n == 1_000_000
        write_section("Synthetic bank (kequn synth)", f".venv/bin/python bench/synth.py --customers {n} --months {a.months}", [
            (f"{n:,} customers × {a.months} months, wall time", f"{big['wall_s']:.0f} s",
             f"20,000 customers: {base['wall_s']:.1f} s", "≤ 600 s" if full else "(trial size)", big["wall_s"] <= 600),
            ("peak memory (max RSS of the generating process)", f"{big['peak_gb']:.2f} GB",
             f"20,000 customers: {base['peak_gb']:.2f} GB", "≤ 8 GB", big["peak_gb"] <= 8),
            ("rows written (22 canonical tables; truth/ not counted)", f"{big['total_rows']:,}",
             f"{base['total_rows']:,}", "—", True),
            ("transactions / events", f"{big['rows']['transaction']:,} / {big['rows']['event']:,}",
             f"{base['rows']['transaction']:,} / {base['rows']['event']:,}", "≈ 8 transactions per customer-month", True),
            ("throughput", f"{big['total_rows'] / big['wall_s'] / 1e6:.2f} M rows/s",
             f"{base['total_rows'] / base['wall_s'] / 1e6:.2f} M rows/s", "—", True),
            ("demo size (20,000 × 12) wall time", f"{base['wall_s']:.1f} s", "—", "< 60 s", base["wall_s"] < 60),
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
