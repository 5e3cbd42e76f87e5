"""Loan routing benchmark (issue 8).

1. In-process: route N synthetic applications over a 30-product ladder (the shipped 10-product ladder
   plus 20 regional variants); per-application latency p50/p99/max. Same-run baselines: the 10-product
   shipped ladder, and validating the application alone (pydantic).
   Goal: p99 ≤ 2 ms per application over 30 products.
2. Over HTTP on loopback: the bench starts uvicorn on 127.0.0.1 (``--workers``, default 2) serving the router
   on a bare FastAPI app with a fresh SQLite ops store (or ``--pg``: a throwaway PostgreSQL database);
   every decision is stored by the group-commit writer (durable commit) before its response is sent.
   a. closed loop (throughput at saturation): ``--clients`` keep-alive threads send as fast as answered;
   b. open loop (the goal): ``--client-procs`` processes with a lean asyncio HTTP/1.1 client and
      ``--conns`` keep-alive connections each (spread evenly over the workers, as a load balancer
      would) offer ``--rate`` requests/s, evenly spaced, for
      ``--duration`` s; latency is measured from each request's SCHEDULED send time, so a stalled server
      is charged for every request it held back (no coordinated omission).
   Each with the same-run no-op endpoint as baseline; server and client CPU per request; decisions per
   durable commit; and a check that every answered decision is in the log.
   Goal: ≥ 500 decisions/s with p99 ≤ 25 ms (open loop at 500/s offered).
   Writes its section of docs/performance.md (``--no-doc``: print only).

    .venv/bin/python bench/route.py [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--rate 500]
        [--duration 10] [--client-procs 2] [--conns 16] [--clients 8] [--workers 2] [--max-wait-ms 2]
        [--switch-interval-ms 1] [--no-http] [--no-doc] [--quick]
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

from kequn.routing.store import DecisionWriter

app = FastAPI()
app.include_router(router)  # its lifespan closes the writer on shutdown (queued decisions are committed)
app.state.routing_engine = engine_for(os.environ["KEQUN_BENCH_OPSTORE"])
_switch = os.environ["KEQUN_BENCH_SWITCH_MS"]
app.state.routing_writer = DecisionWriter(app.state.routing_engine,
                                          max_wait=float(os.environ["KEQUN_BENCH_MAX_WAIT_MS"]) / 1000,
                                          switch_interval=float(_switch) / 1000 if _switch else None)


@app.get("/bench/writer")
async def writer_counts():  # this worker's group-commit counters
    w = app.state.routing_writer
    return JSONResponse({"pid": os.getpid(), "batches": w.batches, "committed": w.committed})


@app.post("/bench/noop")
async def noop(request: Request):  # same-run baseline: the HTTP stack alone (read body, answer JSON)
    await request.body()
    return JSONResponse({"ok": True})
"""


#: ``--reuseport`` server: one uvicorn process per worker, each on its own SO_REUSEPORT socket on the same
#: port, so the kernel spreads connections over the workers by their address hash. (uvicorn's own
#: ``--workers`` share one listening socket: a burst of keep-alive connections lands mostly on whichever
#: worker wakes first — measured 85 % / 15 % of the requests — and that worker saturates alone.)
LAUNCHER = """
import os, signal, socket, subprocess, sys

port, workers = int(sys.argv[1]), int(sys.argv[2])
if workers == 0:  # one worker
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config("kequn_bench_route_app:app", log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
    sys.exit(0)
kids = [subprocess.Popen([sys.executable, __file__, str(port), "0"]) for _ in range(workers)]


def stop(*_):
    for k in kids:
        k.terminate()  # uvicorn's graceful shutdown: each writer commits what it holds


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
sys.exit(max(k.wait() for k in kids))
"""


def start_server(tmp: Path, url: str, port: int, workers: int, max_wait_ms: float,
                 switch_ms: float | None, reuseport: bool = True) -> subprocess.Popen:
    import os

    (tmp / "kequn_bench_route_app.py").write_text(SERVER_MODULE, encoding="utf-8")
    (tmp / "kequn_bench_route_launch.py").write_text(LAUNCHER, encoding="utf-8")
    env = {**os.environ, "KEQUN_BENCH_SRC": str(ROOT / "src"), "KEQUN_BENCH_OPSTORE": url,
           "KEQUN_BENCH_MAX_WAIT_MS": str(max_wait_ms), "PYTHONPATH": str(tmp),
           "KEQUN_BENCH_SWITCH_MS": "" if switch_ms is None else str(switch_ms)}
    if reuseport:
        return subprocess.Popen([sys.executable, str(tmp / "kequn_bench_route_launch.py"), str(port), str(workers)],
                                env=env, cwd=tmp)
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


