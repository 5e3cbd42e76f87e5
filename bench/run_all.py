"""`make bench`: run every benchmark script in bench/ one after another and print their figures.

Each script prints its own figures beside a same-run baseline and updates its section of
docs/performance.md. Arguments after ``--`` are passed to every script (e.g. ``-- --quick``).
Set BENCH_ONLY=load,tags to run a subset. Last, bench/report.py regenerates the "Goals by issue" summary at
the top of docs/performance.md from the sections' tables (also after failures, so it shows what is missing).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    only = {s for s in os.environ.get("BENCH_ONLY", "").split(",") if s}
    extra = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    failed = []
    for script in sorted(HERE.glob("*.py")):
        if script.name.startswith("_") or script.name in ("run_all.py", "report.py"):
            continue
        if only and script.stem not in only:
            continue
        print(f"=== bench/{script.name} ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script), *extra], cwd=HERE.parent)
        print(f"=== bench/{script.name}: exit {rc} in {time.perf_counter() - t0:.0f}s ===", flush=True)
        if rc:
            failed.append(script.name)
    print("=== bench/report.py: Goals by issue ===", flush=True)
    if subprocess.call([sys.executable, str(HERE / "report.py")], cwd=HERE.parent):
        failed.append("report.py")
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
