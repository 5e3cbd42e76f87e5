"""Corporate settlement accounts of the enterprises: each month sales receipts come in, the payroll batch
(代发) and supplier payments go out; month-end balance and 月日均 reconcile with the transactions."""

from __future__ import annotations

import numpy as np

from kequn.domain.datamodel import CHANNELS_TXN, TXN_TYPES
from kequn.synth.calendar import US_PER_DAY, Month
from kequn.synth.dynamics import MonthPlan
from kequn.synth.population import Customers, Enterprises
from kequn.synth.tables import corp_acct_ids
from kequn.synth.writer import dates, decimal_from_cents, ids, timestamps

CP_RECEIPT, CP_PAYROLL, CP_SUPPLIER = "货款回笼", "代发工资", "供应商货款"


class CorporateBook:
    def __init__(self, rng: np.random.Generator, en: Enterprises) -> None:
        self.en = en
        self.scale = (en.headcount + 2) * np.exp(rng.normal(np.log(9000), 0.8, en.n))  # monthly business, yuan
        self.bal = np.round(self.scale * rng.uniform(1.0, 4.0, en.n) * 100).astype(np.int64)

    def month(self, rng: np.random.Generator, m: Month, plan: MonthPlan, cu: Customers,
              start_id: int) -> tuple[dict, dict]:
        """(transaction columns, balance_monthly columns) of the enterprises' accounts for month ``m``."""
        en = self.en
        c = np.flatnonzero(plan.salary > 0)
        payroll = np.bincount(cu.employer[c], weights=plan.salary[c], minlength=en.n).astype(np.int64)
        payday = np.full(en.n, m.first_day + min(27, m.n_days - 1))
        payday[cu.employer[c]] = plan.salary_day[c]
        active = en.onboard <= m.last_day
        n_rec = rng.poisson(4, en.n) * active
        n_sup = rng.poisson(3, en.n) * active
        e_rec, e_sup = np.repeat(np.arange(en.n), n_rec), np.repeat(np.arange(en.n), n_sup)
        season = 1.3 if m.is_festival_month() else 1.0
        rec = np.round(self.scale[e_rec] * season * rng.lognormal(-0.2, 0.6, len(e_rec)) / 4 * 100).astype(np.int64) + 100
        sup = np.round(self.scale[e_sup] * rng.lognormal(-0.6, 0.6, len(e_sup)) / 3 * 100).astype(np.int64) + 100
        pay_e = np.flatnonzero(payroll > 0)
        ent = np.concatenate([e_rec, e_sup, pay_e])
        cents = np.concatenate([rec, -sup, -payroll[pay_e]])
        day = np.concatenate([rng.integers(0, m.n_days, len(e_rec)), rng.integers(0, m.n_days, len(e_sup)),
                              payday[pay_e] - m.first_day])
        kind = np.concatenate([np.zeros(len(e_rec), int), np.ones(len(e_sup), int), np.full(len(pay_e), 2)])
        # keep the balance positive: a receipt on the 1st tops up what the month would overdraw
        flow = np.bincount(ent, weights=cents, minlength=en.n).astype(np.int64)
        short = np.where(active, np.maximum(0, -(self.bal + flow) + (self.scale * 30).astype(np.int64)), 0)
        top = np.flatnonzero(short > 0)
        ent, cents = np.concatenate([ent, top]), np.concatenate([cents, short[top]])
        day, kind = np.concatenate([day, np.zeros(len(top), int)]), np.concatenate([kind, np.zeros(len(top), int)])
        order = np.argsort(ent * 64 + day, kind="stable")
        ent, cents, day, kind = ent[order], cents[order], day[order], kind[order]
        sec = np.where(kind == 2, 9 * 3600, 10 * 3600) + rng.integers(0, 6 * 3600, len(ent))
        start = self.bal.copy()
        total = np.bincount(ent, weights=cents, minlength=en.n).astype(np.int64)
        adb = start + np.bincount(ent, weights=cents * (m.n_days - day) / m.n_days, minlength=en.n)
        self.bal = np.where(active, start + total, start)
        types = np.array([TXN_TYPES.index("transfer_in"), TXN_TYPES.index("transfer_out"), TXN_TYPES.index("transfer_out")])
        chans = np.array([CHANNELS_TXN.index("online"), CHANNELS_TXN.index("online"), CHANNELS_TXN.index("batch")])
        txn = {"txn_id": ids("T", start_id + np.arange(len(ent)) + 1, 12), "account_id": corp_acct_ids(ent),
               "ts": timestamps((m.first_day + day) * US_PER_DAY + sec * 1_000_000), "amount": decimal_from_cents(cents),
               "channel": np.array(CHANNELS_TXN)[chans[kind]], "txn_type": np.array(TXN_TYPES)[types[kind]],
               "counterparty": np.array([CP_RECEIPT, CP_SUPPLIER, CP_PAYROLL])[kind]}
        a = np.flatnonzero(active)
        bal = {"account_id": corp_acct_ids(a), "month_end": dates(np.full(len(a), m.last_day)),
               "balance": decimal_from_cents(self.bal[a]), "avg_daily_balance": decimal_from_cents(np.round(adb[a]).astype(np.int64))}
        return txn, bal