# ------------------------------------------------------------------- open-loop load (fixed arrival rate)


async def _balanced_connections(port: int, n_conns: int, workers: int) -> list:
    """``n_conns`` keep-alive connections spread evenly over the server's worker processes (as a load
    balancer would): each new connection asks ``GET /bench/writer`` which worker it reached; a connection to
    a worker that already has its share is closed. Gives up balancing after 20 tries per connection."""
    import asyncio

    per: dict[int, int] = {}
    share = -(-n_conns // workers)
    kept: list = []
    for _ in range(20 * n_conns):
        if len(kept) == n_conns:
            break
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /bench/writer HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        pid = json.loads(await reader.readexactly(length))["pid"]
        if per.get(pid, 0) < share:
            per[pid] = per.get(pid, 0) + 1
            kept.append((reader, writer))
        else:
            writer.close()
    while len(kept) < n_conns:  # could not balance: take what comes
        kept.append(await asyncio.open_connection("127.0.0.1", port))
    return kept


async def _open_loop_proc(port: int, path: str, bodies: list[bytes], sched: list[float], n_conns: int,
                          workers: int) -> tuple[list[float], list[float], list[int]]:
    """Send ``bodies[i]`` at monotonic time ``sched[i]`` over a pool of keep-alive connections (a lean
    HTTP/1.1 client on asyncio streams). Latency is measured from the SCHEDULED send time, so a request
    held back by a slow server (or a busy client) counts its whole wait (no coordinated omission)."""
    import asyncio

    idle: asyncio.Queue = asyncio.Queue()
    for conn in await _balanced_connections(port, n_conns, workers):
        idle.put_nowait(conn)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
    lat, service, statuses = [], [], []

    async def one(body: bytes, t_sched: float) -> None:
        reader, writer = await idle.get()
        t_send = time.monotonic()
        writer.write(f"{head}{len(body)}\r\n\r\n".encode() + body)
        status_line = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        t_done = time.monotonic()
        idle.put_nowait((reader, writer))
        lat.append((t_done - t_sched) * 1000)
        service.append((t_done - t_send) * 1000)
        statuses.append(int(status_line.split()[1]))

    tasks = []
    for body, t in zip(bodies, sched, strict=True):
        delay = t - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(body, t)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait()[1].close()
    return lat, service, statuses


def _open_loop_child(conn, port, path, bodies, sched, n_conns, workers) -> None:  # noqa: ANN001
    import asyncio
    import resource

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    lat, service, statuses = asyncio.run(_open_loop_proc(port, path, bodies, sched, n_conns, workers))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    conn.send((lat, service, statuses, ru.ru_utime + ru.ru_stime, time.monotonic()))
    conn.close()


def open_loop(port: int, proc: subprocess.Popen, bodies: list[bytes], rate: float, n_procs: int,
              n_conns: int, path: str, workers: int = 1) -> dict:
    """Offer ``rate`` requests/s (evenly spaced) from ``n_procs`` client processes with ``n_conns``
    keep-alive connections each; latency from the scheduled send time."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    start = time.monotonic() + 1.0  # every child is up and connected before the first send
    sched = [start + i / rate for i in range(len(bodies))]
    pipes, procs = [], []
    for k in range(n_procs):
        parent, child = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_open_loop_child,
                        args=(child, port, path, bodies[k::n_procs], sched[k::n_procs], n_conns, workers))
        p.start()
        pipes.append(parent)
        procs.append(p)
    cpu0 = cpu_seconds(proc.pid)
    lat, service, statuses, client_cpu, end = [], [], [], 0.0, start
    for parent, p in zip(pipes, procs, strict=True):
        a, b, c, cpu, done = parent.recv()
        end = max(end, done)
        lat += a
        service += b
        statuses += c
        client_cpu += cpu
        p.join()
    server_cpu = cpu_seconds(proc.pid) - cpu0
    n = len(lat)
    return {"path": path, "mode": f"open loop, {rate:g}/s offered", "requests": n, "client_processes": n_procs,
            "connections": n_procs * n_conns, "errors": sum(s != 200 for s in statuses),
            "per_s": round(n / (end - start), 1), "p50_ms": round(statistics.median(lat), 2),
            "p99_ms": round(pct(lat, 0.99), 2), "max_ms": round(max(lat), 2),
            "service_p99_ms": round(pct(service, 0.99), 2),
            "server_cpu_ms_per_request": round(server_cpu * 1000 / n, 2),
            "client_cpu_ms_per_request": round(client_cpu * 1000 / n, 2)}


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


def writer_counts(port: int, workers: int) -> dict:
    """Decisions and commits (batches) of every worker's writer: decisions per durable commit."""
    seen: dict[int, dict] = {}
    for _ in range(50 * workers):
        if len(seen) == workers:
            break
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # a new connection: any worker
        conn.request("GET", "/bench/writer")
        w = json.loads(conn.getresponse().read())
        conn.close()
        seen[w["pid"]] = w
    batches, committed = sum(w["batches"] for w in seen.values()), sum(w["committed"] for w in seen.values())
    return {"workers_seen": len(seen), "decisions_per_worker": sorted(w["committed"] for w in seen.values()),
            "decisions": committed, "commits": batches,
            "decisions_per_commit": round(committed / batches, 2) if batches else None}


def stored_decisions(url: str) -> int:
    import sqlalchemy as sa

    from kequn.opstore import engine_for

    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM loan_decision")).scalar_one())
    finally:
        engine.dispose()


def over_http(args: argparse.Namespace) -> dict:
    """Start uvicorn on loopback; closed-loop saturation (throughput) then open-loop at ``args.rate``
    (the latency goal), each with the same-run no-op baseline."""
    import contextlib

    with tempfile.TemporaryDirectory(prefix="kequn-bench-route-", dir=args.tmp_dir) as tmp, \
            (_PgDatabase(args.pg) if args.pg else contextlib.nullcontext(None)) as pg_url:
        url = pg_url or f"sqlite:///{Path(tmp) / 'ops.sqlite'}"
        prepare_store(url)
        port = free_port()
        switch_ms = None if args.switch_interval_ms == 0 else args.switch_interval_ms
        proc = start_server(Path(tmp), url, port, args.workers, args.max_wait_ms, switch_ms, not args.no_reuseport)
        out: dict = {"workers": args.workers, "server": "uvicorn --workers (one shared socket)" if args.no_reuseport
                     else "one uvicorn per worker, SO_REUSEPORT", "store": "postgresql" if args.pg else "sqlite",
                     "writer_max_wait_ms": args.max_wait_ms, "switch_interval_ms": switch_ms or 5}
        try:
            wait_up(port, proc)
            t_up = time.time() + 60
            while writer_counts(port, args.workers)["workers_seen"] < args.workers:  # every worker is up
                if time.time() > t_up or proc.poll() is not None:
                    raise RuntimeError("not every uvicorn worker started")
                time.sleep(0.2)
            n_open = int(args.rate * args.duration)
            bodies = [json.dumps(a).encode() for a in applications(max(args.http_requests, n_open) + 400, seed=11)]
            for i in range(args.workers * 2):  # warm-up every worker (compiles the ladder, opens the store)
                client(port, bodies[i * 50:(i + 1) * 50], [], [])
            warm = args.workers * 100
            if args.clients:
                out["closed_noop"] = load(port, proc, bodies[warm:warm + args.http_requests], args.clients,
                                          "/bench/noop")
                out["closed_route"] = load(port, proc, bodies[warm:warm + args.http_requests], args.clients,
                                           "/api/route")
            open_bodies = bodies[warm:warm + n_open]
            out["open_noop"] = open_loop(port, proc, open_bodies, args.rate, args.client_procs, args.conns,
                                         "/bench/noop", args.workers)
            out["open_route"] = open_loop(port, proc, open_bodies, args.rate, args.client_procs, args.conns,
                                          "/api/route", args.workers)
            out["group_commit"] = writer_counts(port, args.workers)
        finally:
            proc.terminate()  # uvicorn shuts down: each worker's writer commits what it still holds
            proc.wait(timeout=30)
        routed = sum(out[k]["requests"] - out[k]["errors"] for k in ("closed_route", "open_route") if k in out)
        out["decisions_stored"] = stored_decisions(url) - warm  # every answered decision is in the log
        out["decisions_answered"] = routed
    return out


def write_doc(result: dict, command: str) -> None:
    """This run's section of docs/performance.md: ``Loan routing bench: <store> store (bench/route.py)``."""
    from _perfdoc import write_section

    h, ip = result["http"], result["in_process"]
    o, b = h["open_route"], h["open_noop"]
    store = "PostgreSQL" if h["store"] == "postgresql" else "SQLite"
    offered = o["mode"].split(", ")[1]
    rows = [("in-process p99 per application, 30 products", f"{ip['route_30']['p99']} ms",
             f"10 products: {ip['route_10']['p99']} ms", "≤ 2 ms", ip["route_30"]["p99"] <= 2),
            (f"HTTP decisions/s, {store} store (open loop, {offered})", f"{o['per_s']}/s",
             f"no-op {b['per_s']}/s", "≥ 500/s", o["per_s"] >= 500 and o["errors"] == 0),
            (f"HTTP p99, {store} store (open loop, from the scheduled send)",
             f"{o['p99_ms']} ms (p50 {o['p50_ms']}, max {o['max_ms']})", f"no-op p99 {b['p99_ms']} ms", "≤ 25 ms",
             o["p99_ms"] <= 25),
            ("server CPU per decision; client CPU per request", f"{o['server_cpu_ms_per_request']} ms; "
             f"{o['client_cpu_ms_per_request']} ms", f"no-op {b['server_cpu_ms_per_request']} ms", "—", True)]
    if "closed_route" in h:
        c, cb = h["closed_route"], h["closed_noop"]
        rows.append((f"closed loop, {c['clients']} client threads (saturation): decisions/s, p99",
                     f"{c['per_s']}/s, p99 {c['p99_ms']} ms", f"no-op {cb['per_s']}/s, p99 {cb['p99_ms']} ms",
                     "—", True))
    g = h.get("group_commit", {})
    rows.append(("group commit: decisions per durable commit (all runs)", f"{g.get('decisions_per_commit')} "
                 f"({g.get('decisions')} decisions, {g.get('commits')} commits)", "1 without group commit",
                 "—", True))
    rows.append(("every answered decision is in the log (answered = stored)",
                 f"{h['decisions_answered']} = {h['decisions_stored']}", "—", "—",
                 h["decisions_answered"] == h["decisions_stored"]))
    before, after = result["load_average_before"], result["load_average_after"]
    rows.append(("load average (1/5/15 min) before → after, 2 cores; quiet (≤ 1.5)?",
                 f"{'/'.join(f'{x:.1f}' for x in before)} → {'/'.join(f'{x:.1f}' for x in after)}", "—", "—",
                 max(before[0], after[0]) <= 1.5))
    write_section(f"Loan routing bench: {store} store (bench/route.py)", command, rows)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--rate", type=float, default=500, help="open-loop offered rate, requests/s (the goal)")
    ap.add_argument("--duration", type=float, default=10, help="open-loop seconds")
    ap.add_argument("--client-procs", type=int, default=2, help="open-loop client processes")
    ap.add_argument("--conns", type=int, default=16, help="keep-alive connections per client process")
    ap.add_argument("--http-requests", type=int, default=3000, help="closed-loop requests")
    ap.add_argument("--clients", type=int, default=8, help="closed-loop client threads (0: skip)")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--max-wait-ms", type=float, default=2.0, help="group commit: longest wait of a batch")
    ap.add_argument("--switch-interval-ms", type=float, default=1.0,
                    help="the writer's thread switch interval (0: leave Python's default 5 ms)")
    ap.add_argument("--no-reuseport", action="store_true",
                    help="serve with `uvicorn --workers` (one shared listening socket) instead")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--no-doc", action="store_true", help="print only; do not update docs/performance.md")
    ap.add_argument("--pg", default=None, metavar="ADMIN_URL",
                    help="store decisions in a throwaway database on this PostgreSQL server instead of SQLite, "
                         "e.g. postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--tmp-dir", default=None, help="where the SQLite ops store lives (e.g. /dev/shm to take "
                                                     "the disk's fsync out, as a diagnostic)")
    ap.add_argument("--quick", action="store_true", help="smaller runs (for `make bench -- --quick`)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.http_requests, args.duration = 1000, 1200, 4
    import os

    result = {"load_average_before": os.getloadavg(), "in_process": in_process(args.n)}
    ip = result["in_process"]
    ok_ip = ip["route_30"]["p99"] <= 2.0
    print(json.dumps(result, indent=1))
    print(f"in-process: p99 {ip['route_30']['p99']} ms over 30 products (goal ≤ 2 ms): {'MET' if ok_ip else 'NOT MET'}")
    ok_http = True
    if not args.no_http:
        result["http"] = over_http(args)
        h, b = result["http"]["open_route"], result["http"]["open_noop"]
        ok_http = (h["per_s"] >= 500 and h["p99_ms"] <= 25 and h["errors"] == 0
                   and result["http"]["decisions_answered"] == result["http"]["decisions_stored"])
        print(json.dumps(result["http"], indent=1))
        print(f"HTTP open loop at {args.rate:g}/s offered: {h['per_s']} decisions/s, p99 {h['p99_ms']} ms "
              f"(goal ≥ 500/s, p99 ≤ 25 ms): {'MET' if ok_http else 'NOT MET'}; same-run no-op "
              f"{b['per_s']} req/s, p99 {b['p99_ms']} ms")
    load_after = os.getloadavg()
    print(f"load average before {result['load_average_before']}, after {load_after} (2 cores)")
    if not args.no_http and not args.no_doc:
        result["load_average_after"] = load_after
        write_doc(result, " ".join([".venv/bin/python bench/route.py", *sys.argv[1:]]))
    return 0 if ok_ip and ok_http else 1


if __name__ == "__main__":
    sys.exit(main())
