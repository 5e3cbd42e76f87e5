"""`kequn demo` end to end on a small synthetic bank, then `kequn run` for the same day (idempotent)."""

from __future__ import annotations

import json

import pytest

from kequn.cli.main import main


@pytest.mark.slow
def test_demo_then_daily_run(data_dir, capsys, monkeypatch):
    monkeypatch.setenv("KEQUN_DEMO", "1")
    assert main(["--json", "demo", "--customers", "1500", "--months", "4", "--seed", "3"]) == 0
    doc = json.loads(capsys.readouterr().out)
    steps = {s["step"].split()[0]: s["figures"] for s in doc["steps"]}
    assert steps["load"]["read"] == steps["load"]["loaded"] > 50_000 and steps["load"]["quarantined"] == 0
    assert steps["dq"]["blocking_failed"] == 0
    assert steps["tags"]["customer"] == 1500
    assert steps["approve"]["approved"] == 9 and steps["approve"]["maker"] != steps["approve"]["checker"]
    assert steps["segments"]["segments"]["payroll"] > 0
    assert {u["role"] for u in doc["demo_users"]} >= {"hq_admin", "relationship_manager", "auditor"}
    as_of = doc["as_of"]
    # the daily run for the same day: nothing is granted twice, profiles are kept unless --force
    assert main(["--json", "run", "--as-of", as_of]) == 0
    again = {s["step"].split()[0]: s["figures"] for s in json.loads(capsys.readouterr().out)["steps"]}
    assert again["growth"]["growth_events"] == 0
    assert again["segments"]["segments"] == steps["segments"]["segments"]
    # the next business day: the recency tags are carried forward (no load reached back), unless --full
    import datetime as dt

    nxt = (dt.date.fromisoformat(as_of) + dt.timedelta(days=1)).isoformat()
    assert main(["--json", "run", "--as-of", nxt]) == 0
    daily = {s["step"].split()[0]: s["figures"] for s in json.loads(capsys.readouterr().out)["steps"]}
    assert daily["tags"]["customer_run"] == "incremental" and daily["tags"]["customer"] == 1500
    assert main(["--json", "run", "--as-of", nxt, "--force", "--full"]) == 0
    daily = {s["step"].split()[0]: s["figures"] for s in json.loads(capsys.readouterr().out)["steps"]}
    assert daily["tags"]["customer_run"] == "full"


def test_run_needs_a_date(data_dir, capsys):
    assert main(["run", "--as-of", "31/10/2026"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
