"""Loan routing benchmark (issue 8).

1. In-process: route N synthetic applications over a 30-product ladder (the shipped 10-product ladder
   plus 20 regional variants); per-application latency p50/p99/max. Same-run baselines: the 10-product
   shipped ladder, and validating the application alone (pydantic).
   Goal: p99 ≤ 2 ms per application over 30 products.
2. Over HTTP on loopback: the bench starts uvicorn on 127.0.0.1 (``--workers``, default 2) serving the router
   on a bare FastAPI app with a fresh SQLite ops store (every decision is stored), then sends a bounded
   number of POST /api/route requests from C keep-alive client threads.
   Goal: ≥ 500 decisions/s with p99 ≤ 25 ms.

    .venv/bin/python bench/route.py [--n 5000] [--http-requests 4000] [--clients 8] [--workers 2] [--no-http]
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kequn.domain.loans import Application, LadderSpec  # noqa: E402
from kequn.routing.ladder import DEFAULT_LADDER, ladder_payload, load_ladder_file  # noqa: E402
from kequn.routing.router import compile_ladder, route  # noqa: E402


def ladder_30() -> LadderSpec:
    """The shipped ladder plus two regional variants of each product (different spreads and thresholds)."""
    base = ladder_payload(load_ladder_file(DEFAULT_LADDER))
    products = list(base["products"])
    for k, bump in ((1, "0.15"), (2, "-0.10")):
        for p in base["products"]:
            q = copy.deepcopy(p)
            q["id"], q["name"] = f"{p['id']}_r{k}", f"{p['name']}（区域{k}）"
            q["pricing"]["spread_by_grade"] = {g: str(float(s) + float(bump))
                                               for g, s in p["pricing"]["spread_by_grade"].items()}
            q["rules"] = [*q["rules"], {"field": "region", "op": "starts_with",
                                        "value": ["4301" if k == 1 else "4302"], "code": "REGION_NOT_SERVED"}]
            products.append(q)
    return LadderSpec.model_validate({**base, "version": 30, "products": products})


def applications(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    regions = ["430104", "430105", "430121", "430181", "430211", "430302", "440305"]
    out = []
    for i in range(n):
        sme = rng.random() < 0.2
        tags = {"payroll_customer": rng.random() < 0.4, "housing_fund_months": rng.choice([0, 6, 24, 60]),
                "housing_fund_monthly": rng.choice([0, 300, 800, 2000]), "card_holder": rng.random() < 0.5,
                "card_months": rng.randint(0, 100), "owns_property_in_region": rng.random() < 0.2,
                "pos_scenario": rng.random() < 0.2}
        if sme:
            tags |= {"tax_credit_rating": rng.choice("ABMD"), "tax_paid_annual": rng.randint(0, 200000),
                     "business_years": rng.randint(0, 15), "acquiring_months": rng.randint(0, 36),
                     "acquiring_monthly_avg": rng.randint(0, 200000)}
        out.append({
            "application_id": f"BENCH{seed}-{i:07d}", "customer_id": f"C{rng.randint(1, 10**6):07d}",
            "branch_id": f"B{rng.randint(1, 60):03d}", "applied_on": "2026-11-28",
            "channel": rng.choice(["app", "wechat", "web"]), "customer_type": "sme_owner" if sme else "individual",
            "age": rng.randint(18, 72), "monthly_income": f"{rng.randint(1500, 60000)}.00",
            "amount_requested": f"{rng.choice([5, 20, 50, 100, 300, 800]) * 1000}.00",
            "term_months": rng.choice([6, 12, 24, 36, 60]), "payroll_months": rng.randint(0, 60),
            "risk_grade": rng.choice("AABBBCCDE"), "overdue_count_24m": rng.choice([0, 0, 0, 1, 2, 4, 7]),
            "max_days_past_due": rng.choice([0] * 12 + [5, 45]), "region": rng.choice(regions),
            "industry": rng.choice(["C", "F", "G", "H", "K"]) if sme else None,
            "segments": rng.sample(["payroll_vip", "sme_park", "new_citizen", "rural_revitalisation"],
                                   rng.randint(0, 2)),
            "tags": tags,
        })
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def timed_ms(fn, items) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this thread) milliseconds per item."""
    wall, cpu = [], []
    for x in items:
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        fn(x)
        wall.append((time.perf_counter_ns() - t0) / 1e6)
        cpu.append((time.thread_time_ns() - c0) / 1e6)
    return wall, cpu


