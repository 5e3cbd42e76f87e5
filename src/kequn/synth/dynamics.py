"""One month of the customers' hidden life: churn phase, asset drift, product openings, loans and card
repayments. The result (a ``MonthPlan``) is what the flows of the month (transactions, events, payroll)
are drawn from, and what truth/ records."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kequn.synth.calendar import Month
from kequn.synth.catalogue import OPENABLE, PRODUCT_INDEX
from kequn.synth.population import Customers, Enterprises
from kequn.synth.state import (
    CC,
    CONS,
    DEP,
    LOAN_SLOTS,
    SUB,
    TD,
    WM,
    Accounts,
    Phase,
    Seeds,
    _new_holding,
    _new_loan,
    _pick,
    sigmoid,
)

#: activity multiplier by decline depth (0 = normal, 1 = onset month, …); beyond 3 → last value
DECLINE_ACTIVITY = np.array([1.0, 0.4, 0.22, 0.12, 0.08])
DECLINE_ASSETS = 0.4  # share of assets kept per month of decline
OPEN_SLOT = {"time_deposit": TD, "wealth": WM, "credit_card": CC, "consumer_loan": CONS, "subsidiary_loan": SUB}


@dataclass
class MonthPlan:
    month: Month
    alive: np.ndarray  # customer exists at some point in the month
    live_from: np.ndarray  # first day active this month
    live_to: np.ndarray  # last day active this month
    frac: np.ndarray  # share of the month active
    depth: np.ndarray  # decline depth (0 = normal)
    act: np.ndarray  # activity multiplier
    sleeper: np.ndarray
    churned: np.ndarray
    churn_prob: np.ndarray  # truth: P(churn this month | latent state at month start)
    onset_hazard: np.ndarray  # truth: P(decline starts this month | traits)
    salary: np.ndarray  # cents (0 = none)
    salary_day: np.ndarray
    dep_target: np.ndarray  # cents at month end
    start_bal: np.ndarray  # (n, NSLOT) cents at month start
    #: money moved on the deposit account: (kind, slot, cents on the deposit account, day, customer index)
    moves: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    propensity: np.ndarray  # (n, len(OPENABLE)) truth: P(open this month)
    interest: np.ndarray  # (n, len(OPENABLE)) browsing interest this month (drives next month's opening)
    opened: np.ndarray  # (n, len(OPENABLE)) bool
    wo: np.ndarray  # (n, NSLOT) loans written off this month


class CustomerDynamics:
    def __init__(self, cu: Customers, en: Enterprises, acc: Accounts, seeds: Seeds) -> None:
        self.cu, self.en, self.acc, self.seeds = cu, en, acc, seeds
        self.phase = Phase(cu.n)
        rng = seeds("traits-extra")
        self.sleeper = rng.random(cu.n) < 0.04
        self.re = rng.normal(0, 0.5, (cu.n, len(OPENABLE)))  # unobserved taste per product
        self.shock = np.zeros((cu.n, len(OPENABLE)))
        self.written_off = np.zeros_like(acc.has)
        self.last_salary = np.full(cu.n, -1)
        self.first_salary = np.full(cu.n, -1)

    # --------------------------------------------------------------------------- hazards and propensities
    def onset_hazard(self, m: Month) -> np.ndarray:
        cu, acc = self.cu, self.acc
        n_prod = acc.has.sum(axis=1) + acc.h_has.sum(axis=1)
        logit = (-4.45 + cu.frailty + 1.2 * (1 - cu.engagement) - 0.8 * (cu.employer >= 0) - 0.25 * n_prod
                 + 0.4 * cu.new_citizen - 0.6 * (cu.rm >= 0) + 0.35 * (cu.age < 30) - 0.5 * acc.has[:, 4]
                 + 0.4 * m.is_festival_month() - 0.8 * self.sleeper)
        return sigmoid(logit)

    def base_propensity(self, m: Month) -> np.ndarray:
        cu, acc = self.cu, self.acc
        la = np.log(np.maximum(acc.aum, 100.0))
        age, inc, e = cu.age, cu.income, cu.engagement
        fest = 0.5 * m.is_festival_month()
        cols = [
            -5.2 + 0.45 * (la - np.log(20000)) + 0.02 * (age - 40) + fest,
            -5.4 + 0.55 * (la - np.log(30000)) + 1.3 * e + fest,
            -4.9 + 0.4 * np.log(inc / 6000) + 0.8 * (age < 40) + 1.0 * e - 9 * (age < 20) - 9 * (age > 65),
            -5.6 + 0.7 * ((age > 24) & (age < 46)) + 0.4 * cu.new_citizen - 3 * cu.credit_risk,
            -6.0 + 0.6 * (age < 35) + 4 * cu.credit_risk + 0.5 * (inc < 5000) - 9 * (age < 20),
            -5.9 + 0.03 * (age - 30) + 0.35 * (la - np.log(50000)),
            -5.7 + 0.5 * (la - np.log(30000)) + 1.2 * e,
        ]
        return np.stack(cols, axis=1) + self.re

    # --------------------------------------------------------------------------- the month
    def step(self, m: Month) -> MonthPlan:
        cu, acc = self.cu, self.acc
        rng = self.seeds("customer-month", m.index)
        if m.index == 0:
            self._warm_start(rng, m)
        first, last = m.first_day, m.last_day
        before = (cu.onboard < first) & ((self.phase.churn_month < 0) | (self.phase.churn_month >= m.index))
        h = self.onset_hazard(m)
        eligible = before & ~self.phase.declining(m.index - 1) & (self.phase.onset == -99)
        churn_prob, churned = self.phase.step(rng, m.index, h, eligible, first, m.n_days)
        alive = (cu.onboard <= last) & ((self.phase.churn_month < 0) | (self.phase.churn_month >= m.index))
        live_from = np.maximum(first, cu.onboard)
        live_to = np.where(churned, self.phase.churn_day, last)
        frac = np.where(alive, (live_to - live_from + 1) / m.n_days, 0.0)
        depth = np.where(alive, self.phase.decline_depth(m.index), 0)
        act = np.where(self.sleeper, 0.0, DECLINE_ACTIVITY[np.minimum(depth, 4)]) * frac
        start_bal = acc.bal.copy()
        self._drift_assets(rng, m, alive, depth, churned)
        prop, interest, opened = self._openings(rng, m, alive & ~self.sleeper & (depth == 0), live_from, live_to)
        salary, sday = self._salary(rng, m, alive, depth, live_from, live_to)
        moves: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        wo = self._loans(rng, m, alive, churned, live_to, moves)
        self._card_repayment(rng, m, alive, churned, live_to, moves)
        dep_target = self._allocate(rng, m, alive, churned, live_to, moves)
        acc.close_day[churned, DEP] = live_to[churned]  # the relationship ends: the current account closes too
        return MonthPlan(m, alive, live_from, live_to, frac, depth, act, self.sleeper & (depth == 0), churned, churn_prob,
                         np.where(eligible, h, 0.0), salary, sday, dep_target, start_bal, moves, prop, interest,
                         opened, wo)

    def _warm_start(self, rng: np.random.Generator, m: Month) -> None:
        """Customers already declining when the window opens (onset one or two months earlier)."""
        h = self.onset_hazard(m)
        pre = (self.cu.onboard < m.first_day - 62) & ~self.sleeper
        for back in (2, 1):
            start = pre & (self.phase.onset == -99) & (rng.random(self.cu.n) < h)
            lag = 1 + rng.choice(3, self.cu.n, p=[0.3, 0.4, 0.3])
            ok = start & (lag >= back)
            self.phase.onset[ok] = -back
            self.phase.lag[ok] = lag[ok]

    def _drift_assets(self, rng: np.random.Generator, m: Month, alive: np.ndarray, depth: np.ndarray,
                      churned: np.ndarray) -> None:
        cu, acc = self.cu, self.acc
        g = np.clip(0.05 * np.log(cu.potential / np.maximum(acc.aum, 1.0)), -0.02, 0.06)
        grow = acc.aum * np.exp(g + rng.normal(0, 0.06, cu.n))
        if m.is_festival_month():  # year-end bonus (年终奖) lands before 春节
            grow += np.where(cu.employer >= 0, cu.income * rng.uniform(0.3, 1.5, cu.n), 0.0)
        new = np.where(self.sleeper, acc.aum, grow)
        new = np.where(depth > 0, acc.aum * DECLINE_ASSETS, new)
        new = np.where(churned, 0.0, new)
        acc.aum = np.where(alive, new, acc.aum)

    def _openings(self, rng: np.random.Generator, m: Month, ok: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cu, acc = self.cu, self.acc
        base = self.base_propensity(m)
        held = np.stack([acc.has[:, TD], acc.has[:, WM], acc.has[:, CC], acc.has[:, CONS], acc.has[:, SUB],
                         acc.h_has[:, 0], acc.h_has[:, 1]], axis=1)
        can = ok[:, None] & ~held & (cu.onboard < m.first_day)[:, None]
        prop = np.where(can, sigmoid(base + 2.2 * self.shock), 0.0)
        opened = rng.random(prop.shape) < prop
        self.shock = np.zeros_like(self.shock)
        hit = rng.random(cu.n) < 0.05
        self.shock[np.flatnonzero(hit), rng.integers(0, len(OPENABLE), hit.sum())] = 1.0
        interest = sigmoid(base + 2.2 * self.shock) * ok[:, None]
        day = lo + (rng.random(cu.n) * (hi - lo + 1)).astype(np.int64)
        for j, name in enumerate(OPENABLE):
            idx = np.flatnonzero(opened[:, j])
            if not len(idx):
                continue
            if name in ("insurance", "fund"):
                _new_holding(rng, acc, idx, 0 if name == "insurance" else 1, day[idx], cu.income[idx], acc.aum[idx])
                continue
            s = OPEN_SLOT[name]
            if s in (CONS, SUB):
                acc.product[idx, s] = _pick(rng, s, len(idx), [0.85, 0.15] if s == CONS else [0.6, 0.4])
                _new_loan(rng, acc, idx, s, cu.income[idx], day[idx])
                continue
            acc.has[idx, s] = True
            acc.open_day[idx, s] = day[idx]
            if s == CC:
                acc.product[idx, s] = np.where(cu.income[idx] > 15000, PRODUCT_INDEX["P-CC-02"], PRODUCT_INDEX["P-CC-01"])
                acc.limit[idx, s] = (np.round(cu.income[idx] * rng.uniform(1.5, 5, len(idx)), -3) * 100).astype(np.int64) + 100_000
            else:
                acc.product[idx, s] = _pick(rng, s, len(idx))
                acc.share[idx, 1 if s == TD else 2] = rng.uniform(0.5, 2.5, len(idx))
        acc.opened_flags = opened
        return prop, interest, opened

    def _salary(self, rng: np.random.Generator, m: Month, alive: np.ndarray, depth: np.ndarray,
                lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cu, en = self.cu, self.en
        pd = np.minimum(en.payday, m.n_days)
        pay = m.first_day + pd - 1
        wd = (pay + 3) % 7
        pay = pay - np.where(wd == 5, 1, 0) - np.where(wd == 6, 2, 0)  # weekend → the Friday before
        emp = np.maximum(cu.employer, 0)
        day = pay[emp]
        paid = alive & (cu.employer >= 0) & (depth == 0) & (day >= lo) & (day <= hi) & ~self.sleeper
        amt = cu.income * np.exp(rng.normal(0, 0.04, cu.n))
        if m.is_festival_month():
            amt = amt * np.where(rng.random(cu.n) < 0.6, rng.uniform(1.5, 3.0, cu.n), 1.0)
        cents = np.where(paid, (np.round(amt, 2) * 100).astype(np.int64), 0)
        self.last_salary = np.where(paid, day, self.last_salary)
        self.first_salary = np.where(paid & (self.first_salary < 0), day, self.first_salary)
        return cents, np.where(paid, day, -1)

    def _loans(self, rng: np.random.Generator, m: Month, alive: np.ndarray, churned: np.ndarray,
               live_to: np.ndarray, moves: list) -> np.ndarray:
        acc = self.acc
        wo = np.zeros_like(acc.has)
        for s in LOAN_SLOTS:
            run = alive & acc.has[:, s] & (acc.close_day[:, s] < 0)
            new = run & (acc.open_day[:, s] >= m.first_day)
            if new.any():
                moves.append(("loan_disbursement", np.full(new.sum(), s), acc.principal[new, s], acc.open_day[new, s], np.flatnonzero(new)))
            due = run & ~new
            r = acc.rate[:, s] / 1200.0
            interest = np.round(acc.bal[:, s] * r).astype(np.int64)
            miss = due & (rng.random(len(r)) < np.minimum(0.6, 2.5 * self.cu.credit_risk ** 2 + 0.5 * (acc.dpd[:, s] > 0)))
            miss &= ~churned
            acc.dpd[:, s] = np.where(miss, acc.dpd[:, s] + m.n_days, np.where(due, 0, acc.dpd[:, s]))
            pay = due & ~miss
            final = pay & ((acc.bal[:, s] + interest <= acc.instalment[:, s]) | churned)
            amount = np.where(final, acc.bal[:, s] + interest, np.minimum(acc.instalment[:, s], acc.bal[:, s] + interest))
            dom = (acc.open_day[:, s] - m.first_day) % 28
            day = np.where(churned, live_to, np.minimum(m.first_day + dom, live_to))
            idx = np.flatnonzero(pay)
            moves.append(("loan_repayment", np.full(len(idx), s), -amount[idx], day[idx], idx))
            acc.bal[:, s] = np.where(pay, np.maximum(0, acc.bal[:, s] + interest - amount), acc.bal[:, s])
            acc.close_day[final, s] = day[final]
            w = due & (acc.dpd[:, s] >= 180)
            wo[:, s] = w
            acc.close_day[w, s] = m.last_day
            self.written_off[:, s] |= w
        return wo

    def _card_repayment(self, rng: np.random.Generator, m: Month, alive: np.ndarray, churned: np.ndarray,
                        live_to: np.ndarray, moves: list) -> None:
        acc = self.acc
        run = alive & acc.has[:, CC] & (acc.close_day[:, CC] < 0) & (acc.bal[:, CC] > 0)
        miss = run & ~churned & (rng.random(len(run)) < np.minimum(0.7, 3 * self.cu.credit_risk ** 2 + 0.6 * (acc.dpd[:, CC] > 0)))
        pay = run & ~miss
        acc.dpd[:, CC] = np.where(miss, acc.dpd[:, CC] + m.n_days, np.where(pay, 0, acc.dpd[:, CC]))
        day = np.where(churned, live_to, np.minimum(m.first_day + 19, live_to))
        idx = np.flatnonzero(pay)
        moves.append(("card_repayment", np.full(len(idx), CC), -acc.bal[idx, CC], day[idx], idx))
        acc.bal[idx, CC] = 0
        close = alive & churned & acc.has[:, CC] & (acc.close_day[:, CC] < 0)
        acc.close_day[close, CC] = live_to[close]

    def _allocate(self, rng: np.random.Generator, m: Month, alive: np.ndarray, churned: np.ndarray,
                  live_to: np.ndarray, moves: list) -> np.ndarray:
        """Split the month's assets over deposit / time deposit / wealth; record the moves between them."""
        acc = self.acc
        w = acc.share * np.stack([np.ones(len(alive)), acc.has[:, TD] & (acc.close_day[:, TD] < 0),
                                  acc.has[:, WM] & (acc.close_day[:, WM] < 0)], axis=1)
        w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-9)
        target = (np.round(acc.aum[:, None] * w, 2) * 100).astype(np.int64)
        dormant = self.sleeper & (self.phase.decline_depth(m.index) == 0)  # sleepers move money only to leave
        for s, col, up, down in ((TD, 1, "time_deposit_open", "time_deposit_maturity"),
                                 (WM, 2, "wealth_purchase", "wealth_redemption")):
            held = alive & acc.has[:, s] & (acc.close_day[:, s] < 0)
            cur = acc.bal[:, s]
            rel = np.abs(target[:, col] - cur) / np.maximum(cur, 1)
            fresh = acc.open_day[:, s] >= m.first_day
            thresh = 0.3 if s == TD else 0.05
            move = held & ((rel > thresh) | fresh | churned | (self.phase.decline_depth(m.index) > 0))
            move &= ~dormant | fresh
            delta = np.where(move, target[:, col] - cur, 0)
            day = np.where(fresh, acc.open_day[:, s], m.first_day + rng.integers(0, m.n_days, len(cur)))
            day = np.clip(day, np.maximum(m.first_day, self.cu.onboard), live_to)
            idx = np.flatnonzero(delta > 0)
            moves.append((up, np.full(len(idx), s), -delta[idx], day[idx], idx))
            idx = np.flatnonzero(delta < 0)
            moves.append((down, np.full(len(idx), s), -delta[idx], day[idx], idx))
            acc.bal[:, s] = cur + delta
            acc.close_day[churned & held, s] = live_to[churned & held]
        dep = np.where(dormant, acc.bal[:, DEP], target[:, 0])
        dep = np.where(churned, 0, dep)
        return np.where(alive, dep, acc.bal[:, DEP])
