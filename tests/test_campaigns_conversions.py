"""Conversion kinds (product opened, reward redeemed, AUM up), counted the same way for treatment and
control and checked against independent SQL on a hand-made bank; sandbox redemptions posted to the rewards
ledger (idempotent, the campaign's budget pays, never beyond it) so the review's cost comes from the ledger."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from kequn.domain.campaigns import ArmStats, lift

START = dt.date(2026, 11, 2)
SH = ZoneInfo("Asia/Shanghai")
N = 200


def _arm(i: int) -> str:
    return "control" if i % 4 == 0 else "treatment"


def _local(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), SH).astimezone(dt.UTC)


@pytest.fixture
def bank(tmp_path: Path) -> Any:
    from kequn.campaigns import service
    from kequn.campaigns import tables as T
    from kequn.opstore import engine_for, migrate
    from kequn.rewards.catalogue import load_catalogue, sync_catalogue
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    wh = connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    create_tables(wh)
    con = wh.con.con
    con.execute("INSERT INTO branch VALUES ('B1', '一支行', 'branch', NULL, '长沙', NULL)")
    con.execute("INSERT INTO product (product_id, name, category, provider, online_closable) VALUES "
                "('PW', '湘江财富', 'wealth', 'bank', true), ('PC', '信用卡', 'credit_card', 'bank', true), "
                "('PD', '活期', 'deposit', 'bank', true), ('PL', '消费贷', 'consumer_loan', 'bank', true)")
    cust, acc, bal = [], [], []
    for i in range(N):
        k = f"K{i:03d}"
        cust.append((k, "王五", "B1", dt.date(2020, 1, 1), "active"))
        acc.append((f"D{i}", k, "PD", "deposit", "B1", dt.date(2020, 1, 1), "active"))
        acc.append((f"L{i}", k, "PL", "loan", "B1", dt.date(2020, 1, 1), "active"))
        if _arm(i) == "treatment":
            inc = 20000 if i % 3 == 0 else (9999.99 if i % 3 == 1 else 0)  # 9,999.99 is just under ¥10,000
        else:
            inc = 15000 if i % 6 == 0 else -500
        bal += [(f"D{i}", dt.date(2026, 10, 31), 10000), (f"D{i}", dt.date(2026, 11, 30), 10000 + inc),
                (f"L{i}", dt.date(2026, 10, 31), 0), (f"L{i}", dt.date(2026, 11, 30), 90000)]  # loans are not AUM
        if i % 8 == 1:  # a new wealth account after launch: AUM up
            acc.append((f"W{i}", k, "PW", "wealth", "B1", dt.date(2026, 11, 9), "active"))
            bal.append((f"W{i}", dt.date(2026, 11, 30), 12000))
        if i % 5 == 0 and (_arm(i) == "treatment" or i % 10 == 0):
            acc.append((f"O{i}", k, "PW", "wealth", "B1", dt.date(2026, 11, 10 if i % 2 else 20), "active"))
        if i % 7 == 0:  # before the window
            acc.append((f"E{i}", k, "PW", "wealth", "B1", dt.date(2026, 10, 15), "active"))
        if i % 11 == 0:  # another category
            acc.append((f"C{i}", k, "PC", "credit_card", "B1", dt.date(2026, 11, 12), "active"))
    acc.append(("EDGE", "K001", "PW", "wealth", "B1", dt.date(2026, 12, 2), "active"))  # the day after the window
    import pandas as pd

    frames = {  # DuckDB reads the DataFrames by name (one INSERT … SELECT each, not row by row)
        "customer": pd.DataFrame(cust, columns=["customer_id", "name", "home_branch_id", "onboarded_on", "status"]),
        "account": pd.DataFrame(acc, columns=["account_id", "customer_id", "product_id", "kind", "branch_id",
                                              "opened_on", "status"]),
        "balance_monthly": pd.DataFrame([(a, m, b, b) for a, m, b in bal],
                                        columns=["account_id", "month_end", "balance", "avg_daily_balance"]),
    }
    for table, df in frames.items():
        con.register(f"df_{table}", df)
        cols = ", ".join(df.columns)
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM df_{table}")
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    migrate(url)
    engine = engine_for(url)
    sync_catalogue(engine, load_catalogue())
    spec = service.parse_spec({
        "campaign_id": "coupon-conv", "name": "消费券", "audience": {"segment_id": "s"},
        "offer": {"kind": "reward", "code": "coupon", "name": "消费券", "reward_fen": 500, "expected_value_fen": 3000},
        "channels": [{"channel": "app_push", "template": "{offer_name}"}],
        "schedule": {"kind": "one_off", "at": "2026-11-02T10:00:00+08:00"}, "window_days": 30,
        "conversions": [{"kind": "reward_redeemed"}, {"kind": "product_opened", "category": "wealth"},
                        {"kind": "aum_up", "min_increase_fen": 1_000_000}]})
    service.submit(engine, spec, "maker_a")
    with engine.begin() as conn:
        conn.execute(T.campaign_run.insert().values(run_id="r1", campaign_id="coupon-conv", version=1,
                                                    started_at=_local("2026-11-02", 10), as_of=START, counts="{}"))
        conn.execute(T.assignment.insert(), [dict(run_id="r1", campaign_id="coupon-conv", customer_id=f"K{i:03d}",
                                                  arm=_arm(i), branch_id="B1", eligible=1) for i in range(N)])
    yield wh, engine, spec, tmp_path / "ops.sqlite"
    wh.close()


def _redemptions(engine: Any) -> None:
    """Through the real ledger API at controlled times: in-window coupons (treatment i%6==1, control i%8==4),
    one before the window, one of another category, one reversed."""
    from kequn.rewards.catalogue import redeem, reverse_redemption
    from kequn.rewards.ledger import Ledger

    def at(day: str) -> Ledger:
        t = _local(day)
        return Ledger(engine, clock=lambda: t)

    for i in range(N):
        k = f"K{i:03d}"
        if i % 6 == 1 or i % 8 == 4 or i in (2, 3):
            at("2026-10-01").earn(f"earn-{k}", k, 2000)
        if i % 6 == 1:
            redeem(at("2026-11-05"), f"red-{k}", k, "COUPON_002")
        elif i % 8 == 4:
            redeem(at("2026-11-06"), f"red-{k}", k, "COUPON_001")
    redeem(at("2026-10-20"), "red-early", "K002", "COUPON_002")  # before the window
    redeem(at("2026-11-07"), "red-fuel", "K003", "FUEL_001")  # a fuel reward, not a coupon
    with engine.connect() as conn:
        rid = conn.execute(sa.text("SELECT r.id FROM redemption r JOIN point_txn t ON t.id = r.txn_id "
                                   "WHERE t.idempotency_key = 'red-K013'")).scalar_one()
    reverse_redemption(at("2026-11-08"), "rev-K013", rid, reason="客户退回")


def _per_arm(ids: set[str]) -> dict[str, int]:
    out = {"treatment": 0, "control": 0}
    for i in range(N):
        if f"K{i:03d}" in ids:
            out[_arm(i)] += 1
    return out


def test_every_conversion_kind_matches_independent_sql(bank: Any) -> None:
    from kequn.campaigns import observe, review

    wh, engine, spec, ops_file = bank
    _redemptions(engine)
    got = observe.observe_conversions(wh, engine, "r1", spec, START)
    assert {k: v["observed"] for k, v in got.items()} == {"reward_redeemed": N, "product_opened": N, "aum_up": N}
    assert got["aum_up"]["month_end_at_launch"] == "2026-10-31" and got["aum_up"]["month_end_at_window_end"] == "2026-11-30"

    con = wh.con.con
    products = {r[0] for r in con.execute(
        "SELECT DISTINCT a.customer_id FROM account a JOIN product p ON p.product_id = a.product_id "
        "WHERE p.category = 'wealth' AND a.opened_on >= DATE '2026-11-02' AND a.opened_on < DATE '2026-12-02'").fetchall()}
    aum = {r[0] for r in con.execute(
        "WITH x AS (SELECT a.customer_id, "
        "  SUM(CASE WHEN b.month_end = DATE '2026-11-30' THEN b.balance ELSE 0 END) - "
        "  SUM(CASE WHEN b.month_end = DATE '2026-10-31' THEN b.balance ELSE 0 END) AS delta "
        "  FROM account a JOIN balance_monthly b ON b.account_id = a.account_id "
        "  WHERE a.kind IN ('deposit', 'time_deposit', 'wealth') GROUP BY a.customer_id) "
        "SELECT customer_id FROM x WHERE delta >= 10000").fetchall()}
    lite = sqlite3.connect(ops_file)
    lo, hi = (t.strftime("%Y-%m-%d %H:%M:%S") for t in (_local("2026-11-02", 0), _local("2026-12-02", 0)))
    redeemed = {r[0] for r in lite.execute(
        "SELECT DISTINCT r.owner_id FROM redemption r JOIN reward w ON w.reward_id = r.reward_id "
        "WHERE r.status = 'redeemed' AND w.category = 'coupon' AND r.created_at >= ? AND r.created_at < ?", (lo, hi))}
    lite.close()
    # hand counts from the construction
    # openings in the window: i%5==0 (treatment; control only i%10==0) and the new wealth accounts (i%8==1)
    assert _per_arm(products) == {"treatment": len([i for i in range(N) if _arm(i) == "treatment"
                                                    and (i % 5 == 0 or i % 8 == 1)]), "control": 10}
    assert _per_arm(redeemed) == {"treatment": len([i for i in range(N) if i % 6 == 1]) - 1,  # K013 reversed
                                  "control": len([i for i in range(N) if i % 8 == 4])}
    assert "K002" not in redeemed and "K003" not in redeemed
    assert "K007" not in aum and "K004" not in aum  # +9,999.99 is under the threshold; −500
    assert "K000" in aum and "K009" in aum  # control +15,000; a new wealth account of 12,000

    res = review.campaign_result(engine, "coupon-conv", ["r1"], spec.model_dump(mode="json"))
    assert res["conversion_source"] == "reward_redeemed"  # the spec's first kind is the headline
    for kind, ids in (("product_opened", products), ("reward_redeemed", redeemed), ("aum_up", aum)):
        conv = res["conversions"][kind]
        want = _per_arm(ids)
        assert conv["arms"]["treatment"] == pytest.approx({"n": 150, "conversions": want["treatment"],
                                                           "rate": want["treatment"] / 150}), kind
        assert conv["arms"]["control"]["n"] == 50 and conv["arms"]["control"]["conversions"] == want["control"], kind
        ref = lift(ArmStats(150, want["treatment"], want["treatment"]), ArmStats(50, want["control"], want["control"]))
        assert conv["lift"]["diff"] == pytest.approx(ref.diff) and conv["lift"]["ci95"] == pytest.approx([ref.low, ref.high])
    assert res["lift"] == res["conversions"]["reward_redeemed"]["lift"]
    assert res["redeemed"] == _per_arm(redeemed)["treatment"] and res["reward_cost_source"] == "estimate"

    # observing again replaces, never adds
    observe.observe_conversions(wh, engine, "r1", spec, START)
    again = review.campaign_result(engine, "coupon-conv", ["r1"], spec.model_dump(mode="json"))
    assert again["conversions"] == res["conversions"]

    # the review: per segment, the one campaign's stratified lift is the campaign's own
    rep = review.review(engine, until=dt.date(2026, 11, 10))
    (seg,) = rep["segments"]
    assert seg["segment_id"] == "s" and seg["campaigns"] == ["coupon-conv"]
    for kind in ("product_opened", "reward_redeemed", "aum_up"):
        s, c = seg["result"]["conversions"][kind], res["conversions"][kind]
        assert s["lift"]["diff"] == pytest.approx(c["lift"]["diff"])
        assert s["lift"]["ci95"] == pytest.approx(c["lift"]["ci95"])
    jp, hp = review.write(rep, ops_file.parent / "reviews")
    html = hp.read_text(encoding="utf-8")
    assert "分客群监测" in html and "资产提升 (aum_up)" in html and "权益核销 (reward_redeemed) ★" in html


def test_aum_up_is_skipped_until_a_month_end_falls_in_the_window(bank: Any) -> None:
    from kequn.campaigns import observe, service

    wh, engine, spec, _ = bank
    short = service.parse_spec({**spec.model_dump(mode="json"), "window_days": 10})
    got = observe.observe_conversions(wh, engine, "r1", short, START)
    assert "no month-end balance inside the window" in got["aum_up"]["skipped"]
    assert got["product_opened"]["observed"] == N


def test_spec_conversions_validated_and_defaulted() -> None:
    from kequn.campaigns import service
    from kequn.errors import ValidationError

    base = {"campaign_id": "c-1", "name": "x", "audience": {"segment_id": "s"},
            "channels": [{"channel": "app_push", "template": "{offer_name}"}],
            "schedule": {"kind": "one_off", "at": "2026-11-02T10:00:00+08:00"}}
    prod = service.parse_spec({**base, "offer": {"kind": "product", "code": "wealth", "name": "理财"}})
    assert [(c.kind, c.category) for c in prod.conversion_kinds()] == [("product_opened", "wealth")]
    rew = service.parse_spec({**base, "offer": {"kind": "reward", "code": "fuel", "name": "加油券", "reward_id": "FUEL_001"}})
    assert [(c.kind, c.reward_id) for c in rew.conversion_kinds()] == [("reward_redeemed", "FUEL_001")]
    with pytest.raises(ValidationError) as err:
        service.parse_spec({**base, "offer": {"kind": "reward", "code": "fuel", "name": "加油券"},
                            "conversions": [{"kind": "product_opened"}, {"kind": "aum_up", "min_increase_fen": 0},
                                            {"kind": "teleport"}]})
    text = str(err.value.details)
    assert "min_increase_fen" in text and "teleport" in text
    with pytest.raises(ValidationError, match="product_opened needs a category"):
        service.parse_spec({**base, "offer": {"kind": "reward", "code": "fuel", "name": "加油券"},
                            "conversions": [{"kind": "product_opened"}]})
    with pytest.raises(ValidationError, match="appears twice"):
        service.parse_spec({**base, "offer": {"kind": "product", "code": "wealth", "name": "理财"},
                            "conversions": [{"kind": "aum_up"}, {"kind": "aum_up"}]})


# ------------------------------------------------------------------------------------------- sandbox → ledger
@pytest.fixture(scope="module")
def synth_bank(tmp_path_factory: Any) -> Any:
    from kequn.rewards.catalogue import load_catalogue, sync_catalogue
    from test_campaigns_cycle import approved_segment, make_small_bank

    wh, engine, raw = make_small_bank(tmp_path_factory.mktemp("sbx"), customers=800, seed=11)
    approved_segment(wh, engine)
    sync_catalogue(engine, load_catalogue())
    yield wh, engine, raw
    wh.close()


def _sandbox_run(wh: Any, engine: Any, raw: Path, cid: str, now: dt.datetime) -> tuple[Any, dict[str, Any]]:
    from kequn.campaigns import service
    from kequn.campaigns.directory import WarehouseDirectory
    from kequn.campaigns.sender import Sender
    from kequn.channels.sandbox import SandboxChannel
    from kequn.synth.simulator import ResponseSimulator
    from test_campaigns_cycle import spec_dict

    d = spec_dict(cid, offer={"kind": "reward", "code": "coupon", "name": "便利店券", "reward_id": "COUPON_002",
                              "reward_fen": 500, "expected_value_fen": 5000},
                  schedule={"kind": "one_off", "at": now.isoformat()}, control_share=0.2)
    spec = service.parse_spec(d)
    service.submit(engine, spec, "maker_a")
    service.approve(engine, cid, "checker_b")
    run = service.launch(wh, engine, cid, "maker_a", now=now)
    sim = ResponseSimulator(raw, seed=7)
    box = SandboxChannel(sim)
    Sender(engine, {"sms": box, "app_push": box}, WarehouseDirectory(wh), clock=lambda: now).run()
    return spec, run


def _txns(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT COUNT(*) FROM point_txn")).scalar_one())


def test_sandbox_redemptions_post_to_the_ledger_once_and_the_review_cost_comes_from_it(synth_bank: Any) -> None:
    from kequn.campaigns import observe, review
    from kequn.rewards.ledger import Ledger
    from kequn.synth.simulator import ResponseSimulator

    wh, engine, raw = synth_bank
    now = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)
    ledger = Ledger(engine)
    ledger.fund("fund-sbx-1", "sbx-1", 1_000_000)  # ¥10,000
    spec, run = _sandbox_run(wh, engine, raw, "sbx-1", now)
    sim = ResponseSimulator(raw, seed=7)
    seen = observe.observe_sandbox(engine, sim, run["run_id"], now.date(), "coupon", "app_push", spec=spec)
    posted = seen["ledger"]["posted"]
    assert posted == seen["ledger"]["redeemed"] >= 3 and seen["ledger"]["refused"] == {}
    with engine.connect() as conn:
        sim_redeemed = int(conn.execute(sa.text(
            "SELECT COALESCE(SUM(redeemed), 0) FROM campaign_response WHERE run_id = :r AND source = 'sandbox'"),
            {"r": run["run_id"]}).scalar_one())
        ledger_rows = conn.execute(sa.text(
            "SELECT COUNT(*), COALESCE(SUM(cost_fen), 0), COALESCE(SUM(points), 0) FROM redemption "
            "WHERE reward_id = 'COUPON_002' AND status = 'redeemed'")).one()
    assert sim_redeemed == posted and tuple(ledger_rows) == (posted, posted * 500, 0)
    assert ledger.balance("system", "reward_cost") == posted * 500
    assert ledger.balance("campaign", "sbx-1", unit="fen") == 1_000_000 - posted * 500
    # the ledger-based conversion: every posted redemption is a treatment conversion; control never redeems
    rr = seen["reward_redeemed"]
    assert rr["converted"] == posted

    # idempotent: observing again posts nothing new
    before = _txns(engine)
    again = observe.observe_sandbox(engine, sim, run["run_id"], now.date(), "coupon", "app_push", spec=spec)
    assert again["ledger"]["posted"] == 0 and again["ledger"]["replayed"] == posted and _txns(engine) == before

    res = review.campaign_result(engine, "sbx-1", [run["run_id"]], spec.model_dump(mode="json"))
    assert res["reward_cost_source"] == "ledger" and res["reward_cost_fen"] == posted * 500
    assert res["conversion_source"] == "sandbox"  # demo: the simulator's answer is the headline
    conv = res["conversions"]["reward_redeemed"]
    assert conv["arms"]["treatment"]["conversions"] == posted and conv["arms"].get("control", {}).get("conversions", 0) == 0


def test_sandbox_redemptions_never_overspend_the_budget(synth_bank: Any) -> None:
    from kequn.campaigns import observe, review
    from kequn.rewards.ledger import Ledger
    from kequn.synth.simulator import ResponseSimulator

    wh, engine, raw = synth_bank
    now = dt.datetime(2026, 11, 5, 2, 0, tzinfo=dt.UTC)
    ledger = Ledger(engine)
    ledger.fund("fund-sbx-2", "sbx-2", 500)  # one coupon of ¥5
    spec, run = _sandbox_run(wh, engine, raw, "sbx-2", now)
    seen = observe.observe_sandbox(engine, ResponseSimulator(raw, seed=7), run["run_id"], now.date(), "coupon",
                                   "app_push", spec=spec)
    led = seen["ledger"]
    assert led["redeemed"] >= 2 and led["posted"] == 1 and led["refused"] == {"budget_exhausted": led["redeemed"] - 1}
    assert ledger.balance("campaign", "sbx-2", unit="fen") == 0
    res = review.campaign_result(engine, "sbx-2", [run["run_id"]], spec.model_dump(mode="json"))
    assert res["redeemed"] == 1 and res["reward_cost_fen"] == 500 and res["reward_cost_source"] == "ledger"