def in_process(n: int) -> dict:
    raw = applications(n)
    apps = [Application.model_validate(a) for a in raw]
    l30, l10 = compile_ladder(ladder_30()), compile_ladder(load_ladder_file(DEFAULT_LADDER))
    for a in apps[:200]:  # warm-up
        route(l30, a)
    res = {"validate": timed_ms(Application.model_validate, raw),
           "route_10": timed_ms(lambda a: route(l10, a), apps),
           "route_30": timed_ms(lambda a: route(l30, a), apps),
           "validate+route_30": timed_ms(lambda r: route(l30, Application.model_validate(r)), raw)}
    outcomes = [route(l30, a).outcome for a in apps]
    summary = {k: {"p50": round(statistics.median(w), 3), "p99": round(pct(w, 0.99), 3),
                   "max": round(max(w), 3), "cpu_p50": round(statistics.median(c), 3),
                   "cpu_p99": round(pct(c, 0.99), 3)} for k, (w, c) in res.items()}
    summary["outcomes"] = {o: outcomes.count(o) for o in ("offer", "lead", "declined")}
    return summary


# ------------------------------------------------------------------------------------------ HTTP

SERVER_MODULE = """
import os, sys
sys.path.insert(0, os.environ["KEQUN_BENCH_SRC"])
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from kequn.api.routes_routing import router
from kequn.opstore import engine_for

app = FastAPI()
app.include_router(router)
app.state.routing_engine = engine_for(os.environ["KEQUN_BENCH_OPSTORE"])


@app.post("/bench/noop")
async def noop(request: Request):  # same-run baseline: the HTTP stack alone (read body, answer JSON)
    await request.body()
    return JSONResponse({"ok": True})
"""


def start_server(tmp: Path, url: str, port: int, workers: int) -> subprocess.Popen:
    import os

    (tmp / "kequn_bench_route_app.py").write_text(SERVER_MODULE, encoding="utf-8")
    env = {**os.environ, "KEQUN_BENCH_SRC": str(ROOT / "src"), "KEQUN_BENCH_OPSTORE": url,
           "PYTHONPATH": str(tmp)}
    return subprocess.Popen([sys.executable, "-m", "uvicorn", "kequn_bench_route_app:app", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", str(workers), "--log-level", "warning",
                             "--no-access-log"], env=env, cwd=tmp)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_store(url: str) -> None:
    from kequn.opstore import engine_for, migrate
    from kequn.routing import ladder

    engine = engine_for(url)
    migrate(engine)
    req = ladder.submit(engine, ladder_30(), "bench_maker")
    ladder.approve(engine, req.id, "bench_checker")
    engine.dispose()


