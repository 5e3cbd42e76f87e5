"""Touchpoint events of a month for a chunk of customers: app sessions (login + pages), WeChat Work
contacts with the relationship manager, web banking, branch visits and call-centre calls.

Planted signals: sessions fall as a customer declines towards churn; pages of a product's module are
browsed in proportion to the customer's interest in it, which raises next month's propensity to open it.
"""

from __future__ import annotations

import numpy as np

from kequn.domain.datamodel import EVENT_CHANNELS
from kequn.synth.catalogue import INTEREST_MODULE, OPENABLE, Touchpoint
from kequn.synth.draw import HOURS_APP, HOURS_EVENING, HOURS_OFFICE, DayPicker, poisson, seconds
from kequn.synth.dynamics import MonthPlan
from kequn.synth.population import Customers

ECH = {c: i for i, c in enumerate(EVENT_CHANNELS)}


class EventCatalogue:
    """Index of the touchpoint catalogue by channel, module and action."""

    def __init__(self, tps: list[Touchpoint]) -> None:
        self.tps = tps
        name_idx = {t.name: i for i, t in enumerate(tps)}
        self.login = name_idx["首页-登录"]
        self.app_pages = np.array([i for i, t in enumerate(tps) if t.channel == "app" and not t.name.endswith("登录")])
        self.interest = np.array([[name_idx[f"{INTEREST_MODULE[c]}-{a}"] for a in ("浏览", "详情页", "搜索", "申请")]
                                  for c in OPENABLE])
        self.by_channel = {ch: np.array([i for i, t in enumerate(tps) if t.channel == ch]) for ch in EVENT_CHANNELS}
        self.web_login = name_idx["网上银行-登录"]
        self.branch_close = (name_idx["网点-销户取号"], name_idx["网点-销户办理"])
        self.branch_pairs = np.array([[name_idx[t.name], name_idx[t.name[:-2] + "办理"]]
                                      for t in tps if t.channel == "branch" and t.name.endswith("取号")
                                      and "销户" not in t.name])


