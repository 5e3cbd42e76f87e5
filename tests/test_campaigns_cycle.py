"""A full campaign cycle on a small synthetic bank, offline: approve → launch → policy → sandbox sends →
responses → review; the measured lift matches the simulator's true lift within its confidence interval."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

NOW = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 Asia/Shanghai, after the bank's window end


def make_small_bank(root: Path, customers: int = 2000, seed: int = 5) -> tuple[Any, Any, Path]:
    from kequn.ingest import ensure_internal_tables, load_dir
    from kequn.opstore import engine_for, migrate
    from kequn.synth.generate import SynthParams, generate
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    raw = root / "bank"
    generate(raw, SynthParams(customers=customers, months=2, seed=seed, end=dt.date(2026, 10, 31)))
    data = root / "data"
    data.mkdir()
    for p in raw.glob("*.parquet"):
        shutil.copy(p, data / p.name)
    wh = connect(f"duckdb:///{root / 'wh.duckdb'}")
    create_tables(wh)
    ensure_internal_tables(wh)
    load_dir(wh, data)
    url = f"sqlite:///{root / 'ops.sqlite'}"
    migrate(url)
    return wh, engine_for(url), raw


def approved_segment(wh: Any, engine: Any, segment_id: str = "all_active") -> None:
    from kequn.segments import service as seg
    from kequn.segments.definitions import SegmentDef

    c = wh.table("customer")
    ids = c.filter(c.status == "active").select("customer_id").to_pyarrow().column(0).to_pylist()
    seg.create(engine, wh, SegmentDef(id=segment_id, name_zh="全部在营客户", name_en="all active", static=True),
               "maker_a", ids=ids)
    seg.approve(engine, segment_id, "checker_b")


def spec_dict(cid: str = "fuel-1", **kw: Any) -> dict[str, Any]:
    d = {"campaign_id": cid, "name": "加油券", "audience": {"segment_id": "all_active"},
         "offer": {"kind": "reward", "code": "fuel", "name": "加油券", "reward_fen": 2000, "expected_value_fen": 5000},
         "channels": [{"channel": "app_push", "template": "{surname_title}，送您{offer_name}"},
                      {"channel": "sms", "template": "{surname_title}您好，{offer_name}已到账。回T退订"}],
         "schedule": {"kind": "one_off", "at": "2026-11-02T10:00:00+08:00"}, "control_share": 0.5}
    d.update(kw)
    return d


@pytest.fixture(scope="module")
def bank(tmp_path_factory: Any) -> Any:
    wh, engine, raw = make_small_bank(tmp_path_factory.mktemp("cycle"))
    approved_segment(wh, engine)
    yield wh, engine, raw
    wh.close()


def test_launch_needs_a_second_person(bank: Any) -> None:
    from kequn.campaigns import service
    from kequn.errors import PermissionDenied, ValidationError

    wh, engine, _ = bank
    service.submit(engine, service.parse_spec(spec_dict("unapproved")), "maker_a")
    with pytest.raises(ValidationError, match="no approved version"):
        service.launch(wh, engine, "unapproved", "maker_a", now=NOW)
    with pytest.raises(PermissionDenied):
        service.approve(engine, "unapproved", "maker_a")


def test_bad_spec_lists_every_problem() -> None:
    from kequn.campaigns import service
    from kequn.errors import ValidationError

    bad = spec_dict("x", channels=[{"channel": "sms", "template": "{nope} 很长" * 80}], control_share=2)
    with pytest.raises(ValidationError) as err:
        service.parse_spec(bad)
    text = json.dumps(err.value.details, ensure_ascii=False)
    assert "回T退订" in text and "unknown template variable" in text and "too long" in text
    assert "control_share" in text


def test_full_cycle_measured_lift_matches_the_simulators_truth(bank: Any, tmp_path: Path) -> None:
    from kequn.campaigns import observe, review, service
    from kequn.campaigns import tables as T
    from kequn.campaigns.directory import WarehouseDirectory
    from kequn.campaigns.sender import Sender
    from kequn.channels.sandbox import SandboxChannel
    from kequn.synth.simulator import ResponseSimulator

    wh, engine, raw = bank
    service.submit(engine, service.parse_spec(spec_dict()), "maker_a")
    service.approve(engine, "fuel-1", "checker_b")
    run = service.launch(wh, engine, "fuel-1", "maker_a", now=NOW)
    assert run["queued"] > 300 and run["suppressed"].get("no_consent", 0) > 0
    assert service.launch(wh, engine, "fuel-1", "maker_a", now=NOW)["replayed"] is True  # once per day
    with engine.connect() as conn:
        supp = conn.execute(sa.select(sa.func.count()).select_from(T.suppression)
                            .where(T.suppression.c.run_id == run["run_id"])).scalar_one()
    assert supp == sum(run["suppressed"].values())  # every suppressed contact recorded with its reason

    sim = ResponseSimulator(raw, seed=3)
    box = SandboxChannel(sim)
    stats = Sender(engine, {"sms": box, "app_push": box}, WarehouseDirectory(wh), clock=lambda: NOW).run()
    assert stats.sent == run["queued"] and stats.delivered > 0.6 * stats.sent
    seen = observe.observe_sandbox(engine, sim, run["run_id"], NOW.date(), "fuel", "app_push")

    rep = review.review(engine, until=NOW.date())
    (res,) = [c for c in rep["campaigns"] if c["campaign_id"] == "fuel-1"]
    low, high = res["lift"]["ci95"]
    assert low <= seen["truth"]["itt_lift"] <= high
    assert res["arms"]["treatment"]["n"] + res["arms"]["control"]["n"] == seen["observed"]
    assert res["reach"]["sent"] == run["queued"] and res["recommendation"] in ("keep", "scale", "stop")
    assert {b["branch_id"] for b in res["by_branch"]}  # by branch
    jp, hp = review.write(rep, tmp_path)
    assert json.loads(jp.read_text(encoding="utf-8"))["campaigns"][0]["campaign_id"]
    html = hp.read_text(encoding="utf-8")
    assert "双周复盘" in html and "无该渠道营销授权" in html


def test_lift_ci_covers_truth_on_a_strong_offer(bank: Any) -> None:
    """A product offer on other channels, a day later (caps and arbitration in play): the CI contains the truth."""
    from kequn.campaigns import observe, review, service
    from kequn.campaigns.directory import WarehouseDirectory
    from kequn.campaigns.sender import Sender
    from kequn.channels.sandbox import SandboxChannel
    from kequn.synth.simulator import ResponseSimulator

    wh, engine, raw = bank
    d = spec_dict("card-1", priority=9, offer={"kind": "product", "code": "credit_card", "name": "信用卡",
                                               "expected_value_fen": 20000},
                  channels=[{"channel": "email", "template": "{surname_title}，{offer_name}专享"},
                            {"channel": "app_push", "template": "{offer_name}专享"}])
    service.submit(engine, service.parse_spec(d), "maker_a")
    service.approve(engine, "card-1", "checker_b")
    day = NOW + dt.timedelta(days=1)
    run = service.launch(wh, engine, "card-1", "maker_a", now=day)
    sim = ResponseSimulator(raw, seed=4)
    box = SandboxChannel(sim)
    Sender(engine, {"email": box, "app_push": box}, WarehouseDirectory(wh), clock=lambda: day).run()
    seen = observe.observe_sandbox(engine, sim, run["run_id"], day.date(), "credit_card", "email")
    res = review.campaign_result(engine, "card-1", [run["run_id"]], d)
    low, high = res["lift"]["ci95"]
    assert low <= seen["truth"]["itt_lift"] <= high


def test_arbitration_higher_priority_takes_the_customer(bank: Any) -> None:
    from kequn.campaigns import service
    from kequn.campaigns import tables as T

    wh, engine, _ = bank
    day = NOW + dt.timedelta(days=3)
    low = spec_dict("low-prio", priority=1, control_share=0.0, holdout_share=0.0,
                    channels=[{"channel": "wechat_work", "template": "{offer_name}"}])
    high = spec_dict("high-prio", priority=8, control_share=0.0, holdout_share=0.0,
                     channels=[{"channel": "wechat_work", "template": "{offer_name}"}])
    for d in (low, high):
        service.submit(engine, service.parse_spec(d), "maker_a")
        service.approve(engine, d["campaign_id"], "checker_b")
    first = service.launch(wh, engine, "low-prio", "maker_a", now=day)
    second = service.launch(wh, engine, "high-prio", "maker_a", now=day)
    assert first["queued"] > 0 and second["bumped_from_other_campaigns"] == first["queued"]
    with engine.connect() as conn:
        lost = conn.execute(sa.select(sa.func.count()).select_from(T.suppression).where(
            T.suppression.c.campaign_id == "low-prio", T.suppression.c.reason == "arbitration_lost")).scalar_one()
        pending_low = conn.execute(sa.select(sa.func.count()).select_from(T.outbox).where(
            T.outbox.c.campaign_id == "low-prio", T.outbox.c.status == "pending")).scalar_one()
    assert lost == first["queued"] and pending_low == 0
