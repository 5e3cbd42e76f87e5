"""The biweekly review (`kequn review --cycle 2w`) and playbooks (路线图): statistics from sufficient
statistics, keep/scale/stop, PDCA history, and a rollout evaluated by difference in differences."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from kequn.domain.campaigns import ArmStats, did, lift, recommend


def test_lift_from_sufficient_statistics() -> None:
    t, c = ArmStats(1000, 80, 80), ArmStats(1000, 50, 50)  # 8% vs 5% conversions
    res = lift(t, c)
    assert res.diff == pytest.approx(0.03)
    assert res.low == pytest.approx(0.03 - 1.96 * ((81 / 1002 * (1 - 81 / 1002) + 51 / 1002 * (1 - 51 / 1002)) / 1002) ** 0.5)
    assert res.significant
    cont = lift(ArmStats(4, 10, 30), ArmStats(4, 6, 10), binary=False)  # Welch on amounts
    assert cont.diff == pytest.approx(1.0) and cont.high > cont.low
    assert recommend(res, cost_fen=1000, value_fen=5000) == "scale"
    assert recommend(lift(ArmStats(1000, 40, 40), ArmStats(1000, 60, 60)), 1000, 0) == "stop"
    assert recommend(lift(ArmStats(50, 4, 4), ArmStats(5, 0, 0)), 0, 0) == "keep"  # too early
    assert did(0.10, 0.16, 0.10, 0.12) == pytest.approx(0.04)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from kequn.opstore import engine_for, migrate
    from kequn.settings import get_settings

    monkeypatch.setenv("KEQUN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("KEQUN_OPSTORE_URL", raising=False)
    get_settings.cache_clear()
    url = f"sqlite:///{tmp_path / 'data' / 'ops.sqlite'}"
    (tmp_path / "data").mkdir()
    migrate(url)
    yield engine_for(url)
    get_settings.cache_clear()


def _run_with_responses(engine: Any) -> None:
    from kequn.campaigns import service
    from kequn.campaigns import tables as T

    service.submit(engine, service.parse_spec({
        "campaign_id": "coupon-1", "name": "消费券", "audience": {"segment_id": "s"},
        "offer": {"kind": "reward", "code": "coupon", "name": "消费券", "reward_fen": 500, "expected_value_fen": 4000},
        "channels": [{"channel": "app_push", "template": "{offer_name}"}],
        "schedule": {"kind": "one_off", "at": "2026-11-02T10:00:00+08:00"}}), "maker_a")
    now = dt.datetime(2026, 11, 2, 2, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(T.campaign_run.insert().values(run_id="r1", campaign_id="coupon-1", version=1, started_at=now,
                                                    as_of=dt.date(2026, 11, 2), counts="{}"))
        rows, resp = [], []
        for i in range(600):  # treatment converts 12% (every 8th or so), control 4%
            arm = "treatment" if i < 400 else "control"
            conv = int(i % 8 == 0) if arm == "treatment" else int(i % 25 == 0)
            rows.append(dict(run_id="r1", campaign_id="coupon-1", customer_id=f"K{i}", arm=arm,
                             branch_id="B0101" if i % 2 else "B0201", eligible=1))
            resp.append(dict(run_id="r1", campaign_id="coupon-1", customer_id=f"K{i}", arm=arm, converted=conv,
                             redeemed=conv if arm == "treatment" else 0, amount=0, source="sandbox", observed_at=now))
        conn.execute(T.assignment.insert(), rows)
        conn.execute(T.response.insert(), resp)
        conn.execute(T.suppression.insert(), [dict(run_id="r1", campaign_id="coupon-1", customer_id="X", channel="app_push",
                                                   reason="no_consent", at=now)])


def test_review_cli_writes_html_and_json(engine: Any, tmp_path: Path) -> None:
    from kequn.cli.cmd_campaigns import register

    _run_with_responses(engine)
    app = typer.Typer()
    register(app)
    out = tmp_path / "reviews"
    r = CliRunner().invoke(app, ["review", "--cycle", "2w", "--until", "2026-11-10", "--out", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads((out / "review-2026-11-10.json").read_text(encoding="utf-8"))
    (c,) = data["campaigns"]
    assert c["arms"]["treatment"]["n"] == 400 and c["arms"]["control"]["n"] == 200
    assert c["lift"]["diff"] == pytest.approx(50 / 400 - 8 / 200)
    assert c["suppressed"] == {"no_consent": {"count": 1, "label": "无该渠道营销授权"}}
    assert c["reward_cost_yuan"] == "250.00" and c["recommendation"] == "scale"
    assert {b["branch_id"] for b in c["by_branch"]} == {"B0101", "B0201"}
    html = (out / "review-2026-11-10.html").read_text(encoding="utf-8")
    assert "扩大 scale" in html and "coupon-1" in html
    bad = CliRunner().invoke(app, ["review", "--cycle", "two weeks"])
    assert bad.exit_code != 0


def test_playbook_pilot_rollout_and_pdca_history(engine: Any) -> None:
    from kequn.campaigns import playbooks

    pb = playbooks.shipped()["payroll-fuel"]
    pilot = playbooks.instantiate(pb, "pilot", list(pb.pilot_branches))
    rollout = playbooks.instantiate(pb, "rollout", ["B0200", "B0400"], {"reward_fen": 3000})
    assert pilot.audience.branches == ("B0100", "B0300") and pilot.offer.reward_fen == 2000
    assert rollout.offer.reward_fen == 3000 and rollout.campaign_id == "payroll-fuel-rollout-v1"
    playbooks.submit(engine, pb, "maker_a")
    playbooks.record(engine, pb, "do", "pilot launched", "maker_a", branches=list(pb.pilot_branches),
                     campaign_id=pilot.campaign_id)
    playbooks.record(engine, pb, "check", "biweekly review: lift +2.1pp", "analyst", details={"lift": 0.021})
    playbooks.record(engine, pb, "act", "roll out with a bigger coupon", "maker_a", branches=["B0200", "B0400"])
    assert [h["stage"] for h in playbooks.history(engine, "payroll-fuel")] == ["plan", "do", "check", "act"]


def test_rollout_difference_in_differences(tmp_path: Path) -> None:
    """Pilot branch B1 goes 1/10 → 4/10 openings, not-yet branch B2 goes 1/10 → 2/10: DiD = +0.2."""
    from kequn.campaigns import playbooks
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    wh = connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    create_tables(wh)
    con = wh.con.con
    con.execute("INSERT INTO branch VALUES ('B0', '总行', 'hq', NULL, '长沙', NULL), ('B1', '一', 'branch', 'B0', '长沙', NULL), "
                "('B2', '二', 'branch', 'B0', '长沙', NULL)")
    con.execute("INSERT INTO product VALUES ('P1', '信用卡', 'credit_card', 'bank', true, NULL)")
    opened = {("B1", "before"): 1, ("B1", "after"): 4, ("B2", "before"): 1, ("B2", "after"): 2}
    n = 0
    for (b, period), k in opened.items():
        for i in range(10 if period == "before" else 0):
            con.execute("INSERT INTO customer (customer_id, name, home_branch_id, onboarded_on, status) VALUES "
                        "(?, '王五', ?, DATE '2020-01-01', 'active')", [f"{b}-{i}", b])
        for i in range(k):
            day = "2026-09-10" if period == "before" else "2026-10-10"
            n += 1
            con.execute("INSERT INTO account (account_id, customer_id, product_id, kind, branch_id, opened_on, status) "
                        f"VALUES ('A{n}', '{b}-{i}', 'P1', 'credit_card', '{b}', DATE '{day}', 'active')")
    res = playbooks.evaluate_rollout(wh, "credit_card", ["B1"], ["B2"],
                                     before=(dt.date(2026, 9, 1), dt.date(2026, 10, 1)),
                                     after=(dt.date(2026, 10, 1), dt.date(2026, 11, 1)))
    assert res["did"] == pytest.approx(0.2)
    assert res["cells"]["pilot_after"] == {"n": 10, "rate": 0.4}
    assert res["ci95"][0] < 0.2 < res["ci95"][1]
    wh.close()


def test_reward_cost_comes_from_the_ledger_when_the_budget_paid(engine: Any) -> None:
    from kequn.campaigns import review
    from kequn.rewards.ledger import Ledger

    _run_with_responses(engine)
    ledger = Ledger(engine)
    ledger.fund("fund-coupon-1", "coupon-1", 100_000)  # ¥1,000 budget in fen
    spec = {"offer": {"reward_fen": 500, "expected_value_fen": 4000}}
    est = review.campaign_result(engine, "coupon-1", ["r1"], spec)
    assert est["reward_cost_source"] == "estimate" and est["reward_cost_yuan"] == "250.00"
    from kequn.rewards.catalogue import load_catalogue, redeem, sync_catalogue

    sync_catalogue(engine, load_catalogue())
    ledger.earn("earn-k1", "K1", 1000)
    redeem(ledger, "redeem-k1", "K1", "COUPON_002", budget_campaign="coupon-1")  # costs the bank ¥5.00
    got = review.campaign_result(engine, "coupon-1", ["r1"], spec)
    assert got["reward_cost_source"] == "ledger" and got["reward_cost_yuan"] == "5.00"
