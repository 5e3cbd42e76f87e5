"""`kequn campaigns …`, `kequn leads …`, `kequn review`, `kequn playbooks …` end to end on a tiny synthetic
bank in the data folder (the sandbox answers instead of real channels)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

YAML = """
campaign_id: cli-coupon
name: 消费券
audience: {segment_id: all_active}
offer: {kind: reward, code: coupon, name: 消费券, reward_fen: 500, expected_value_fen: 3000}
channels:
  - {channel: app_push, template: "{surname_title}，{offer_name}已到账"}
  - {channel: sms, template: "{surname_title}，{offer_name}已到账。回T退订"}
schedule: {kind: one_off, at: "2026-11-02T10:00:00+08:00"}
control_share: 0.3
"""


def _kequn(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    from kequn.cli import cmd_campaigns
    from kequn.cli import main as m

    if not any(g.name == "campaigns" for g in m.app.registered_groups):
        cmd_campaigns.register(m.app)
    capsys.readouterr()
    rc = m.main(["--json", *args])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def test_cli_cycle(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kequn.ingest import ensure_internal_tables, load_dir
    from kequn.opstore import migrate, open_default
    from kequn.segments import service as seg
    from kequn.segments.definitions import SegmentDef
    from kequn.synth.generate import SynthParams, generate
    from kequn.warehouse import open_default as open_wh
    from kequn.warehouse.schema import create_tables

    raw = tmp_path / "bank"
    generate(raw, SynthParams(customers=600, months=2, seed=9, end=dt.date(2026, 10, 31)))
    load = tmp_path / "load"
    load.mkdir()
    for p in raw.glob("*.parquet"):
        shutil.copy(p, load / p.name)
    data_dir.mkdir(parents=True, exist_ok=True)
    wh = open_wh()
    create_tables(wh)
    ensure_internal_tables(wh)
    load_dir(wh, load)
    engine = open_default()
    migrate(engine)
    c = wh.table("customer")
    ids = c.filter(c.status == "active").select("customer_id").to_pyarrow().column(0).to_pylist()
    seg.create(engine, wh, SegmentDef(id="all_active", name_zh="全部", name_en="all", static=True), "a", ids=ids)
    seg.approve(engine, "all_active", "b")
    wh.close()
    spec = tmp_path / "c.yaml"
    spec.write_text(YAML, encoding="utf-8")

    assert _kequn(capsys, "campaigns", "check", str(spec))["ok"] is True
    assert _kequn(capsys, "campaigns", "submit", str(spec), "--maker", "alice")["version"] == 1
    assert _kequn(capsys, "campaigns", "approve", "cli-coupon", "--checker", "bob")["status"] == "approved"
    run = _kequn(capsys, "campaigns", "launch", "cli-coupon", "--as-of", "2026-11-02", "--by", "alice")
    assert run["queued"] > 50
    sent = _kequn(capsys, "campaigns", "send", "--sandbox", str(raw), "--as-of", "2026-11-02")
    assert sent["sent"] == run["queued"]
    seen = _kequn(capsys, "campaigns", "observe", run["run_id"], "--sandbox", str(raw))
    assert seen["observed"] >= run["queued"]
    rev = _kequn(capsys, "review", "--cycle", "2w", "--until", "2026-11-02", "--out", str(tmp_path / "rev"))
    assert rev["campaigns"] == 1 and Path(rev["html"]).exists()
    assert _kequn(capsys, "campaigns", "list")[0]["status"] == "live"
    assert _kequn(capsys, "campaigns", "opt-out", ids[0], "sms")["opted_out"] is True
    assert _kequn(capsys, "leads", "list") == []
    assert {p["playbook_id"] for p in _kequn(capsys, "playbooks", "list")} == {"payroll-fuel"}
    daily = _kequn(capsys, "campaigns", "run", "--as-of", "2026-11-02")
    assert daily["runs"] == [{"run_id": run["run_id"], "replayed": True,
                              **{k: v for k, v in run.items() if k != "run_id"}}]
    assert daily["escalated_leads"] == [] and _kequn(capsys, "campaigns", "run", "--as-of", "2026-11-03")["runs"] == []
