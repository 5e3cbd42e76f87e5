"""Acquiring merchants month by month: daily turnover with weekly, monthly and Spring Festival seasonality,
refunds, ramp-up after onboarding, and churn preceded by a visible decline (planted, recorded in truth/)."""

from __future__ import annotations

import numpy as np

from kequn.synth import vocab as V
from kequn.synth.calendar import Month
from kequn.synth.population import Merchants
from kequn.synth.state import MerchantState, sigmoid

#: turnover multiplier by decline depth (0 = normal, 1 = onset month, …)
DECLINE_TURNOVER = np.array([1.0, 0.55, 0.3, 0.15, 0.1])
#: month-of-year seasonality per MCC (education peaks before term, hotels in holidays)
SEASON = np.ones((len(V.MCCS), 12))
SEASON[13, [6, 7, 8]] = 1.6  # education: Jul–Sep
SEASON[11, [6, 7, 9]] = 1.4  # hotels: Jul, Aug, Oct (国庆)
SEASON[12, [10, 11]] = 1.3  # clothing: Nov (双十一), Dec
SEASON[5, [0, 1, 9]] = 1.3  # department stores: 春节 months, 国庆


def merchant_month(rng: np.random.Generator, me: Merchants, st: MerchantState, m: Month) -> tuple[dict, dict]:
    """(acquiring_daily columns, truth columns) for month ``m``."""
    ph = st.phase
    before = (me.onboard < m.first_day) & ((ph.churn_month < 0) | (ph.churn_month >= m.index))
    h = sigmoid(-3.7 + me.frailty + 0.5 * (me.mcc == 13) * (m.month in (1, 2, 12)) + 0.6 * (st.active_days < 120))
    eligible = before & (ph.onset == -99)
    if m.index == 0:
        for back in (2, 1):
            start = eligible & (ph.onset == -99) & (rng.random(me.n) < h)
            lag = 1 + rng.choice(3, me.n, p=[0.3, 0.4, 0.3])
            ok = start & (lag >= back) & (me.onboard < m.first_day - 62)
            ph.onset[ok], ph.lag[ok] = -back, lag[ok]
        eligible = before & (ph.onset == -99)
    p_churn, churned = ph.step(rng, m.index, h, eligible, m.first_day, m.n_days)
    alive = (me.onboard <= m.last_day) & ((ph.churn_month < 0) | (ph.churn_month >= m.index))
    depth = np.where(alive, ph.decline_depth(m.index), 0)
    lo = np.maximum(me.onboard, m.first_day) - m.first_day
    hi = np.where(churned, ph.churn_day, m.last_day) - m.first_day
    wd = m.weekday()
    fest = m.festival_factor()
    idx = np.flatnonzero(alive)
    d = np.arange(m.n_days)
    grid_ok = (d[None, :] >= lo[idx, None]) & (d[None, :] <= hi[idx, None])
    mcc = me.mcc[idx]
    weekly = np.where(wd[None, :] >= 5, V.MCC_WEEKEND[mcc][:, None], 1.0)
    small = (me.owner[idx] >= 0)[:, None]
    festive = np.where(small & (fest[None, :] < 1), 0.35, fest[None, :])  # small shops close over 春节
    age = st.active_days[idx, None] + d[None, :] - lo[idx, None]
    ramp = np.clip(0.3 + age / 90.0, 0.3, 1.0)
    lam = (me.base_count[idx, None] * weekly * festive * SEASON[mcc, m.month - 1][:, None] * ramp
           * DECLINE_TURNOVER[np.minimum(depth[idx], 4)][:, None] * rng.gamma(6.0, 1 / 6.0, grid_ok.shape))
    cnt = rng.poisson(lam) * grid_ok
    amt = cnt * me.ticket[idx, None] * rng.lognormal(-0.02, 0.2, cnt.shape)
    ref = rng.binomial(cnt, np.broadcast_to(me.refund_rate[idx, None], cnt.shape))
    ref_amt = ref * me.ticket[idx, None] * rng.uniform(0.5, 1.2, cnt.shape)
    st.active_days[idx] += np.maximum(0, hi[idx] - lo[idx] + 1)
    keep = cnt > 0
    r, c = np.nonzero(keep)
    acq = {"merchant": idx[r], "day": m.first_day + c, "count": cnt[keep], "cents": np.round(amt[keep] * 100).astype(np.int64),
           "refund_count": ref[keep], "refund_cents": np.round(ref_amt[keep] * 100).astype(np.int64)}
    acq["refund_cents"] = np.minimum(acq["refund_cents"], acq["cents"])
    expected = np.zeros(me.n)
    expected[idx] = (lam * grid_ok * me.ticket[idx, None]).sum(axis=1)
    truth = {"alive": alive, "churn_hazard": p_churn, "onset_hazard": np.where(eligible, h, 0.0),
             "churned": churned, "decline_depth": depth, "expected_turnover": expected}
    return acq, truth
