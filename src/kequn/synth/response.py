"""Response truth and the response simulator (the "sandbox" channel).

Every customer has a baseline conversion probability and, per reward type, a heterogeneous treatment
effect (additive uplift on the conversion probability) that depends on traits Kequn can observe
(age, new-citizen flag, fuel spending = car owner, card spending, app use, occupation). Product offers
use the customer's true propensity for that product. Draws are counter-based (hash of seed and the
contact's key), so an outcome never depends on which other contacts are in the list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kequn.errors import NotFoundError, ValidationError
from kequn.synth.catalogue import OPENABLE, REWARD_TYPES

#: P(delivered) and P(opened | delivered) per channel before the customer's engagement scales it
DELIVERY = {"sms": 0.97, "app_push": 0.85, "wechat_work": 0.9, "call": 0.65, "email": 0.9, "branch": 0.6,
            "sandbox": 0.95}
OPEN = {"sms": 0.3, "app_push": 0.25, "wechat_work": 0.45, "call": 0.9, "email": 0.12, "branch": 0.8,
        "sandbox": 0.4}
REDEEM = 0.85  # a converted customer who saw a reward redeems it with this probability


def reward_effects(age: np.ndarray, new_citizen: np.ndarray, income: np.ndarray, spend_rate: np.ndarray,
                   app_user: np.ndarray, has_car: np.ndarray, retired: np.ndarray, responsiveness: np.ndarray,
                   noise: np.ndarray) -> np.ndarray:
    """(n, len(REWARD_TYPES)) true uplift on conversion probability per reward type."""
    heavy = spend_rate > np.quantile(spend_rate, 0.6) if len(spend_rate) else spend_rate > 0
    tau = np.stack([
        0.01 + 0.07 * new_citizen + 0.04 * (income < 5000) + 0.03 * responsiveness,  # coupon
        0.005 + 0.08 * heavy + 0.02 * responsiveness,  # cashback
        0.10 * ((age < 35) & app_user) - 0.015 * (age > 55),  # video membership
        0.002 + 0.09 * has_car,  # fuel
        0.02 + 0.07 * (age >= 50) + 0.02 * retired,  # health check
    ], axis=1)
    return np.clip(tau + noise, -0.03, 0.5)


def _uniform(keys: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Deterministic uniforms in [0, 1) from uint64 keys (splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        z = keys + np.uint64((seed * 0x9E3779B97F4A7C15 + stream * 0xBF58476D1CE4E5B9) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


class ResponseSimulator:
    """Outcomes of marketing contacts drawn from the synthetic bank's truth.

    ``ResponseSimulator(synth_dir, seed)`` reads ``synth_dir/truth/customer.parquet``. Contacts are rows
    with ``customer_id``, ``offer`` (a reward type such as ``coupon``, or a product category such as
    ``wealth``; column ``reward`` is accepted too), ``channel``, ``date`` and optionally ``arm``
    (``treatment`` default / ``control``) and ``contact_id``.
    """

    def __init__(self, synth_dir: Path | str | None = None, seed: int = 0, *, truth: Any = None) -> None:
        import pandas as pd

        if truth is None:
            path = Path(synth_dir or ".") / "truth" / "customer.parquet"
            if not path.exists():
                raise NotFoundError(f"no synthetic truth at {path}; run `kequn synth` first")
            truth = pd.read_parquet(path)
        self.seed = int(seed)
        self.truth = truth.set_index("customer_id")

    # ------------------------------------------------------------------------------------ inputs
    def _frame(self, contacts: Any) -> Any:
        import pandas as pd

        df = contacts.copy() if isinstance(contacts, pd.DataFrame) else pd.DataFrame(contacts)
        if "offer" not in df.columns and "reward" in df.columns:
            df = df.rename(columns={"reward": "offer"})
        missing = [c for c in ("customer_id", "offer", "channel", "date") if c not in df.columns]
        if missing:
            raise ValidationError(f"contacts lack column(s) {', '.join(missing)}")
        if "arm" not in df.columns:
            df["arm"] = "treatment"
        bad = sorted(set(df["offer"]) - set(REWARD_TYPES) - set(OPENABLE))
        if bad:
            raise ValidationError(f"unknown offer(s) {bad}; known: {', '.join(REWARD_TYPES + OPENABLE)}")
        bad_ch = sorted(set(df["channel"]) - set(DELIVERY))
        if bad_ch:
            raise ValidationError(f"unknown channel(s) {bad_ch}; known: {', '.join(DELIVERY)}")
        bad_arm = sorted(set(df["arm"]) - {"treatment", "control"})
        if bad_arm:
            raise ValidationError(f"unknown arm(s) {bad_arm}; use treatment or control")
        df["date"] = pd.to_datetime(df["date"]).dt.normalize()
        return df.reset_index(drop=True)

    def _probabilities(self, df: Any) -> dict[str, np.ndarray]:
        import pandas as pd

        t = self.truth.reindex(df["customer_id"])
        known = t["base_response"].notna().to_numpy()
        onboard = pd.to_datetime(t["onboarded_on"]).to_numpy()
        closed = pd.to_datetime(t["closed_on"]).to_numpy()
        day = df["date"].to_numpy()
        alive = known & (onboard <= day) & (pd.isna(closed) | (day < closed))
        offer = df["offer"].to_numpy()
        p0 = np.zeros(len(df))
        tau = np.zeros(len(df))
        for o in np.unique(offer):
            sel = offer == o
            if o in REWARD_TYPES:
                p0[sel] = t["base_response"].to_numpy()[sel]
                tau[sel] = t[f"tau_{o}"].to_numpy()[sel]
            else:
                base = t[f"prop_{o}"].to_numpy()[sel]
                p0[sel] = base
                tau[sel] = np.minimum(0.3, 4 * base * (0.5 + t["responsiveness"].to_numpy()[sel]))
        p0, tau = np.nan_to_num(p0) * alive, np.nan_to_num(tau) * alive
        eng = np.nan_to_num(t["engagement"].to_numpy())
        ch = df["channel"].to_numpy()
        pd_ = np.array([DELIVERY[c] for c in ch]) * alive
        app = np.nan_to_num(t["app_user"].to_numpy().astype(float))
        pd_ = np.where(ch == "app_push", pd_ * app, pd_)
        po = np.minimum(1.0, np.array([OPEN[c] for c in ch]) * (0.5 + eng))
        treated = df["arm"].to_numpy() == "treatment"
        p_t = np.clip(p0 + tau * pd_ * po, 0, 1)
        return {"alive": alive, "p_delivered": pd_ * treated, "p_opened": po, "p0": np.clip(p0, 0, 1), "tau": tau,
                "p_if_treated": p_t, "p_if_control": np.clip(p0, 0, 1), "treated": treated}

    # ------------------------------------------------------------------------------------ outputs
    def expected(self, contacts: Any) -> Any:
        """Per contact: the true probabilities (delivery, open, conversion under each arm, uplift)."""
        df = self._frame(contacts)
        p = self._probabilities(df)
        df["p_delivered"] = p["p_delivered"]
        df["p_converted_if_treated"] = p["p_if_treated"]
        df["p_converted_if_control"] = p["p_if_control"]
        df["p_converted"] = np.where(p["treated"], p["p_if_treated"], p["p_if_control"])
        df["true_uplift"] = p["p_if_treated"] - p["p_if_control"]
        return df

    def true_effect(self, contacts: Any) -> dict[str, Any]:
        """The true expected conversion rate per arm and the true average effect of treatment."""
        e = self.expected(contacts)
        arms = {a: float(g["p_converted"].mean()) for a, g in e.groupby("arm")}
        out: dict[str, Any] = {"arms": arms, "ate": float(e["true_uplift"].mean()), "n": len(e)}
        if {"treatment", "control"} <= set(arms):
            out["ate_between_arms"] = arms["treatment"] - arms["control"]
        return out

    def respond(self, contacts: Any) -> Any:
        """Outcomes: delivered, opened, converted, redeemed, amount (Decimal-ready float yuan, 2 dp)."""
        import pandas as pd

        df = self._frame(contacts)
        p = self._probabilities(df)
        key_cols = ["contact_id"] if "contact_id" in df.columns else ["customer_id", "offer", "channel", "date", "arm"]
        keys = pd.util.hash_pandas_object(df[key_cols], index=False).to_numpy().astype(np.uint64)
        u = [_uniform(keys, self.seed, s) for s in range(5)]
        delivered = p["treated"] & (u[0] < p["p_delivered"])
        opened = delivered & (u[1] < p["p_opened"])
        conv_p = np.where(opened, p["p0"] + p["tau"], p["p0"])
        converted = u[2] < np.clip(conv_p, 0, 1)
        is_reward = df["offer"].isin(REWARD_TYPES).to_numpy()
        redeemed = converted & opened & is_reward & (u[3] < REDEEM)
        scale = self._amount_scale(df)
        amount = np.where(converted, np.round(scale * np.exp(0.5 * np.sqrt(-2 * np.log(np.maximum(u[4], 1e-12)))
                                                                * np.cos(2 * np.pi * u[0]) - 0.125), 2), 0.0)
        df["delivered"], df["opened"], df["converted"], df["redeemed"], df["amount"] = (
            delivered, opened, converted, redeemed, amount)
        return df

    def _amount_scale(self, df: Any) -> np.ndarray:
        t = self.truth.reindex(df["customer_id"])
        inc = np.nan_to_num(t["income"].to_numpy(), nan=5000.0)
        aum = np.nan_to_num(t["aum_end"].to_numpy(), nan=10000.0)
        sp = np.nan_to_num(t["spend_scale"].to_numpy(), nan=1.0)
        by = {"time_deposit": 0.3 * aum + 1000, "wealth": 0.2 * aum + 1000, "credit_card": 2 * inc,
              "consumer_loan": 4 * inc, "subsidiary_loan": 2 * inc, "insurance": inc + 500, "fund": 0.1 * aum + 500}
        out = 300 * sp
        offer = df["offer"].to_numpy()
        for k, v in by.items():
            out = np.where(offer == k, v, out)
        return np.maximum(out, 1.0)
