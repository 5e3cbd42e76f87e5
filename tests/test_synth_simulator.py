"""The response simulator: deterministic, order-independent outcomes whose true effect a plain
difference of means recovers; heterogeneous reward effects that follow observable traits."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest

from kequn.errors import NotFoundError, ValidationError
from kequn.synth.catalogue import REWARD_TYPES
from kequn.synth.generate import SynthParams, generate
from kequn.synth.simulator import ResponseSimulator


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "bank"
    generate(out, SynthParams(customers=4000, months=3, seed=21, end=dt.date(2026, 10, 31)))
    return out


def _campaign(bank: Path, seed: int, offers: tuple[str, ...] = REWARD_TYPES):  # noqa: ANN202
    import pandas as pd

    truth = pd.read_parquet(bank / "truth" / "customer.parquet")
    alive = truth[truth["closed_on"].isna() & (pd.to_datetime(truth["onboarded_on"]) < "2026-11-01")]
    rng = np.random.default_rng(seed)
    rows = []
    for offer in offers:
        arm = np.where(rng.random(len(alive)) < 0.5, "treatment", "control")
        rows.append(pd.DataFrame({"customer_id": alive["customer_id"].to_numpy(), "offer": offer,
                                  "channel": rng.choice(["sms", "app_push", "wechat_work"], len(alive)),
                                  "date": "2026-11-10", "arm": arm}))
    df = pd.concat(rows, ignore_index=True)
    df["contact_id"] = [f"X{i:07d}" for i in range(len(df))]
    return df


def test_difference_of_means_recovers_the_true_effect(bank: Path) -> None:
    contacts = _campaign(bank, seed=1)
    sim = ResponseSimulator(bank, seed=99)
    out = sim.respond(contacts)
    truth = sim.true_effect(contacts)
    t = out[out["arm"] == "treatment"]["converted"].to_numpy(float)
    c = out[out["arm"] == "control"]["converted"].to_numpy(float)
    diff = t.mean() - c.mean()
    se = math.sqrt(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c))
    assert abs(diff - truth["ate_between_arms"]) < 1.96 * se, (diff, truth, se)
    assert abs(diff - truth["ate"]) < 1.96 * se
    assert truth["ate"] > 2 * se  # the campaign works, and the test has power to see it
    for arm, x in (("treatment", t), ("control", c)):
        assert abs(x.mean() - truth["arms"][arm]) < 1.96 * math.sqrt(x.var(ddof=1) / len(x))


def test_per_reward_effects_recovered(bank: Path) -> None:
    contacts = _campaign(bank, seed=2)
    sim = ResponseSimulator(bank, seed=5)
    out = sim.respond(contacts)
    misses = 0
    for offer in REWARD_TYPES:
        sub = contacts[contacts["offer"] == offer]
        o = out[out["offer"] == offer]
        t, c = o[o["arm"] == "treatment"]["converted"], o[o["arm"] == "control"]["converted"]
        se = math.sqrt(t.var() / len(t) + c.var() / len(c))
        misses += abs((t.mean() - c.mean()) - sim.true_effect(sub)["ate_between_arms"]) > 2.58 * se
    assert misses <= 1  # five 99% intervals: at most one miss


def test_outcomes_are_deterministic_and_order_independent(bank: Path) -> None:
    contacts = _campaign(bank, seed=3, offers=("coupon",))
    a = ResponseSimulator(bank, seed=7).respond(contacts)
    b = ResponseSimulator(bank, seed=7).respond(contacts.sample(frac=1.0, random_state=0))
    b = b.set_index("contact_id").loc[a["contact_id"]].reset_index()
    cols = ["delivered", "opened", "converted", "redeemed", "amount"]
    assert (a[cols].to_numpy() == b[cols].to_numpy()).all()
    c = ResponseSimulator(bank, seed=8).respond(contacts)
    assert (a["converted"] != c["converted"]).any()


def test_outcome_logic(bank: Path) -> None:
    out = ResponseSimulator(bank, seed=1).respond(_campaign(bank, seed=4))
    ctrl = out[out["arm"] == "control"]
    assert not ctrl["delivered"].any() and not ctrl["redeemed"].any()
    assert not (out["opened"] & ~out["delivered"]).any()
    assert not (out["redeemed"] & ~out["converted"]).any()
    assert (out.loc[out["converted"], "amount"] > 0).all() and (out.loc[~out["converted"], "amount"] == 0).all()


def test_closed_or_unknown_customers_never_respond(bank: Path) -> None:
    import pandas as pd

    truth = pd.read_parquet(bank / "truth" / "customer.parquet")
    closed = truth[truth["closed_on"].notna()]["customer_id"].head(50).tolist()
    df = pd.DataFrame({"customer_id": closed + ["C999999999"], "offer": "fuel", "channel": "sms",
                       "date": "2026-11-10", "arm": "treatment"})
    sim = ResponseSimulator(bank, seed=1)
    assert not sim.respond(df)["delivered"].any()
    assert (sim.expected(df)["p_converted"] == 0).all()


def test_reward_sensitivity_is_heterogeneous_along_observable_traits(bank: Path) -> None:
    import duckdb

    t = str(bank / "truth" / "customer.parquet")
    tx = str(bank / "transaction.parquet")
    cust = str(bank / "customer.parquet")
    fuel = duckdb.sql(f"""SELECT avg(tau_fuel) FILTER (WHERE f), avg(tau_fuel) FILTER (WHERE NOT f) FROM
        (SELECT t.tau_fuel, EXISTS (SELECT 1 FROM '{tx}' x WHERE x.customer_id = t.customer_id AND x.mcc = '5541') f
         FROM '{t}' t)""").fetchone()
    assert fuel[0] > fuel[1] + 0.05  # car owners (fuel spending is visible) respond to fuel vouchers
    video = duckdb.sql(f"""SELECT avg(tau_video_membership) FILTER (WHERE age < 35), avg(tau_video_membership)
        FILTER (WHERE age > 55) FROM (SELECT t.tau_video_membership, date_diff('year', c.birth_date, DATE '2026-10-31') age
        FROM '{t}' t JOIN '{cust}' c USING (customer_id))""").fetchone()
    assert video[0] > video[1] + 0.03
    health = duckdb.sql(f"""SELECT corr(tau_health_check, date_diff('year', c.birth_date, DATE '2026-10-31'))
        FROM '{t}' t JOIN '{cust}' c USING (customer_id)""").fetchone()[0]
    assert health > 0.5


def test_product_offers_and_sandbox_channel(bank: Path) -> None:
    import pandas as pd

    ids = pd.read_parquet(bank / "truth" / "customer.parquet")["customer_id"].head(300)
    df = pd.DataFrame({"customer_id": ids, "offer": "wealth", "channel": "sandbox", "date": "2026-11-10"})
    e = ResponseSimulator(bank, seed=2).expected(df)
    assert (e["p_converted_if_treated"] >= e["p_converted_if_control"]).all()
    assert e["true_uplift"].mean() > 0


def test_bad_contacts_and_missing_truth_are_reported(bank: Path, tmp_path: Path) -> None:
    import pandas as pd

    sim = ResponseSimulator(bank, seed=1)
    with pytest.raises(ValidationError, match="unknown offer"):
        sim.respond(pd.DataFrame({"customer_id": ["C000000001"], "offer": ["gold"], "channel": ["sms"], "date": ["2026-11-01"]}))
    with pytest.raises(ValidationError, match="lack column"):
        sim.respond(pd.DataFrame({"customer_id": ["C000000001"]}))
    with pytest.raises(NotFoundError):
        ResponseSimulator(tmp_path, seed=1)


def test_legacy_campaign_truth_matches_contact_history(bank: Path) -> None:
    import pandas as pd

    hist = pd.read_parquet(bank / "contact_history.parquet")
    truth = pd.read_parquet(bank / "truth" / "campaign_contacts.parquet")
    assert len(hist) == len(truth) and set(hist["contact_id"]) == set(truth["contact_id"])
    assert set(hist["arm"]) == {"treatment", "control"}
    assert (truth["p_converted_if_treated"] >= truth["p_converted_if_control"] - 0.031).all()
