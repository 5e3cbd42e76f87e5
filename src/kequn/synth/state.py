"""Mutable state of the simulated bank between months: customers' account slots, balances, loans,
holdings and churn phase, plus merchants' churn phase. Initial holdings are drawn from the traits."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from kequn.synth.catalogue import OPENABLE, PRODUCT_INDEX, SLOT_PRODUCTS, SLOTS
from kequn.synth.population import Customers, Merchants

NSLOT = len(SLOTS)
DEP, TD, WM, CC, MORT, CONS, SUB = range(NSLOT)
LOAN_SLOTS = (MORT, CONS, SUB)
#: distribution of the number of months of visible decline before churn
LAG_P = np.array([0.3, 0.4, 0.3])
#: P(churn this month | declining for k months so far) = P(L = k | L >= k)
LAG_HAZARD = LAG_P / np.cumsum(LAG_P[::-1])[::-1]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class Seeds:
    """Independent, reproducible generators per (purpose, month, chunk). ``stream`` (e.g. ``(shards, shard)``
    of a sharded bank) gives every stream its own spawn key; the default ``()`` is the unsharded bank."""

    def __init__(self, seed: int, stream: tuple[int, ...] = ()) -> None:
        self.seed = int(seed)
        self.stream = tuple(int(k) for k in stream)

    def __call__(self, tag: str, *keys: int) -> np.random.Generator:
        return self.raw(zlib.crc32(tag.encode()), *keys)

    def raw(self, *keys: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, *map(int, keys)], spawn_key=self.stream))


@dataclass
class Phase:
    """Churn phase of n entities: onset month (-99 = none), decline length, churn month and day."""

    n: int
    onset: np.ndarray = field(init=False)
    lag: np.ndarray = field(init=False)
    churn_month: np.ndarray = field(init=False)
    churn_day: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.onset = np.full(self.n, -99)
        self.lag = np.zeros(self.n, dtype=np.int64)
        self.churn_month = np.full(self.n, -1)
        self.churn_day = np.full(self.n, -1)

    def declining(self, t: int) -> np.ndarray:
        return (self.onset > -99) & (self.churn_month < 0) & (self.onset <= t)

    def step(self, rng: np.random.Generator, t: int, hazard: np.ndarray, eligible: np.ndarray,
             first_day: int, n_days: int) -> tuple[np.ndarray, np.ndarray]:
        """Advance month ``t``: returns (true churn probability this month, churned this month)."""
        k = t - self.onset  # months of decline so far (onset month counts as 0)
        dec = (self.onset > -99) & (self.churn_month < 0) & (k >= 1)
        p_churn = np.where(dec, LAG_HAZARD[np.clip(k - 1, 0, 2)], 0.0)
        churn = dec & (k == self.lag)
        self.churn_month[churn] = t
        self.churn_day[churn] = first_day + rng.integers(0, n_days, churn.sum())
        start = eligible & (self.onset == -99) & (rng.random(self.n) < hazard)
        self.onset[start] = t
        self.lag[start] = 1 + rng.choice(3, start.sum(), p=LAG_P)
        return p_churn, churn

    def decline_depth(self, t: int) -> np.ndarray:
        """0 = normal; 1, 2, 3… = month of decline (the onset month is 1); churn month included."""
        return np.where((self.onset > -99) & (self.onset <= t) & ((self.churn_month < 0) | (self.churn_month >= t)),
                        t - self.onset + 1, 0)


@dataclass
class Accounts:
    """Customer account slots: at most one account per slot (see catalogue.SLOTS)."""

    has: np.ndarray  # (n, NSLOT) bool
    product: np.ndarray  # (n, NSLOT) product index
    open_day: np.ndarray
    close_day: np.ndarray  # -1 = open
    bal: np.ndarray  # (n, NSLOT) int64 cents; loans and cards: amount owed
    principal: np.ndarray  # (n, NSLOT) cents (loan slots)
    rate: np.ndarray
    term: np.ndarray
    instalment: np.ndarray  # cents per month
    dpd: np.ndarray  # days past due (loans, card)
    limit: np.ndarray  # card credit limit, cents
    h_has: np.ndarray  # (n, 2) holdings: insurance, fund
    h_product: np.ndarray
    h_start: np.ndarray
    h_end: np.ndarray
    h_amount: np.ndarray  # cents
    share: np.ndarray  # (n, 3) allocation weights deposit / time deposit / wealth
    aum: np.ndarray  # yuan, target assets of the month
    opened_flags: np.ndarray = field(default_factory=lambda: np.zeros((0, len(OPENABLE)), bool))


def _pick(rng: np.random.Generator, slot: int, n: int, p: list[float] | None = None) -> np.ndarray:
    ids = [PRODUCT_INDEX[x] for x in SLOT_PRODUCTS[slot]]
    return rng.choice(np.array(ids), n, p=p)


def _after_launch(day: np.ndarray, product: np.ndarray, window_start: int | None) -> np.ndarray:
    """Opening days moved to no earlier than the product's launch (and, before the window, to before it)."""
    import datetime as dt

    from kequn.synth.calendar import day_number
    from kequn.synth.catalogue import PRODUCTS

    launched = np.array([day_number(dt.date.fromisoformat(p[5])) for p in PRODUCTS])[product]
    out = np.maximum(day, launched)
    return out if window_start is None else np.minimum(out, window_start - 1)


