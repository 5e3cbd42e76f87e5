"""The month's flows for a chunk of customers: transactions (deposit and credit-card accounts), month-end
balances with 月日均, and the truth value (contribution) per customer. Deposit balances reconcile exactly:
month-end balance = previous month-end + the month's transactions on the account."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kequn.domain.datamodel import CHANNELS_TXN, TXN_TYPES
from kequn.synth import vocab as V
from kequn.synth.draw import HOURS_OFFICE, HOURS_SPEND, DayPicker, poisson, seconds
from kequn.synth.dynamics import MonthPlan
from kequn.synth.population import Customers, Merchants
from kequn.synth.state import CC, DEP, LOAN_SLOTS, NSLOT, TD, WM, Accounts

CH = {c: i for i, c in enumerate(CHANNELS_TXN)}
TY = {t: i for i, t in enumerate(TXN_TYPES)}
CP = V.CP
MOVE_TYPE = {"loan_disbursement": ("loan_disbursement", "贷款发放"), "loan_repayment": ("loan_repayment", "贷款还款"),
             "card_repayment": ("transfer_out", "信用卡还款"), "time_deposit_open": ("time_deposit_open", "定期存入"),
             "time_deposit_maturity": ("time_deposit_maturity", "定期到期"),
             "wealth_purchase": ("wealth_purchase", "理财申购"), "wealth_redemption": ("wealth_redemption", "理财赎回")}
#: yearly margin the bank earns per yuan of balance, and per yuan of card spend (interchange)
MARGIN = {"deposit": 0.015, "time_deposit": 0.008, "wealth": 0.006, "loan": 0.022, "card_spend": 0.005,
          "holding": 0.004}


@dataclass
class Parts:
    """Columns of transactions being assembled (customer index, slot, relative day, seconds, cents…)."""

    cols: dict[str, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in
                                              ("cust", "slot", "day", "sec", "cents", "ch", "ty", "cp", "mer", "mcc")})

    def add(self, cust: np.ndarray, slot: np.ndarray | int, day: np.ndarray, sec: np.ndarray, cents: np.ndarray,
            ch: np.ndarray | int, ty: np.ndarray | int, cp: np.ndarray | int, mer: np.ndarray | int = -1,
            mcc: np.ndarray | int = -1) -> None:
        n = len(cust)
        if n == 0:
            return
        for k, v in zip(self.cols, (cust, slot, day, sec, cents, ch, ty, cp, mer, mcc), strict=True):
            self.cols[k].append(np.broadcast_to(np.asarray(v, dtype=np.int64), (n,)).copy())

    def done(self) -> dict[str, np.ndarray]:
        return {k: (np.concatenate(v) if v else np.zeros(0, np.int64)) for k, v in self.cols.items()}


class MonthFlows:
    """Per month: day profiles and merchant pools; ``chunk(lo, hi)`` draws one block of customers."""

    def __init__(self, plan: MonthPlan, cu: Customers, me: Merchants, acc: Accounts, merchant_open: np.ndarray,
                 n_ent: int) -> None:
        m = plan.month
        self.plan, self.cu, self.me, self.acc, self.n_ent = plan, cu, me, acc, n_ent
        wd = m.weekday()
        weekend = wd >= 5
        fest = m.festival_factor()
        prof = [np.where(weekend, V.MCC_WEEKEND[k], 1.0) * fest for k in range(len(V.MCCS))]
        flat = np.ones(m.n_days)
        prof.append(flat)  # uniform
        prof.append(np.where(weekend, 0.15, 1.0))  # office days
        self.U, self.OFFICE = len(V.MCCS), len(V.MCCS) + 1
        self.days = DayPicker(np.array(prof))
        self.pool = [np.flatnonzero(merchant_open & (me.mcc == k)) for k in range(len(V.MCCS))]

    def chunk(self, rng: np.random.Generator, lo: int, hi: int) -> tuple[dict, dict, np.ndarray]:
        """Transactions, balance rows and value (cents per customer) for customers lo..hi-1."""
        p = self.plan
        m = p.month
        sl = slice(lo, hi)
        idx = np.arange(lo, hi)
        alive = p.alive[sl]
        a_lo = np.clip(p.live_from[sl] - m.first_day, 0, m.n_days - 1)
        a_hi = np.clip(p.live_to[sl] - m.first_day, 0, m.n_days - 1)
        parts = Parts()
        self._salary(rng, parts, idx, sl)
        self._moves(rng, parts, lo, hi)
        self._spend(rng, parts, idx, sl, alive, a_lo, a_hi)
        self._other(rng, parts, idx, sl, alive, a_lo, a_hi)
        t = parts.done()
        dep_end, adb = self._balance_deposit(rng, t, idx, sl, alive, a_lo, a_hi, parts)
        t = parts.done()
        cc_spend = self._close_card(t, idx, sl)
        rows = self._balance_rows(idx, sl, dep_end, adb)
        value = self._value(idx, sl, adb, cc_spend)
        return t, rows, value

    # ----------------------------------------------------------------------------------- transaction kinds
    def _salary(self, rng: np.random.Generator, parts: Parts, idx: np.ndarray, sl: slice) -> None:
        p = self.plan
        has = p.salary[sl] > 0
        c = idx[has]
        parts.add(c, DEP, p.salary_day[c] - p.month.first_day, 9 * 3600 + rng.integers(0, 7200, len(c)),
                  p.salary[c], CH["batch"], TY["salary"], len(CP) + self.cu.employer[c])

    def _moves(self, rng: np.random.Generator, parts: Parts, lo: int, hi: int) -> None:
        first = self.plan.month.first_day
        for kind, _slot, cents, day, cust in self.plan.moves:
            sel = (cust >= lo) & (cust < hi)
            if not sel.any():
                continue
            ty, cp = MOVE_TYPE[kind]
            c, d = cust[sel], day[sel] - first
            sec = seconds(rng, len(c), HOURS_OFFICE)
            ch = CH["auto"] if kind in ("loan_repayment", "card_repayment") else CH["app"]
            parts.add(c, DEP, d, sec, cents[sel], ch, TY[ty], CP[cp])
            if kind == "card_repayment":
                parts.add(c, CC, d, sec + 1, -cents[sel], CH["auto"], TY["transfer_in"], CP["信用卡还款"])

    def _spend(self, rng: np.random.Generator, parts: Parts, idx: np.ndarray, sl: slice, alive: np.ndarray,
               a_lo: np.ndarray, a_hi: np.ndarray) -> None:
        cu, acc, p = self.cu, self.acc, self.plan
        fest = 1.25 if p.month.is_festival_month() else 1.0
        n = poisson(rng, cu.spend_rate[sl] * p.act[sl] * fest) * alive
        rows = np.repeat(np.arange(len(idx)), n)
        k = len(rows)
        if k == 0:
            return
        c = idx[rows]
        fav = rng.random(k) < 0.65
        mcc = np.where(fav, cu.fav_mcc[c, rng.choice(3, k, p=[0.5, 0.3, 0.2])], rng.choice(len(V.MCCS), k, p=V.MCC_P))
        mcc = np.where((mcc == V.FUEL_MCC) & ~cu.has_car[c], 0, mcc)
        cents = np.round(V.MCC_TICKET[mcc] * cu.spend_scale[c] * rng.lognormal(-0.3, 0.8, k) * 100).astype(np.int64) + 100
        day = self.days(rng, mcc, a_lo[rows], a_hi[rows])
        paid_after = (cu.employer[c] >= 0) & (p.salary_day[c] >= 0) & (rng.random(k) < 0.3)
        sday = p.salary_day[c] - p.month.first_day
        day = np.where(paid_after, np.minimum(sday + rng.integers(0, 4, k), a_hi[rows]), day)
        card_ok = acc.has[c, CC] & (acc.close_day[c, CC] < 0) & ~p.churned[c] & (acc.dpd[c, CC] < 60)
        card_ok &= acc.open_day[c, CC] <= p.month.first_day + day
        slot = np.where(card_ok & (rng.random(k) < 0.6), CC, DEP)
        online = rng.random(k) < 0.25
        pool_hit = rng.random(k) < 0.3
        mer = np.full(k, -1)
        for j in np.unique(mcc[pool_hit]):
            pool = self.pool[j]
            sel = pool_hit & (mcc == j)
            if len(pool):
                mer[sel] = rng.choice(pool, sel.sum())
        cp = np.where(mer >= 0, len(CP) + self.n_ent + mer, np.where(online, CP["支付宝"], -1))
        sec = seconds(rng, k, HOURS_SPEND, cu.night_owl[c])
        parts.add(c, slot, day, sec, -cents, np.where(online, CH["online"], CH["pos"]), TY["card_spend"], cp, mer, mcc)
        ref = rng.random(k) < 0.02
        parts.add(c[ref], slot[ref], np.minimum(day[ref] + rng.integers(1, 6, ref.sum()), a_hi[rows][ref]),
                  sec[ref], cents[ref], CH["online"], TY["refund"], CP["退款"], mer[ref], mcc[ref])

    def _other(self, rng: np.random.Generator, parts: Parts, idx: np.ndarray, sl: slice, alive: np.ndarray,
               a_lo: np.ndarray, a_hi: np.ndarray) -> None:
        cu, p = self.cu, self.plan
        act, inc, eng = p.act[sl], cu.income[sl], cu.engagement[sl]
        fest = p.month.is_festival_month()
        digital = np.where(cu.app_user[sl], CH["app"], CH["counter"])
        specs = [  # (rate, type, counterparty, channel, amount log-mean, log-sd, sign)
            (0.9 * act, "transfer_out", "跨行转账", digital, np.log(inc * 0.12 + 50), 1.0, -1),
            (0.35 * act, "transfer_in", "本行转账", digital, np.log(inc * 0.1 + 50), 1.0, 1),
            (0.7 * act, "bill_payment", "国家电网", np.full(len(idx), CH["auto"]), np.log(150), 0.6, -1),
            ((0.1 + 0.5 * (cu.age[sl] > 55)) * act, "cash_withdrawal", "ATM", np.full(len(idx), CH["atm"]),
             np.log(800), 0.6, -1),
        ]
        if fest:  # red packets (红包) around 春节
            specs.append((2.0 * act, "transfer_out", "微信红包", np.full(len(idx), CH["wechat"]), np.log(400), 0.7, -1))
            specs.append((1.5 * act, "transfer_in", "微信红包", np.full(len(idx), CH["wechat"]), np.log(300), 0.7, 1))
        bills = np.array([CP["国家电网"], CP["中国移动"], CP["中国联通"], CP["长沙水务"], CP["新奥燃气"]])
        for rate, ty, cp, ch, mu, sd, sign in specs:
            n = poisson(rng, rate) * alive * (eng >= 0)
            rows = np.repeat(np.arange(len(idx)), n)
            k = len(rows)
            if not k:
                continue
            amt = np.round(np.exp(mu[rows] if np.ndim(mu) else mu) * rng.lognormal(0, sd, k), 2)
            if ty == "cash_withdrawal":
                amt = np.maximum(100, np.round(amt, -2))
            cpc = rng.choice(bills, k) if ty == "bill_payment" else CP[cp]
            day = self.days(rng, np.full(k, self.U), a_lo[rows], a_hi[rows])
            parts.add(idx[rows], DEP, day, seconds(rng, k, HOURS_SPEND, cu.night_owl[idx[rows]]),
                      sign * (amt * 100).astype(np.int64) - sign * 0, ch[rows], TY[ty], cpc)
        if p.month.month % 3 == 0:  # quarterly interest on the 21st
            bal = p.start_bal[sl, DEP]
            ok = alive & (a_hi >= 20) & (a_lo <= 20) & (bal > 400)
            cents = (bal * 0.0035 / 4).astype(np.int64)
            ok &= cents > 0
            parts.add(idx[ok], DEP, 20, 3 * 3600 + rng.integers(0, 600, ok.sum()), cents[ok], CH["auto"], TY["interest"], CP["利息"])
        fee = alive & (rng.random(len(idx)) < 0.03) & (act > 0)
        parts.add(idx[fee], DEP, a_lo[fee], 4 * 3600 + rng.integers(0, 600, fee.sum()),
                  -rng.integers(200, 2000, fee.sum()), CH["auto"], TY["fee"], CP["手续费"])

    # ----------------------------------------------------------------------------------- balances
    def _balance_deposit(self, rng: np.random.Generator, t: dict, idx: np.ndarray, sl: slice, alive: np.ndarray,
                         a_lo: np.ndarray, a_hi: np.ndarray, parts: Parts) -> tuple[np.ndarray, np.ndarray]:
        """Add the balancing transfer that brings each deposit account to its planned month-end balance."""
        p, acc, lo = self.plan, self.acc, idx[0]
        nd = p.month.n_days
        on_dep = t["slot"] == DEP
        local = t["cust"][on_dep] - lo
        flow = np.bincount(local, weights=t["cents"][on_dep], minlength=len(idx)).astype(np.int64)
        start = p.start_bal[sl, DEP]
        target = np.where(p.sleeper[sl], np.maximum(start + flow, 0), p.dep_target[sl])
        diff = np.where(alive, target - start - flow, 0)
        into = diff > 0
        day = np.where(into, a_lo + rng.integers(0, 5, len(idx)), a_hi - rng.integers(0, 5, len(idx)))
        day = np.where(p.churned[sl], a_hi, np.clip(day, a_lo, a_hi))
        out_cp = np.where(p.depth[sl] > 0, CP["跨行转账"], CP["本行转账"])
        nz = diff != 0
        parts.add(idx[nz], DEP, day[nz], seconds(rng, nz.sum(), HOURS_SPEND), diff[nz],
                  np.where(self.cu.app_user[sl][nz], CH["app"], CH["counter"]),
                  np.where(into[nz], TY["transfer_in"], TY["transfer_out"]),
                  np.where(into[nz], CP["跨行转账"], out_cp[nz]))
        end = np.where(alive, start + flow + diff, start)
        w = (nd - np.clip(t["day"][on_dep], 0, nd - 1)) / nd
        adb_flow = np.bincount(local, weights=t["cents"][on_dep] * w, minlength=len(idx))
        adb_flow += np.where(nz, diff * (nd - day) / nd, 0)
        adb = np.maximum(0, np.round(start + adb_flow)).astype(np.int64)
        acc.bal[sl, DEP] = end
        return end, adb

    def _close_card(self, t: dict, idx: np.ndarray, sl: slice) -> np.ndarray:
        p, acc = self.plan, self.acc
        on = t["slot"] == CC
        local = t["cust"][on] - idx[0]
        flow = np.bincount(local, weights=t["cents"][on], minlength=len(idx)).astype(np.int64)
        spend = np.bincount(local, weights=np.where(t["ty"][on] == TY["card_spend"], -t["cents"][on], 0),
                            minlength=len(idx))
        acc.bal[sl, CC] = np.where(p.alive[sl] & acc.has[sl, CC], p.start_bal[sl, CC] - flow, acc.bal[sl, CC])
        return spend

    def _balance_rows(self, idx: np.ndarray, sl: slice, dep_end: np.ndarray, dep_adb: np.ndarray) -> dict:
        p, acc = self.plan, self.acc
        m = p.month
        out: dict[str, list[np.ndarray]] = {"cust": [], "slot": [], "bal": [], "adb": [], "dpd": []}
        for s in range(NSLOT):
            has = acc.has[sl, s] & (acc.open_day[sl, s] <= m.last_day)
            has &= (acc.close_day[sl, s] < 0) | (acc.close_day[sl, s] >= m.first_day)
            has &= p.alive[sl] | (acc.close_day[sl, s] >= m.first_day)
            if s == DEP:
                bal, adb = dep_end, dep_adb
            else:
                bal = acc.bal[sl, s]
                adb = (p.start_bal[sl, s] * np.where(acc.open_day[sl, s] < m.first_day, 1, 0) + bal) // 2
            out["cust"].append(idx[has])
            out["slot"].append(np.full(has.sum(), s))
            out["bal"].append(bal[has])
            out["adb"].append(adb[has])
            out["dpd"].append(acc.dpd[sl, s][has] if s in (CC, *LOAN_SLOTS) else np.full(has.sum(), -1))
        return {k: np.concatenate(v) for k, v in out.items()}

    def _value(self, idx: np.ndarray, sl: slice, adb: np.ndarray, card_spend: np.ndarray) -> np.ndarray:
        """The bank's contribution from each customer this month, in cents (truth/ 'value')."""
        acc, p = self.acc, self.plan
        yr = 1 / 12
        loans = sum(acc.bal[sl, s] for s in LOAN_SLOTS)
        hold = (acc.h_amount[sl] * (acc.h_has[sl] & (acc.h_end[sl] < 0))).sum(axis=1)
        v = (adb * MARGIN["deposit"] * yr + acc.bal[sl, TD] * MARGIN["time_deposit"] * yr
             + acc.bal[sl, WM] * MARGIN["wealth"] * yr + loans * MARGIN["loan"] * yr
             + card_spend * MARGIN["card_spend"] + hold * MARGIN["holding"] * yr)
        return np.where(p.alive[sl], np.round(v), 0).astype(np.int64)