def month_events(rng: np.random.Generator, plan: MonthPlan, cu: Customers, cat: EventCatalogue, lo: int,
                 hi: int, session_base: int) -> tuple[dict[str, np.ndarray], int]:
    """Event columns (cust, day, sec, tp, ch, session; session -1 = none) and the sessions used."""
    m = plan.month
    sl = slice(lo, hi)
    idx = np.arange(lo, hi)
    alive = plan.alive[sl]
    a_lo = np.clip(plan.live_from[sl] - m.first_day, 0, m.n_days - 1)
    a_hi = np.clip(plan.live_to[sl] - m.first_day, 0, m.n_days - 1)
    wd = m.weekday()
    prof = np.stack([np.where(wd >= 5, 0.9, 1.0) * np.where(np.isin(np.arange(1, m.n_days + 1), [10, 15, 20, 25]), 1.3, 1.0),
                     np.where(wd >= 5, 0.1, 1.0)])
    days = DayPicker(prof)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("cust", "day", "sec", "tp", "ch", "session")}

    def add(c, d, s, tp, ch, sess):  # noqa: ANN001, ANN202
        for k, v in zip(cols, (c, d, s, tp, ch, sess), strict=True):
            cols[k].append(np.broadcast_to(np.asarray(v, dtype=np.int64), (len(c),)).copy())

    # app sessions: a login then a few pages
    act = plan.act[sl]
    n = poisson(rng, cu.login_rate[sl] * act * rng.gamma(4.0, 0.25, len(idx))) * alive
    rows = np.repeat(np.arange(len(idx)), n)
    k = len(rows)
    sess = session_base + np.arange(k)
    c = idx[rows]
    day = days(rng, np.zeros(k, np.int64), a_lo[rows], a_hi[rows])
    paid = plan.salary_day[c] >= 0
    near_pay = paid & (rng.random(k) < 0.2)
    day = np.where(near_pay, np.clip(plan.salary_day[c] - m.first_day, a_lo[rows], a_hi[rows]), day)
    sec = np.minimum(seconds(rng, k, HOURS_APP, cu.night_owl[c]), 86_000)
    add(c, day, sec, cat.login, ECH["app"], sess)
    pages = rng.poisson(1.0, k)
    prow = np.repeat(np.arange(k), pages)
    kp = len(prow)
    pc = c[prow]
    w = plan.interest[pc]
    tot = w.sum(axis=1)
    want = rng.random(kp) < np.clip(tot * 8, 0.05, 0.6)
    cdf = np.cumsum(w, axis=1) / np.maximum(tot, 1e-12)[:, None]
    which = (rng.random(kp)[:, None] > cdf).sum(axis=1).clip(0, len(OPENABLE) - 1)
    action = rng.choice(4, kp, p=[0.45, 0.35, 0.15, 0.05])
    tp = np.where(want, cat.interest[which, action], rng.choice(cat.app_pages, kp))
    add(pc, day[prow], np.minimum(sec[prow] + rng.integers(5, 400, kp), 86_399), tp, ECH["app"], sess[prow])
    used = k
    # WeChat Work: customers with a relationship manager
    has_rm = cu.rm[sl] >= 0
    for ch, rate, hours, pool in (("wechat_work", 1.2 * has_rm, HOURS_EVENING, cat.by_channel["wechat_work"]),
                                  ("call_centre", np.full(len(idx), 0.06), HOURS_OFFICE, cat.by_channel["call_centre"])):
        n = poisson(rng, rate * np.maximum(act, 0.05 * alive)) * alive
        rows = np.repeat(np.arange(len(idx)), n)
        kk = len(rows)
        add(idx[rows], days(rng, np.zeros(kk, np.int64), a_lo[rows], a_hi[rows]), seconds(rng, kk, hours),
            rng.choice(pool, kk), ECH[ch], -1)
    # web banking: a session of two events
    n = poisson(rng, 0.25 * cu.engagement[sl] * act * (cu.age[sl] > 30)) * alive
    rows = np.repeat(np.arange(len(idx)), n)
    kk = len(rows)
    d, s = days(rng, np.ones(kk, np.int64), a_lo[rows], a_hi[rows]), seconds(rng, kk, HOURS_OFFICE)
    sess = session_base + used + np.arange(kk)
    used += kk
    add(idx[rows], d, s, cat.web_login, ECH["web"], sess)
    add(idx[rows], d, s + 60, rng.choice(cat.by_channel["web"], kk), ECH["web"], sess)
    # branch visits (ticket, then service), including closing the accounts on the churn day
    n = poisson(rng, (0.08 + 0.3 * (cu.age[sl] > 55)) * np.maximum(act, 0.3 * alive)) * alive
    rows = np.repeat(np.arange(len(idx)), n)
    kk = len(rows)
    pair = cat.branch_pairs[rng.integers(0, len(cat.branch_pairs), kk)]
    closing = plan.churned[sl] & (rng.random(len(idx)) < 0.5)
    cr = np.flatnonzero(closing)
    d = np.concatenate([days(rng, np.ones(kk, np.int64), a_lo[rows], a_hi[rows]), a_hi[cr]])
    s = np.concatenate([seconds(rng, kk, HOURS_OFFICE), seconds(rng, len(cr), HOURS_OFFICE)])
    tp0 = np.concatenate([pair[:, 0], np.full(len(cr), cat.branch_close[0])])
    tp1 = np.concatenate([pair[:, 1], np.full(len(cr), cat.branch_close[1])])
    who = idx[np.concatenate([rows, cr])]
    sess = session_base + used + np.arange(len(who))
    used += len(who)
    add(who, d, np.minimum(s, 86_000), tp0, ECH["branch"], sess)
    add(who, d, np.minimum(s + 300 + rng.integers(0, 900, len(who)), 86_399), tp1, ECH["branch"], sess)
    return {k: (np.concatenate(v) if v else np.zeros(0, np.int64)) for k, v in cols.items()}, used
