"""Benchmark the web console (issue 5): page times on the demo bank, and the customer 360 page on a
1M-customer warehouse.

    .venv/bin/python bench/console.py                      # demo bank (kequn synth, 20,000 customers)
    .venv/bin/python bench/console.py --big bench/out/load/warehouse.duckdb   # + the 360 page at 1M

The app runs in-process (FastAPI TestClient, so the figure is server time without network) over a real
DuckDB warehouse and a migrated SQLite ops store, signed in as an HQ analyst and a branch manager; each
page is requested ``--repeat`` times after one warm-up. The same-run baseline is ``/healthz`` (the
framework's floor: middleware, authorization gate skipped, no data). Goals: p95 ≤ 300 ms per page on the
demo bank; the 360 page ≤ 300 ms at 1M customers.

The 1M warehouse is copied into bench/out/console/ (never modified in place) and gets a stored tag
snapshot first, as `kequn tags compute` would make in production.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "console"
GOAL_MS = 300.0
sys.path.insert(0, str(ROOT / "bench"))


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def demo_warehouse(customers: int) -> Path:
    """The demo bank loaded into bench/out/console/demo.duckdb (synth → load → tags), built once."""
    from kequn.ingest import ensure_internal_tables, load_dir
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    path = OUT / f"demo_{customers}.duckdb"
    if path.exists():
        return path
    src = OUT / f"synth_{customers}"
    if not (src / "manifest.json").exists():
        subprocess.run([sys.executable, "-m", "kequn", "synth", "--out", str(src), "--customers", str(customers)],
                       check=True, cwd=ROOT)
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    wh = connect(f"duckdb:///{tmp}")
    create_tables(wh)
    ensure_internal_tables(wh)
    load_dir(wh, _canonical_only(src))
    compute_tags(wh)
    wh.close()
    tmp.rename(path)
    return path


def _canonical_only(src: Path) -> Path:
    """A folder of links to the canonical files only (synth also writes manifest.json and truth/)."""
    from kequn.domain.datamodel import TABLES_BY_NAME

    dest = src.parent / (src.name + "_canonical")
    dest.mkdir(exist_ok=True)
    for f in src.glob("*.parquet"):
        if f.stem in TABLES_BY_NAME and not (dest / f.name).exists():
            (dest / f.name).symlink_to(f.resolve())
    return dest


def compute_tags(wh: object) -> None:
    from kequn.tags.catalog import default_catalog
    from kequn.tags.store import compute

    as_of = dt.date(2026, 10, 31)
    t0 = time.perf_counter()
    compute(wh, as_of, default_catalog())
    print(f"  tags computed as of {as_of} in {time.perf_counter() - t0:.1f} s", flush=True)


def make_app(wh_path: Path, ops_path: Path) -> tuple[object, object]:
    from kequn.api import create_app
    from kequn.opstore import engine_for, migrate
    from kequn.services.users import ensure_demo_users
    from kequn.settings import Settings
    from kequn.warehouse import connect

    ops_path.unlink(missing_ok=True)
    engine = engine_for(f"sqlite:///{ops_path}")
    migrate(engine)
    wh = connect(f"duckdb:///{wh_path}", read_only=True)
    branches = [r["branch_id"] for r in wh.table("branch").filter(lambda t: t.level != "hq")
                .order_by("branch_id").select("branch_id").to_pyarrow().to_pylist()]
    demo = ensure_demo_users(engine, branches)
    app = create_app(Settings(demo=True, secret_key=""), warehouse=wh, opstore=engine)
    return app, {role: (u, p) for u, p, role, _ in demo}


def client_for(app: object, username: str, password: str) -> object:
    import re

    from fastapi.testclient import TestClient

    c = TestClient(app)
    token = re.search(r'id="login-csrf" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": username, "password": password, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    return c


def timed(client: object, path: str, repeat: int) -> list[float]:
    r = client.get(path)  # warm-up (compiles, caches the branch tree)
    assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:200]}"
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200
    return out


def sample_customers(app: object, client: object, n: int = 3) -> list[str]:
    rows = client.get(f"/api/customers?size={n}").json()["rows"]
    return [r["customer_id"] for r in rows]


def run_demo(customers: int, repeat: int) -> list[tuple]:
    wh_path = demo_warehouse(customers)
    app, demo = make_app(wh_path, OUT / "ops_demo.sqlite")
    analyst = client_for(app, *demo["hq_analyst"])
    manager = client_for(app, *demo["branch_manager"])
    auditor = client_for(app, *demo["auditor"])
    cid = sample_customers(app, manager)[0]
    pages = [(analyst, "/"), (manager, "/"), (analyst, "/customers"), (analyst, "/customers?q=C0000"),
             (manager, "/customers?sort=name&desc=true&page=2"), (analyst, f"/customers/{cid}"),
             (manager, f"/customers/{cid}"), (analyst, "/tags"), (analyst, "/dq"), (auditor, "/audit"),
             (analyst, "/api/overview"), (analyst, f"/api/customers/{cid}")]
    base = timed(analyst, "/healthz", repeat)
    rows, everything = [], []
    print(f"demo bank {customers} customers; baseline /healthz p95 {p95(base):.1f} ms", flush=True)
    for client, path in pages:
        ts = timed(client, path, repeat)
        everything += ts
        who = "manager" if client is manager else "auditor" if client is auditor else "analyst"
        print(f"  {who:8} {path:45} p50 {statistics.median(ts):7.1f} ms  p95 {p95(ts):7.1f} ms", flush=True)
        rows.append((f"demo bank: {path.replace('|', '/')} ({who}) p95", f"{p95(ts):.0f} ms",
                     f"/healthz {p95(base):.0f} ms", f"≤ {GOAL_MS:.0f} ms", p95(ts) <= GOAL_MS))
    rows += uncached(app, analyst, cid, repeat)
    rows.insert(0, ("demo bank: all pages p95", f"{p95(everything):.0f} ms", f"/healthz {p95(base):.0f} ms",
                    f"≤ {GOAL_MS:.0f} ms", p95(everything) <= GOAL_MS))
    return rows


def uncached(app: object, client: object, cid: str, repeat: int) -> list[tuple]:
    """Where the time goes: the overview query without its cache, and the 360 service called directly."""
    from kequn.security.scope import WHOLE_BANK
    from kequn.services.profile import customer_360

    data = app.state.kequn.data
    cold = []
    for _ in range(max(3, repeat // 2)):
        t0 = time.perf_counter()
        data._compute_overview(WHOLE_BANK)
        cold.append((time.perf_counter() - t0) * 1000)
    svc = []
    for _ in range(max(3, repeat // 2)):
        t0 = time.perf_counter()
        data.run(lambda wh: customer_360(wh, cid))
        svc.append((time.perf_counter() - t0) * 1000)
    page = timed(client, f"/customers/{cid}", max(3, repeat // 2))
    print(f"  overview query uncached p95 {p95(cold):.1f} ms; customer_360 service alone p95 {p95(svc):.1f} ms "
          f"vs its page p95 {p95(page):.1f} ms", flush=True)
    return [("demo bank: overview query without cache p95", f"{p95(cold):.0f} ms", "—", f"≤ {GOAL_MS:.0f} ms",
             p95(cold) <= GOAL_MS),
            ("demo bank: 360 page p95 vs services.profile.customer_360 alone", f"{p95(page):.0f} ms",
             f"service alone {p95(svc):.0f} ms", f"≤ {GOAL_MS:.0f} ms", p95(page) <= GOAL_MS)]


def run_big(src: Path, repeat: int) -> list[tuple]:
    from kequn.warehouse import connect

    dest = OUT / "big.duckdb"
    if not dest.exists():
        shutil.copy(src, dest.with_suffix(".building"))
        wh = connect(f"duckdb:///{dest.with_suffix('.building')}")
        compute_tags(wh)
        wh.close()
        dest.with_suffix(".building").rename(dest)
    app, demo = make_app(dest, OUT / "ops_big.sqlite")
    analyst = client_for(app, *demo["hq_analyst"])
    n = analyst.get("/api/overview").json()["customers"]
    cids = sample_customers(app, analyst, 5)
    base = timed(analyst, "/healthz", repeat)
    ts = [t for cid in cids for t in timed(analyst, f"/customers/{cid}", max(2, repeat // len(cids)))]
    print(f"{n} customers: 360 page p50 {statistics.median(ts):.1f} ms p95 {p95(ts):.1f} ms", flush=True)
    return [(f"{n:,} customers: customer 360 page p95", f"{p95(ts):.0f} ms", f"/healthz {p95(base):.0f} ms",
             f"≤ {GOAL_MS:.0f} ms", p95(ts) <= GOAL_MS)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=20000, help="demo bank size (kequn synth)")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--big", type=Path, default=None, help="a ≥1M-customer DuckDB warehouse to time the 360 on")
    ap.add_argument("--no-doc", action="store_true", help="do not write docs/performance.md")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rows = run_demo(args.customers, args.repeat)
    if args.big is not None:
        rows += run_big(args.big, args.repeat)
    if not args.no_doc:
        from _perfdoc import write_section

        cmd = "python bench/console.py" + (f" --big {args.big}" if args.big else "")
        write_section("Web console", cmd, rows)


if __name__ == "__main__":
    main()
