"""Out-of-core run: a 10M-customer bank (~1B transactions) through load → tags → segments → scoring on one
machine, with wall time, CPU time and peak memory per step (a benchmark, not a CI test).

    .venv/bin/python bench/scale.py --out /work/scale10m                       # 10 shards × 1M × 12 months
    .venv/bin/python bench/scale.py --out /work/scaletrial --customers 100000 --shards 2 --months 3
    .venv/bin/python bench/scale.py --out /work/scale10m --doc                 # only rewrite the doc section

Steps (each in its own child process, so its figures are its own; os.wait4 gives the child's CPU time and
peak RSS): ``init``; per shard ``synth-K`` (``kequn synth --shard K --shards N``) then ``load-K`` (``kequn load`` into
the one DuckDB warehouse; the shard's files are deleted afterwards to save disk); ``tags`` (``kequn tags
compute`` as of the end date); ``segments`` (the standard groups approved and snapshotted); ``journeys``;
the model bank (``model-*``: a small bank of ``--model-customers`` in its own warehouse, a retail-churn
model trained on it into the run's ops store, submitted, approved by a second user and promoted);
``tags-features`` (the tag snapshots one and three months earlier that the model's change features need);
``score`` (``kequn models score retail_churn``), last.

Resumable: ``<out>/state.json`` records every finished step; a rerun with the same parameters skips them.
DuckDB runs with ``KEQUN_WAREHOUSE_MEMORY_LIMIT`` (``--memory-limit``) and spills to ``<out>/duckdb_tmp``.
At the end (and with ``--doc``) the section "10M-customer out-of-core run" of docs/performance.md is
rewritten from the state file (finished steps only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KEQUN = str(ROOT / ".venv" / "bin" / "kequn")
PY = sys.executable
DOC = ROOT / "docs" / "performance.md"
TITLE = "10M-customer out-of-core run"
END = "2026-10-31"
MAKER, CHECKER = "scale-maker", "scale-checker"
SCRIPT_MTIME = Path(__file__).stat().st_mtime


# ------------------------------------------------------------------------------------------ measuring
def du(path: Path) -> int:
    """Bytes on disk under ``path`` (0 when missing)."""
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_blocks * 512
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += (Path(root) / f).stat().st_blocks * 512
            except FileNotFoundError:
                pass
    return total


class Sampler(threading.Thread):
    """Every few seconds: the 1-minute load average and the size of the DuckDB spill folder."""

    def __init__(self, spill: Path, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.spill, self.every = spill, every
        self.loads: list[float] = []
        self.spill_max = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.loads.append(os.getloadavg()[0])
            self.spill_max = max(self.spill_max, du(self.spill))
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def run_child(cmd: list[str], env: dict[str, str], log: Path, spill: Path) -> dict:
    """Run ``cmd`` alone; its wall time, CPU time (user + sys, with its own children) and peak RSS."""
    log.parent.mkdir(parents=True, exist_ok=True)
    samp = Sampler(spill)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    samp.start()
    with log.open("w", encoding="utf-8") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        p = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
        _pid, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    samp.stop()
    return {"cmd": " ".join(cmd), "exit": p.returncode, "wall_s": round(wall, 1),
            "user_s": round(ru.ru_utime, 1), "sys_s": round(ru.ru_stime, 1),
            "cpu_s": round(ru.ru_utime + ru.ru_stime, 1), "peak_rss_mb": round(ru.ru_maxrss / 1024),
            "load_start": round(load0[0], 2), "load_end": round(os.getloadavg()[0], 2),
            "load_mean": round(sum(samp.loads) / max(1, len(samp.loads)), 2),
            "spill_peak_mb": round(samp.spill_max / 2**20), "log": str(log)}


def json_tail(log: Path) -> dict | list | None:
    """The JSON document a ``kequn --json`` command printed (the last one in its log)."""
    text = log.read_text(encoding="utf-8", errors="replace")
    for start in [m.start() for m in re.finditer(r"^[\[{]", text, re.M)][::-1]:
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            continue
    return None


# ------------------------------------------------------------------------------------------ the run
class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args
        self.out = Path(args.out).resolve()
        self.data = self.out / "data"
        self.spill = self.out / "duckdb_tmp"
        self.state_path = self.out / "state.json"
        self.params = {"customers": args.customers, "shards": args.shards, "months": args.months, "seed": args.seed,
                       "end": END, "memory_limit": args.memory_limit, "threads": args.threads,
                       "model_customers": args.model_customers, "model_months": args.model_months}
        self.state = self._read_state()

    def _read_state(self) -> dict:
        if self.state_path.exists():
            st = json.loads(self.state_path.read_text(encoding="utf-8"))
            if st["params"] != self.params and not self.a.doc:
                raise SystemExit(f"{self.state_path} was written with other parameters {st['params']}; "
                                 "use another --out or the same parameters")
            return st
        return {"params": self.params, "steps": {}, "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}

    def save(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        tmp.replace(self.state_path)

    def env(self, warehouse: Path | None = None) -> dict[str, str]:
        e = dict(os.environ)
        e.update({"KEQUN_DATA_DIR": str(self.data), "KEQUN_WAREHOUSE_MEMORY_LIMIT": self.a.memory_limit,
                  "KEQUN_WAREHOUSE_TEMP_DIR": str(self.spill), "KEQUN_THREADS": str(self.a.threads),
                  "KEQUN_OPSTORE_URL": f"sqlite:///{self.data / 'ops.sqlite'}",
                  "KEQUN_WAREHOUSE_URL": f"duckdb:///{warehouse or self.data / 'warehouse.duckdb'}",
                  "PYTHONUNBUFFERED": "1"})
        return e

    def done(self, name: str) -> bool:
        return self.state["steps"].get(name, {}).get("exit") == 0

    def step(self, name: str, cmd: list[str], env: dict[str, str] | None = None, after: object = None) -> dict:
        if self.done(name):
            print(f"= {name}: done before ({self.state['steps'][name]['wall_s']}s)", flush=True)
            return self.state["steps"][name]
        free = shutil.disk_usage(self.out).free / 2**30
        if free < self.a.min_free_gb:
            raise SystemExit(f"only {free:.1f} GB free on {self.out} (< --min-free-gb {self.a.min_free_gb}); "
                             f"stopped before {name} — free some disk and rerun to resume")
        print(f"▶ {name} {time.strftime('%H:%M:%S')} ({free:.0f} GB free) …", flush=True)
        rec = run_child(cmd, env or self.env(), self.out / "logs" / f"{name}.log", self.spill)
        rec["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        rec["warehouse_mb"] = round(du(self.data / "warehouse.duckdb") / 2**20)
        if rec["exit"] == 0 and after is not None:
            rec.update(after(rec) or {})  # type: ignore[operator]
        self.state["steps"][name] = rec
        self.save()
        print(f"{'✔' if rec['exit'] == 0 else '✘'} {name}: {rec['wall_s']}s wall, {rec['cpu_s']}s CPU, "
              f"peak RSS {rec['peak_rss_mb']:,} MB, load {rec['load_mean']} (log {rec['log']})", flush=True)
        if rec["exit"] != 0:
            raise SystemExit(f"step {name} failed (exit {rec['exit']}); see {rec['log']}; rerun to resume")
        if Path(__file__).stat().st_mtime != SCRIPT_MTIME:  # the script was improved meanwhile: resume with it
            print(f"{__file__} changed: restarting to resume with it", flush=True)
            os.execv(sys.executable, [sys.executable, *sys.argv])
        return rec

    # ---------------------------------------------------------------------------------- the steps
    def run(self) -> None:
        a = self.a
        self.state["nice"] = os.nice(0)
        self.out.mkdir(parents=True, exist_ok=True)
        self.spill.mkdir(parents=True, exist_ok=True)
        self.step("init", [KEQUN, "--json", "init"])
        for k in range(a.shards):
            self.shard(k)
        self.step("tags", [KEQUN, "--json", "tags", "compute", "--as-of", END], after=self._tag_rows)
        self.step("segments", [PY, __file__, "--child", "segments", "--out", str(self.out)], after=self._child_json)
        self.step("journeys", [PY, __file__, "--child", "journeys", "--out", str(self.out)], after=self._child_json)
        self.model_bank()
        d1, d3 = month_end_before(END, 1), month_end_before(END, 3)
        self.step("tags-features", ["sh", "-c", f"{KEQUN} --json tags compute --as-of {d1} && "
                                                f"{KEQUN} --json tags compute --as-of {d3}"], after=self._tag_rows)
        model = self.state["steps"]["model-train"]["model"]
        name, version = model.split("@v")
        self.step("score", [KEQUN, "--json", "models", "score", name, "--version", version, "--as-of", END],
                  after=self._score_rows)
        self.state["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.save()

    def model_bank(self) -> None:
        a = self.a
        mb = self.out / "modelbank"
        wh = mb / "warehouse.duckdb"
        self.step("model-synth", [KEQUN, "synth", "--out", str(mb / "files"), "--customers", str(a.model_customers),
                                  "--months", str(a.model_months), "--seed", str(a.seed + 1000), "--end", END])
        env = self.env(wh)
        self.step("model-load", ["sh", "-c", f"{KEQUN} init && {KEQUN} load {mb / 'files'} && rm -rf {mb / 'files'}"],
                  env)
        self.step("model-train", [KEQUN, "--json", "models", "train", "retail_churn", "--as", MAKER], env,
                  after=self._model)
        name, version = self.state["steps"]["model-train"]["model"].split("@v")
        self.step("model-approve", ["sh", "-c", " && ".join([
            f"{KEQUN} models submit {name} --version {version} --as {MAKER}",
            f"{KEQUN} models approve {name} --version {version} --as {CHECKER}",
            f"{KEQUN} models promote {name} --version {version} --as {CHECKER}"])], env)

    def shard(self, k: int) -> None:
        a = self.a
        folder = self.out / "shards" / f"shard{k}"
        if not self.done(f"load-{k}") and self.done(f"synth-{k}") and not (folder / "manifest.json").exists():
            del self.state["steps"][f"synth-{k}"]  # generated, then lost before its load: generate again
        self.step(f"synth-{k}", [KEQUN, "synth", "--out", str(folder), "--customers", str(a.customers),
                                 "--months", str(a.months), "--seed", str(a.seed), "--end", END,
                                 "--shard", str(k), "--shards", str(a.shards)], after=lambda r: self._shard_files(folder))
        self.step(f"load-{k}", [KEQUN, "--json", "load", str(folder)], after=lambda r: self._loaded(r, folder))

    # ---------------------------------------------------------------------------------- figures
    def _shard_files(self, folder: Path) -> dict:
        m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        (self.out / "manifests").mkdir(exist_ok=True)
        shutil.copy(folder / "manifest.json", self.out / "manifests" / f"{folder.name}.json")
        canonical = sum(du(p) for p in folder.glob("*.parquet"))
        return {"rows": sum(m["row_counts"].values()), "transactions": m["row_counts"]["transaction"],
                "events": m["row_counts"]["event"], "customers": m["row_counts"]["customer"],
                "files_mb": round(canonical / 2**20), "truth_mb": round(du(folder / "truth") / 2**20)}

    def _loaded(self, rec: dict, folder: Path) -> dict:
        out = json_tail(Path(rec["log"])) or {}
        if out.get("quarantined", 0) or out.get("already_loaded"):
            print(f"  note: {folder.name}: quarantined {out.get('quarantined')}, already_loaded "
                  f"{out.get('already_loaded')}", flush=True)
        if not self.a.keep_shards:
            shutil.rmtree(folder, ignore_errors=True)
        return {"rows": out.get("loaded"), "read": out.get("read"), "quarantined": out.get("quarantined"),
                "already_loaded": out.get("already_loaded")}

    def _child_json(self, rec: dict) -> dict:
        return {"figures": json_tail(Path(rec["log"]))}

    def _tag_rows(self, rec: dict) -> dict:
        text = Path(rec["log"]).read_text(encoding="utf-8", errors="replace")
        docs = []
        for mt in re.finditer(r"^\{", text, re.M):
            try:
                docs.append(json.JSONDecoder().raw_decode(text[mt.start():])[0])
            except json.JSONDecodeError:
                pass
        results = [r for d in docs for r in d.get("results", [])]
        return {"profiles": results, "rows": sum(r["rows"] for r in results if r.get("rows"))}

    def _model(self, rec: dict) -> dict:
        out = json_tail(Path(rec["log"])) or {}
        test = (out.get("metrics") or {}).get("test", {})
        return {"model": out["model"], "test_auc": test.get("auc"), "test_n": test.get("n"),
                "split": (out.get("metrics") or {}).get("split")}

    def _score_rows(self, rec: dict) -> dict:
        out = json_tail(Path(rec["log"])) or {}
        return {"rows": out.get("rows"), "score_name": out.get("score_name"), "seconds_inside": out.get("seconds")}


def month_end_before(day: str, months: int) -> str:
    d = dt.date.fromisoformat(day)
    y, m = divmod(d.year * 12 + d.month - 1 - months, 12)
    first_next = dt.date(y + (m + 1) // 12, (m + 1) % 12 + 1, 1)
    return (first_next - dt.timedelta(days=1)).isoformat()


# ------------------------------------------------------------------------------------------ child steps
def child(step: str) -> None:
    """Segments / journeys on the run's warehouse (settings from the environment), JSON on stdout."""
    from kequn.pipeline import default_context, step_approve_standard
    from kequn.segments import catalogue, definitions, journeys
    from kequn.segments.service import approved, snapshot_many

    day = dt.date.fromisoformat(END)
    ctx = default_context()
    wh, engine = ctx.warehouse, ctx.engine
    out: dict = {}
    t0 = time.perf_counter()
    if step == "segments":
        out["approve"] = step_approve_standard(ctx)
        t1 = time.perf_counter()
        cat = catalogue.load(wh)
        ids = [i for i, (_d, status) in definitions.all_definitions(engine).items() if status == "approved"]
        sizes = snapshot_many(wh, [approved(engine, i) for i in ids], day, cat)
        out.update({"segments": len(ids), "sizes": sizes, "approve_s": round(t1 - t0, 1),
                    "snapshot_s": round(time.perf_counter() - t1, 1)})
    else:
        cat = catalogue.load(wh)
        tracks = {}
        for t in journeys.load_tracks().values():
            t1 = time.perf_counter()
            try:
                r = journeys.run(wh, t, day, cat)
                tracks[t.id] = {"customers": r.get("customers", r.get("members")), "seconds": round(time.perf_counter() - t1, 1)}
            except Exception as exc:  # noqa: BLE001 - report a track's failure, keep the others
                tracks[t.id] = {"error": str(exc)[:300]}
        out["journeys"] = tracks
    ctx.close()
    print(json.dumps(out, ensure_ascii=False, default=str))