def annuity(principal: np.ndarray, rate_pct: np.ndarray, term: np.ndarray) -> np.ndarray:
    r = rate_pct / 1200.0
    return np.round(principal * r / (1 - (1 + r) ** (-term.astype(float)))).astype(np.int64)


def initial_accounts(rng: np.random.Generator, cu: Customers, window_start: int) -> Accounts:
    n = cu.n
    z = lambda dt=np.int64: np.zeros((n, NSLOT), dtype=dt)  # noqa: E731
    a = Accounts(z(bool), z(), z(), np.full((n, NSLOT), -1), z(), z(), z(float), z(), z(), z(), z(),
                 np.zeros((n, 2), bool), np.zeros((n, 2), np.int64), np.zeros((n, 2), np.int64),
                 np.full((n, 2), -1), np.zeros((n, 2), np.int64), np.zeros((n, 3)), cu.aum0.copy())
    pre = cu.onboard < window_start
    a.has[:, DEP] = True
    a.product[:, DEP] = PRODUCT_INDEX["P-DEP-01"]
    a.open_day[:, DEP] = cu.onboard
    la, age, inc = np.log(cu.aum0), cu.age, cu.income
    probs = {
        TD: sigmoid(-1.6 + 0.45 * (la - np.log(20000)) + 0.03 * (age - 40)),
        WM: sigmoid(-2.3 + 0.6 * (la - np.log(30000)) + 1.0 * cu.engagement),
        CC: sigmoid(-1.3 + 0.4 * np.log(inc / 6000) + 0.9 * (age < 45) + 0.6 * cu.engagement) * ((age >= 20) & (age <= 65)),
        MORT: 0.16 * ((age >= 27) & (age <= 58) & (inc > 4500)),
        CONS: sigmoid(-3.0 + 0.6 * ((age > 24) & (age < 46)) - 4 * cu.credit_risk),
        SUB: sigmoid(-3.3 + 0.5 * (age < 35) + 5 * cu.credit_risk) * (age >= 20),
    }
    for s, p in probs.items():
        got = pre & (rng.random(n) < p)
        k = got.sum()
        a.has[got, s] = True
        a.open_day[got, s] = cu.onboard[got] + (rng.random(k) * (window_start - cu.onboard[got])).astype(np.int64)
        if s == CC:
            a.product[got, s] = np.where(inc[got] > 15000, PRODUCT_INDEX["P-CC-02"], PRODUCT_INDEX["P-CC-01"])
            a.open_day[got, s] = _after_launch(a.open_day[got, s], a.product[got, s], window_start)
            a.limit[got, s] = (np.round(inc[got] * rng.uniform(1.5, 5, k), -3) * 100).astype(np.int64) + 100_000
        elif s in LOAN_SLOTS:
            a.product[got, s] = _pick(rng, s, k, None if s == MORT else [0.85, 0.15] if s == CONS else [0.6, 0.4])
            a.open_day[got, s] = _after_launch(a.open_day[got, s], a.product[got, s], window_start)
            _new_loan(rng, a, np.flatnonzero(got), s, inc[got], a.open_day[got, s], as_of=window_start)
        else:
            a.product[got, s] = _pick(rng, s, k)
            a.open_day[got, s] = _after_launch(a.open_day[got, s], a.product[got, s], window_start)
    a.share[:, 0] = rng.uniform(0.5, 1.5, n)
    a.share[:, 1] = np.where(a.has[:, TD], rng.uniform(0.5, 2.5, n), 0)
    a.share[:, 2] = np.where(a.has[:, WM], rng.uniform(0.5, 3.0, n), 0)
    a.aum = np.where(pre, cu.aum0, cu.aum0 * 0.15)
    w = a.share / a.share.sum(axis=1, keepdims=True)  # balances at the window start follow the allocation
    for s, col in ((DEP, 0), (TD, 1), (WM, 2)):
        a.bal[:, s] = np.where(pre, np.round(a.aum * w[:, col], 2) * 100, 0).astype(np.int64)
    for j, p in enumerate([sigmoid(-2.2 + 0.04 * (age - 35) + 0.3 * (la - np.log(50000))),
                           sigmoid(-2.8 + 0.5 * (la - np.log(40000)) + 0.8 * cu.engagement)]):
        got = pre & (rng.random(n) < p)
        _new_holding(rng, a, np.flatnonzero(got), j,
                     cu.onboard[got] + (rng.random(got.sum()) * (window_start - cu.onboard[got])).astype(np.int64),
                     inc[got], a.aum[got])
    a.opened_flags = np.zeros((n, len(OPENABLE)), bool)
    return a


