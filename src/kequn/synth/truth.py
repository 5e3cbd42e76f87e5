"""truth/: what the generator knows and Kequn's models must never read.

- customer.parquet: per customer the hidden traits, churn onset / churn month, asset potential, baseline
  response and reward sensitivity (true uplift per reward type), base propensities, value.
- customer_month.parquet: per customer and month: churn hazard, decline depth, product propensities
  and openings, assets, contribution.
- merchant.parquet, merchant_month.parquet: the same for acquiring merchants.
- campaign_contacts.parquet: the legacy randomised campaigns in contact_history with their true
  conversion probabilities per arm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kequn.synth.calendar import US_PER_DAY, Month
from kequn.synth.catalogue import OPENABLE, REWARD_TYPES
from kequn.synth.dynamics import CustomerDynamics, MonthPlan
from kequn.synth.links import ConsentState
from kequn.synth.population import Customers, Merchants
from kequn.synth.response import ResponseSimulator, reward_effects
from kequn.synth.state import Accounts, MerchantState, sigmoid
from kequn.synth.tables import cust_ids, merch_ids, space
from kequn.synth.writer import dates, ids, timestamps, write_arrow


class TruthWriter:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._writers: dict[str, Any] = {}
        self.value_sum: np.ndarray | None = None
        self.alive_months: np.ndarray | None = None
        self.months: list[Month] = []

    def _append(self, name: str, cols: dict) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        tbl = pa.table(cols)
        if name not in self._writers:
            self._writers[name] = pq.ParquetWriter(self.folder / f"{name}.parquet", tbl.schema, compression="snappy")
        self._writers[name].write_table(tbl)

    def customer_month(self, m: Month, plan: MonthPlan, acc: Accounts, value: np.ndarray) -> None:
        if self.value_sum is None:
            self.value_sum = np.zeros(len(value))
            self.alive_months = np.zeros(len(value))
        self.months.append(m)
        self.value_sum += value / 100.0
        self.alive_months += plan.alive
        k = np.flatnonzero(plan.alive)
        cols = {"customer_id": cust_ids(k), "month_end": dates(np.full(len(k), m.last_day)),
                "decline_depth": plan.depth[k], "churn_hazard": plan.churn_prob[k], "onset_hazard": plan.onset_hazard[k],
                "churned": plan.churned[k], "aum": np.round(acc.aum[k], 2), "value": value[k] / 100.0}
        for j, name in enumerate(OPENABLE):
            cols[f"p_open_{name}"] = plan.propensity[k, j]
        for j, name in enumerate(OPENABLE):
            cols[f"opened_{name}"] = plan.opened[k, j]
        self._append("customer_month", cols)

    def merchant_month(self, m: Month, t: dict) -> None:
        k = np.flatnonzero(t["alive"])
        self._append("merchant_month", {
            "merchant_id": merch_ids(k), "month_end": dates(np.full(len(k), m.last_day)),
            "decline_depth": t["decline_depth"][k], "churn_hazard": t["churn_hazard"][k],
            "onset_hazard": t["onset_hazard"][k], "churned": t["churned"][k],
            "expected_turnover": np.round(t["expected_turnover"][k], 2)})

    def customers(self, cu: Customers, acc: Accounts, dyn: CustomerDynamics, months: list[Month]) -> Any:
        """Write truth/customer.parquet; returns it as a pandas DataFrame (the simulator's input)."""
        import pyarrow as pa

        ph = dyn.phase
        rng = dyn.seeds.raw(7_777)
        tau = reward_effects(cu.age, cu.new_citizen, cu.income, cu.spend_rate, cu.app_user, cu.has_car,
                             cu.occupation == 6, cu.responsiveness, rng.normal(0, 0.01, (cu.n, len(REWARD_TYPES))))
        base = np.clip(0.01 + 0.05 * cu.responsiveness + 0.02 * cu.engagement, 0, 1)
        prop = sigmoid(dyn.base_propensity(months[-1]))
        alive_m = np.maximum(self.alive_months, 1)
        v = self.value_sum / alive_m
        closed = ph.churn_day >= 0
        onset = ph.onset > -99
        surv = np.where(closed, 0.0, 12.0)
        cols: dict[str, Any] = {
            "customer_id": cust_ids(np.arange(cu.n)), "onboarded_on": dates(cu.onboard),
            "closed_on": dates(ph.churn_day, closed), "churn_onset_month_index": pa.array(ph.onset, mask=~onset),
            "churn_month": dates(np.array([months[i].last_day if i >= 0 else 0 for i in ph.churn_month]), closed),
            "decline_months": pa.array(ph.lag, mask=~onset), "income": np.round(cu.income, 2),
            "aum_start": np.round(cu.aum0, 2), "aum_end": np.round(acc.aum, 2), "asset_potential": np.round(cu.potential, 2),
            "engagement": cu.engagement, "app_user": cu.app_user, "has_car": cu.has_car, "night_owl": cu.night_owl,
            "sleeper": dyn.sleeper, "credit_risk": cu.credit_risk, "responsiveness": cu.responsiveness,
            "spend_rate": cu.spend_rate, "spend_scale": cu.spend_scale, "base_response": base,
        }
        for j, r in enumerate(REWARD_TYPES):
            cols[f"tau_{r}"] = tau[:, j]
        for j, name in enumerate(OPENABLE):
            cols[f"prop_{name}"] = prop[:, j]
        cols["value_month_mean"] = np.round(v, 2)
        cols["clv_12m"] = np.round(v * surv * (1 - dyn.onset_hazard(months[-1])) ** 6, 2)
        tbl = pa.table(cols)
        write_arrow(self.folder / "customer.parquet", tbl)
        return tbl.to_pandas()

    def merchants(self, me: Merchants, st: MerchantState) -> None:
        import pyarrow as pa

        ph = st.phase
        closed = ph.churn_day >= 0
        onset = ph.onset > -99
        write_arrow(self.folder / "merchant.parquet", pa.table({
            "merchant_id": merch_ids(np.arange(me.n)), "onboarded_on": dates(me.onboard),
            "closed_on": dates(ph.churn_day, closed), "churn_onset_month_index": pa.array(ph.onset, mask=~onset),
            "churn_month": dates(np.array([self.months[i].last_day if i >= 0 else 0 for i in ph.churn_month]), closed),
            "decline_months": pa.array(ph.lag, mask=~onset), "base_daily_payments": np.round(me.base_count, 3),
            "mean_ticket": np.round(me.ticket, 2), "refund_rate": me.refund_rate}))

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers = {}


def campaign_history(rng: np.random.Generator, truth_dir: Path, truth_customers: Any, cu: Customers,
                     cs: ConsentState, months: list[Month], seed: int) -> dict:
    """Legacy randomised campaigns, one per reward type (10% of consenting customers each, 50/50 arms)."""
    import pandas as pd
    import pyarrow as pa

    sim = ResponseSimulator(truth=truth_customers, seed=seed)
    closed = pd.to_datetime(truth_customers["closed_on"]).to_numpy()
    frames = []
    for k, reward in enumerate(REWARD_TYPES):
        m = months[max(0, len(months) - 2 - 2 * k)]
        day = m.first_day + 9
        sms = cs.in_force("marketing", "sms", day)
        push = cs.in_force("marketing", "app_push", day) & cu.app_user
        date = np.datetime64(int(day), "D")
        alive = (cu.onboard < day) & (pd.isna(closed) | (closed > date))
        pick = np.flatnonzero(alive & (sms | push) & (rng.random(cu.n) < 0.10))
        frames.append(pd.DataFrame({
            "customer_idx": pick, "offer": reward, "channel": np.where(push[pick], "app_push", "sms"),
            "day": day, "arm": np.where(rng.random(len(pick)) < 0.5, "treatment", "control"),
            "campaign_code": f"LEGACY-{m.year:04d}{m.month:02d}-{reward.upper()}"}))
    df = pd.concat(frames, ignore_index=True)
    df["customer_id"] = cust_ids(df["customer_idx"].to_numpy()).to_numpy(zero_copy_only=False)
    df["contact_id"] = ids("CH", space().start(10) + np.arange(len(df)) + 1, 10).to_numpy(zero_copy_only=False)
    df["date"] = pd.to_datetime(df["day"].to_numpy().astype("datetime64[D]"))
    res = sim.respond(df)
    exp = sim.expected(df)
    outcome = np.where(res["converted"], "converted", np.where(res["opened"] | (res["arm"] == "control"), "no_conversion", "no_answer"))
    secs = 9 * 3600 + rng.integers(0, 10 * 3600, len(df))
    ts = df["day"].to_numpy().astype(np.int64) * US_PER_DAY + secs * 1_000_000
    amount_cents = np.round(res["amount"].to_numpy() * 100).astype(np.int64)
    from kequn.synth.writer import decimal_from_cents

    write_arrow(truth_dir / "campaign_contacts.parquet", pa.table({
        "contact_id": df["contact_id"], "customer_id": df["customer_id"], "campaign_code": df["campaign_code"],
        "offer": df["offer"], "channel": df["channel"], "arm": df["arm"], "date": dates(df["day"].to_numpy()),
        "p_delivered": exp["p_delivered"], "p_converted_if_treated": exp["p_converted_if_treated"],
        "p_converted_if_control": exp["p_converted_if_control"], "p_converted": exp["p_converted"],
        "true_uplift": exp["true_uplift"]}))
    conv = res["converted"].to_numpy()
    return {"contact_id": pa.array(df["contact_id"]), "customer_id": pa.array(df["customer_id"]),
            "campaign_code": pa.array(df["campaign_code"]), "channel": pa.array(df["channel"]), "ts": timestamps(ts),
            "arm": pa.array(df["arm"]), "outcome": pa.array(outcome), "converted": conv,
            "amount": decimal_from_cents(amount_cents, conv)}