# ------------------------------------------------------------------------------------------ the doc
def _fmt_s(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s:,.0f} s" if s < 600 else f"{s / 60:,.1f} min"


def write_doc(run: Run) -> None:
    st, p = run.state, run.state["params"]
    steps = st["steps"]
    done = {k: v for k, v in steps.items() if v.get("exit") == 0}
    shards = [k for k in range(p["shards"]) if f"load-{k}" in done]
    cmd = (f".venv/bin/python bench/scale.py --out {run.out} --customers {p['customers']} --shards {p['shards']} "
           f"--months {p['months']} --memory-limit {p['memory_limit']} --model-customers {p['model_customers']} "
           f"--model-months {p['model_months']}")
    loads = [v["load_mean"] for v in done.values()]
    lines = [f"## {TITLE}", "",
             f"Command: `{cmd}` (resumable; state in `{run.out}/state.json`, one log per step in `logs/`).  ",
             f"Measured {st.get('started', '')[:10]} on {os.cpu_count()} cores, {platform.machine()}, "
             f"{_mem_gb()} GB RAM, Python {platform.python_version()}, load average "
             f"{min(loads, default=0):.1f}–{max(loads, default=0):.1f} (the mean 1-minute load average of each step "
             "is in the table; 2 would be this job alone)"
             + (f"; the run had `nice {st['nice']}`: a step whose mean load is well above 2 shared the machine with "
                "other work, and its wall time is above what it takes alone; CPU time and peak RSS are the steps' own."
                if st.get("nice") else "."), "",
             f"A bank of {p['customers']:,} customers × {p['months']} months (seed {p['seed']}, ending {p['end']}) is "
             f"generated in {p['shards']} shards (`kequn synth --shard K --shards {p['shards']}`, docs/synth.md: one "
             "generation of the whole bank would need ~35–40 GB), each loaded with `kequn load` into one DuckDB "
             f"warehouse and deleted; DuckDB runs with `warehouse_memory_limit = {p['memory_limit']}` and spills to "
             "`warehouse_temp_dir` (docs/settings.md). Then the core tags as of the end date, the standard groups "
             "(approved maker–checker, snapshotted), the journey tracks, the tag snapshots one and three months "
             f"earlier (the model's change features), and scoring every customer with a retail-churn model trained "
             f"on a separate {p['model_customers']:,}-customer bank and approved through the registry. Every step is "
             "its own process: wall time, CPU time (user + system) and peak RSS are that process's own "
             "(`os.wait4`). Goal: the whole run fits the machine — peak RSS of every step ≤ 10 GB (24 GB machine, "
             "shared).", ""]
    if len(shards) < p["shards"] or "score" not in done:
        missing = [k for k in ["tags", "segments", "journeys", "tags-features", "score"] if k not in done]
        lines += [f"**Status: partial** — {len(shards)} of {p['shards']} shards loaded"
                  + (f"; not yet run or not finished: {', '.join(missing)}" if missing else "")
                  + ". Only finished steps are shown; the same command resumes the run (finished steps are "
                  "skipped, a shard's unfinished files are generated again).", ""]
    lines += ["| step | wall | CPU | peak RSS | load avg (mean) | rows | disk | met (≤ 10 GB) |",
              "|---|---|---|---|---|---|---|---|"]

    def row(name: str, label: str, rows: str, disk: str) -> None:
        v = done[name]
        lines.append(f"| {label} | {_fmt_s(v['wall_s'])} | {_fmt_s(v['cpu_s'])} | {v['peak_rss_mb'] / 1024:.2f} GB | "
                     f"{v['load_mean']:.1f} | {rows} | {disk} | {'yes' if v['peak_rss_mb'] <= 10240 else 'no'} |")

    for name, v in done.items():
        label, rows, disk = _describe(name, v, p)
        row(name, label, rows, disk)
    tot = [v for k, v in done.items() if k.startswith(("synth-", "load-"))]
    if shards:
        txn = sum(done[f"synth-{k}"]["transactions"] for k in shards)
        rows = sum(done[f"synth-{k}"]["rows"] for k in shards)
        whole = "the whole run" if "score" in done else "the steps so far"
        lines += ["", f"Loaded: {len(shards)} of {p['shards']} shards, {rows:,} rows ({txn:,} transactions); synth + load "
                      f"{_fmt_s(sum(v['wall_s'] for v in tot))} wall, {whole} "
                      f"{_fmt_s(sum(v['wall_s'] for v in done.values()))} wall; warehouse file "
                      f"{done[f'load-{shards[-1]}']['warehouse_mb'] / 1024:.1f} GB; highest peak RSS of any step "
                      f"{max(v['peak_rss_mb'] for v in done.values()) / 1024:.2f} GB."]
    section = "\n".join(lines) + "\n"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n\n"
    pattern = re.compile(rf"^## {re.escape(TITLE)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _m: section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text, encoding="utf-8")
    if DOC == ROOT / "docs" / "performance.md":
        sys.path.insert(0, str(HERE))
        from report import update  # the "Goals by issue" summary at the top follows the new figures

        update(DOC)
    print(f"wrote section '{TITLE}' of {DOC}")


def _describe(name: str, v: dict, p: dict) -> tuple[str, str, str]:
    """(label, rows, disk) of a finished step for the doc table."""
    spill = f"spill peak {v['spill_peak_mb']:,} MB" if v.get("spill_peak_mb") else ""
    if name.startswith("synth-"):
        return (f"shard {name[6:]}: synth", f"{v['rows']:,} ({v['transactions']:,} txn)", f"{v['files_mb']:,} MB files")
    if name.startswith("load-"):
        return (f"shard {name[5:]}: load", f"{(v.get('rows') or 0):,} loaded, {v.get('quarantined')} quarantined",
                f"warehouse {v['warehouse_mb'] / 1024:.1f} GB" + (f", {spill}" if spill else ""))
    if name == "model-train":
        auc = f"test AUC {v['test_auc']:.3f} (n {v['test_n']:,}, out of time)" if v.get("test_auc") else ""
        return f"model bank ({p['model_customers']:,} customers): train retail_churn", auc, ""
    if name == "segments" and v.get("figures"):
        return "segments: standard groups approved + snapshotted", f"{v['figures'].get('segments')} segments", spill
    if name == "journeys" and v.get("figures"):
        tr = v["figures"].get("journeys", {})
        return "journeys", ", ".join(f"{k} {t['customers']:,}" if isinstance(t.get("customers"), int) else f"{k} error"
                                       for k, t in tr.items()), spill
    rows = f"{v['rows']:,}" if isinstance(v.get("rows"), int) else ""
    label = {"init": "init (stores)", "model-synth": f"model bank: synth {p['model_customers']:,} × {p['model_months']}",
             "model-load": "model bank: load", "model-approve": "model: submit, approve (2nd user), promote",
             "tags": f"tags as of {END} (customer, enterprise, merchant)",
             "tags-features": "tags 1 and 3 months earlier (model features)",
             "score": "score retail_churn, every customer"}.get(name, name)
    return label, rows, spill


def _mem_gb() -> int:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    except (ValueError, OSError):
        return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="run folder (state.json, data/, logs/); not in the repo")
    ap.add_argument("--customers", type=int, default=10_000_000)
    ap.add_argument("--shards", type=int, default=10)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--memory-limit", default="8GB", help="DuckDB memory_limit (warehouse_memory_limit)")
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = all cores)")
    ap.add_argument("--model-customers", type=int, default=20_000)
    ap.add_argument("--model-months", type=int, default=12)
    ap.add_argument("--min-free-gb", type=float, default=10.0, help="stop (resumably) before a step when "
                    "less disk than this is free")
    ap.add_argument("--keep-shards", action="store_true", help="keep each shard's files after loading")
    ap.add_argument("--doc", action="store_true", help="only rewrite the docs/performance.md section")
    ap.add_argument("--no-doc", action="store_true", help="do not write docs/performance.md at the end")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    run = Run(args)
    if args.doc:
        write_doc(run)
        return
    try:
        run.run()
    finally:
        if not args.no_doc:
            write_doc(run)


if __name__ == "__main__":
    main()