def _new_loan(rng: np.random.Generator, a: Accounts, idx: np.ndarray, s: int, income: np.ndarray,
              start: np.ndarray, as_of: int | None = None) -> None:
    """Open loans in slot ``s``; with ``as_of`` (pre-window loans) the start is moved so the loan is still
    running then, and the balance is the outstanding principal after the instalments paid until ``as_of``."""
    k = len(idx)
    if s == MORT:
        principal, rate, term = income * rng.uniform(60, 160, k), rng.uniform(3.0, 4.3, k), rng.choice([240, 300, 360], k)
    elif s == CONS:
        principal, rate, term = income * rng.uniform(1.5, 8, k), rng.uniform(3.4, 9.6, k), rng.choice([12, 24, 36], k)
    else:
        principal, rate, term = income * rng.uniform(0.5, 4, k), rng.uniform(9.0, 23.9, k), rng.choice([6, 12, 24], k)
    cents = (np.round(principal, -2) * 100).astype(np.int64) + 100_000
    a.principal[idx, s] = cents
    a.rate[idx, s] = np.round(rate, 2)
    a.term[idx, s] = term
    a.instalment[idx, s] = annuity(cents.astype(float), a.rate[idx, s], term)
    a.has[idx, s] = True
    if as_of is None:
        a.open_day[idx, s] = start
        a.bal[idx, s] = cents
        return
    start = np.maximum(start, as_of - (rng.random(k) * (term - 1) * 30.4).astype(np.int64))
    a.open_day[idx, s] = start
    r = a.rate[idx, s] / 1200.0
    paid = np.minimum((as_of - start) // 30, term - 1)
    g = (1 + r) ** paid
    a.bal[idx, s] = np.maximum(0, np.round(cents * g - a.instalment[idx, s] * (g - 1) / r)).astype(np.int64)


def _new_holding(rng: np.random.Generator, a: Accounts, idx: np.ndarray, j: int, start: np.ndarray,
                 income: np.ndarray, aum: np.ndarray) -> None:
    from kequn.synth.catalogue import HOLDING_PRODUCTS

    k = len(idx)
    ids = np.array([PRODUCT_INDEX[x] for x in HOLDING_PRODUCTS[j]])
    a.h_has[idx, j] = True
    a.h_product[idx, j] = rng.choice(ids, k)
    a.h_start[idx, j] = _after_launch(start, a.h_product[idx, j], None)
    amt = income * rng.uniform(0.5, 2.5, k) if j == 0 else aum * rng.uniform(0.05, 0.3, k) + 1000
    a.h_amount[idx, j] = (np.round(amt, 0) * 100).astype(np.int64)


@dataclass
class MerchantState:
    phase: Phase
    active_days: np.ndarray  # business days so far (for ramp-up)


def merchant_state(me: Merchants, window_start: int) -> MerchantState:
    return MerchantState(Phase(me.n), np.maximum(0, window_start - me.onboard).astype(np.int64))