def wait_up(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    t_end = time.time() + timeout
    while time.time() < t_end:
        if proc.poll() is not None:
            raise RuntimeError("uvicorn exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("uvicorn did not start")


def client(port: int, bodies: list[bytes], lat: list[float], errors: list[int], path: str = "/api/route") -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"content-type": "application/json"}
    for body in bodies:
        t0 = time.perf_counter_ns()
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        lat.append((time.perf_counter_ns() - t0) / 1e6)
        if resp.status != 200:
            errors.append(resp.status)
    conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (the uvicorn workers), from Linux /proc."""
    import os

    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[int]:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [int(k) for k in kids] + [g for k in kids for g in _children(int(k))]


def load(port: int, proc: subprocess.Popen, bodies: list[bytes], n_clients: int, path: str) -> dict:
    """Send ``bodies`` from ``n_clients`` keep-alive threads; latency, throughput and server CPU."""
    shards = [bodies[i::n_clients] for i in range(n_clients)]
    lats: list[list[float]] = [[] for _ in shards]
    errors: list[int] = []
    threads = [threading.Thread(target=client, args=(port, s, lat, errors, path))
               for s, lat in zip(shards, lats, strict=True)]
    cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    server_cpu = cpu_seconds(proc.pid) - cpu0
    all_lat = [x for lat in lats for x in lat]
    return {"path": path, "requests": len(all_lat), "clients": n_clients, "errors": len(errors),
            "per_s": round(len(all_lat) / wall, 1), "p50_ms": round(statistics.median(all_lat), 2),
            "p99_ms": round(pct(all_lat, 0.99), 2), "max_ms": round(max(all_lat), 2),
            "server_cpu_ms_per_request": round(server_cpu * 1000 / len(all_lat), 2),
            "per_server_cpu_second": round(len(all_lat) / server_cpu, 1) if server_cpu else None}


class _PgDatabase:
    """A throwaway database on the PostgreSQL server at ``admin_url`` (dropped afterwards)."""

    def __init__(self, admin_url: str) -> None:
        import uuid

        self.admin_url, self.name = admin_url, f"kequn_bench_route_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> str:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{self.name}"')
        return self.admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + self.name

    def __exit__(self, *exc: object) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def over_http(n_requests: int, n_clients: int, workers: int, tmp_root: str | None = None,
              pg_admin: str | None = None) -> dict:
    import contextlib

    with tempfile.TemporaryDirectory(prefix="kequn-bench-route-", dir=tmp_root) as tmp, \
            (_PgDatabase(pg_admin) if pg_admin else contextlib.nullcontext(None)) as pg_url:
        url = pg_url or f"sqlite:///{Path(tmp) / 'ops.sqlite'}"
        prepare_store(url)
        port = free_port()
        proc = start_server(Path(tmp), url, port, workers)
        try:
            wait_up(port, proc)
            bodies = [json.dumps(a).encode() for a in applications(n_requests, seed=11)]
            for i in range(workers * 2):  # warm-up every worker (compiles the ladder, opens the store)
                client(port, bodies[i * 50:(i + 1) * 50], [], [])
            baseline = load(port, proc, bodies[workers * 100:], n_clients, "/bench/noop")
            routed = load(port, proc, bodies[workers * 100:], n_clients, "/api/route")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return {"workers": workers, "store": "postgresql" if pg_admin else "sqlite", "baseline_noop": baseline,
            "route": routed}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--http-requests", type=int, default=4000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--pg", default=None, metavar="ADMIN_URL",
                    help="store decisions in a throwaway database on this PostgreSQL server instead of SQLite, "
                         "e.g. postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--tmp-dir", default=None, help="where the SQLite ops store lives (e.g. /dev/shm to take "
                                                     "the disk's fsync out, as a diagnostic)")
    ap.add_argument("--quick", action="store_true", help="smaller runs (for `make bench -- --quick`)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.http_requests = 1000, 1200
    import os

    result = {"load_average_before": os.getloadavg(), "in_process": in_process(args.n)}
    ip = result["in_process"]
    ok_ip = ip["route_30"]["p99"] <= 2.0
    print(json.dumps(result, indent=1))
    print(f"in-process: p99 {ip['route_30']['p99']} ms over 30 products (goal ≤ 2 ms): {'MET' if ok_ip else 'NOT MET'}")
    ok_http = True
    if not args.no_http:
        result["http"] = over_http(args.http_requests, args.clients, args.workers, args.tmp_dir, args.pg)
        h, b = result["http"]["route"], result["http"]["baseline_noop"]
        ok_http = h["per_s"] >= 500 and h["p99_ms"] <= 25 and h["errors"] == 0
        print(json.dumps(result["http"], indent=1))
        print(f"HTTP: {h['per_s']} decisions/s, p99 {h['p99_ms']} ms (goal ≥ 500/s, p99 ≤ 25 ms): "
              f"{'MET' if ok_http else 'NOT MET'}; same-run no-op baseline {b['per_s']} req/s, p99 {b['p99_ms']} ms")
    print(f"load average before {result['load_average_before']}, after {os.getloadavg()} (2 cores)")
    return 0 if ok_ip and ok_http else 1


if __name__ == "__main__":
    sys.exit(main())
