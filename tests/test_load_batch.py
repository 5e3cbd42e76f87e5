"""Batches: all-or-nothing under SIGKILL, the CLI (`kequn load`, --json, --batch-id, --source), PostgreSQL,
and the generated data-model doc."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kequn.cli.main import main
from kequn.domain import datamodel_doc
from kequn.ingest import load_dir
from kequn.warehouse import connect

ROOT = Path(__file__).resolve().parents[1]
BANK = ROOT / "examples" / "bank"
BAD = ROOT / "examples" / "bad"
FIX = Path(__file__).parent / "fixtures" / "load"

_CANONICAL = ("branch", "product", "customer", "account", "transaction")


def _counts(url: str) -> dict[str, int]:
    wh = connect(url)
    try:
        tables = set(wh.con.list_tables())
        return {t: wh.sql(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                for t in (*_CANONICAL, "_load_batch", "_quarantine") if t in tables}
    finally:
        wh.close()


def test_sigkill_mid_batch_leaves_the_warehouse_as_it_was(data_dir):
    env = {**os.environ, "KEQUN_DATA_DIR": str(data_dir), "KEQUN_LOAD_PAUSE_AFTER_TABLE": "30"}
    env.pop("KEQUN_WAREHOUSE_URL", None)
    url = f"duckdb:///{data_dir / 'warehouse.duckdb'}"
    script = ("import sys; from pathlib import Path; from kequn.warehouse import open_default; "
              "from kequn.warehouse.schema import create_tables; from kequn.ingest import load_dir; "
              "wh = open_default(); create_tables(wh); "
              "load_dir(wh, Path(sys.argv[1]), progress=lambda m: print(m, flush=True))")
    proc = subprocess.Popen([sys.executable, "-c", script, str(BANK)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until the first tables are written inside the batch
            line = proc.stdout.readline()
            seen.append(line)
            if not line:
                break
            if line.startswith("branch: read 5, loaded 5"):
                break
        assert any(s.startswith("branch: read 5") for s in seen), seen
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert all(n == 0 for n in _counts(url).values()), _counts(url)
    # and the same batch loads completely afterwards
    assert main(["load", str(BANK)]) == 0
    after = _counts(url)
    assert after["branch"] == 5 and after["transaction"] == 6 and after["_load_batch"] == 22


def test_cli_load_json_summary_and_idempotent_rerun(data_dir, capsys):
    assert main(["--json", "load", str(BANK), "--batch-id", "demo-1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["batch_id"] == "demo-1" and not out["already_loaded"]
    assert out["read"] == out["loaded"] + out["quarantined"] and out["quarantined"] == 0
    assert len(out["tables"]) == 22
    assert main(["--json", "load", str(BAD)]) == 0
    bad = json.loads(capsys.readouterr().out)
    assert bad["quarantined"] == 8 and bad["read"] == bad["loaded"] + bad["quarantined"]
    assert main(["--json", "load", str(BAD)]) == 0
    assert json.loads(capsys.readouterr().out)["already_loaded"] is True  # and takes no number
    _assert_numbered_in_order(f"duckdb:///{data_dir / 'warehouse.duckdb'}", ["demo-1", bad["batch_id"]])


def test_cli_errors_are_one_line_with_the_load_exit_code(data_dir, capsys, tmp_path):
    assert main(["load", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: folder not found") and "Traceback" not in err
    assert main(["load", str(BANK), "--source", "no-such-source"]) == 4
    assert "unknown source 'no-such-source'" in capsys.readouterr().err


def test_cli_source_adapter_converts_then_loads(data_dir, tmp_path, monkeypatch, capsys):
    """--source NAME runs the adapter into a temp folder and loads that (a plug-in adapter here)."""
    import shutil
    import types

    from kequn import adapters

    class CopyAdapter:
        name, description = "copy-bank", "copies canonical files"

        def convert(self, src: Path, out: Path) -> adapters.AdapterReport:
            rows = {}
            for f in src.glob("*.csv"):
                shutil.copy(f, out / f.name)
                rows[f.stem] = len(f.read_text(encoding="utf-8").splitlines()) - 1
            return adapters.AdapterReport(self.name, rows)

    module = types.ModuleType("kequn_test_copy_adapter")
    module.ADAPTER = CopyAdapter()
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(adapters.BUILTIN, "copy-bank", f"{module.__name__}:ADAPTER")
    assert main(["--json", "load", str(BANK), "--source", "copy-bank"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["loaded"] == 78
    assert "copy-bank: converted" in captured.err


def test_postgres_load_quarantine_idempotency(pg_url):
    from kequn.warehouse.schema import create_tables

    wh = connect(pg_url)
    try:
        create_tables(wh)
        first = load_dir(wh, BANK)
        assert first.quarantined == 0 and first.loaded == 78
        bad = load_dir(wh, BAD)
        by = {t.table: (t.read, t.loaded, t.quarantined) for t in bad.tables}
        assert by == {"transaction": (7, 1, 6), "customer": (2, 1, 1), "relationship": (2, 1, 1)}
        rules = {r[0] for r in wh.sql(f"SELECT rule FROM _quarantine WHERE batch_id = '{bad.batch_id}'").fetchall()}
        assert rules == {"type", "enum", "range", "future", "duplicate_key", "foreign_key", "required"}
        multi = load_dir(wh, FIX / "multi")
        assert (multi.tables[0].loaded, multi.tables[0].quarantined) == (1, 1)
        again = load_dir(wh, BAD)
        assert again.already_loaded
    finally:
        wh.close()
    counts = _counts(pg_url)
    assert counts["transaction"] == 6 + 1 + 1 and counts["_load_batch"] == 22 + 3 + 1
    assert counts["_quarantine"] == 8 + 5
    _assert_numbered_in_order(pg_url, [first.batch_id, bad.batch_id, multi.batch_id])


def _assert_numbered_in_order(url: str, batch_ids: list[str]) -> None:
    """Every table row of a batch carries the batch's load_seq; batches are numbered 1, 2, … in load order;
    time ranges cover the rows of tables with a time column."""
    wh = connect(url)
    try:
        rows = wh.sql("SELECT batch_id, min(load_seq), max(load_seq) FROM _load_batch GROUP BY batch_id").fetchall()
        seq = {b: (lo, hi) for b, lo, hi in rows}
        assert [seq[b] for b in batch_ids] == [(i, i) for i in range(1, len(batch_ids) + 1)]
        tx = wh.sql("SELECT time_min, time_max FROM _load_batch WHERE table_name = 'transaction' "
                    f"AND batch_id = '{batch_ids[0]}'").fetchone()
        assert tx[0] is not None and tx[0] <= tx[1]
        span = wh.sql('SELECT min(ts), max(ts) FROM "transaction"').fetchone()
        assert span[0] <= tx[0] and tx[1] <= span[1]
    finally:
        wh.close()


def test_postgres_gbk_and_parquet_and_rollback(pg_url, tmp_path):
    import duckdb

    from kequn.errors import LoadError
    from kequn.warehouse.schema import create_tables

    d = tmp_path / "b"
    d.mkdir()
    (d / "branch.csv").write_bytes((BANK / "branch.csv").read_text(encoding="utf-8").encode("gbk"))
    duckdb.connect().execute(f"COPY (SELECT * FROM read_csv('{BANK / 'product.csv'}', all_varchar=true)) "
                             f"TO '{d / 'product.parquet'}'")
    wh = connect(pg_url)
    try:
        create_tables(wh)
        summary = load_dir(wh, d)
        assert {t.table: t.loaded for t in summary.tables} == {"branch": 5, "product": 7}
        assert wh.sql("SELECT name FROM branch WHERE branch_id = 'B110'").fetchone() == ("杭州西湖支行",)
        broken = tmp_path / "broken"
        broken.mkdir()
        (broken / "staff.csv").write_text("staff_id,name,branch_id,role,hired_on\nS1,甲,B110,rm,2020-01-01\n",
                                          encoding="utf-8")
        (broken / "touchpoint.csv").write_text("touchpoint_id,name,channel,journey_stage,description\n"
                                               "TP1,登录,app,engagement,x,extra\n", encoding="utf-8")
        with pytest.raises(LoadError, match="touchpoint.csv"):
            load_dir(wh, broken)
        assert wh.sql("SELECT count(*) FROM staff").fetchone() == (0,)
    finally:
        wh.close()


def test_datamodel_doc_is_current():
    committed = (ROOT / "docs" / "data-model.md").read_text(encoding="utf-8")
    assert committed == datamodel_doc.render(), (
        "docs/data-model.md is stale: run `python -m kequn.domain.datamodel_doc > docs/data-model.md`")


def test_datamodel_doc_documents_every_column():
    from kequn.domain.datamodel import TABLES

    text = datamodel_doc.render()
    for t in TABLES:
        assert f"### {t.zh} `{t.name}`" in text
        for c in t.columns:
            assert f"| `{c.name}`" in text
    assert "`payroll_batch.batch_id`" in text and "one of `hq`, `branch`, `sub_branch`" in text
