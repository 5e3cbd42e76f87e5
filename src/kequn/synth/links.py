"""Consent records, relationships (B→C payroll, merchant owners, households, guarantors, G→B→C programme
membership), government data for consenting customers, and payroll batches."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from kequn.domain.datamodel import CONSENT_CHANNELS
from kequn.synth.calendar import US_PER_DAY, Month, day_number
from kequn.synth.dynamics import MonthPlan
from kequn.synth.population import EMPLOYED, Customers, Enterprises, Merchants
from kequn.synth.state import Accounts, Phase
from kequn.synth.tables import acct_ids, cust_ids, ent_ids, merch_ids, space
from kequn.synth.writer import dates, decimal_from_cents, ids, timestamps

PIPL_DAY = day_number(dt.date(2021, 11, 1))  # PIPL in force: consents re-collected from then on
SOURCES = np.array(["app", "branch", "call_centre", "web", "paper", "wechat_work"])


@dataclass
class ConsentState:
    """Per customer: grant / withdrawal day (-1 = never) of the marketing channels and of gov_data."""

    granted: dict[tuple[str, str], np.ndarray]
    withdrawn: dict[tuple[str, str], np.ndarray]

    def in_force(self, purpose: str, channel: str, day: int | np.ndarray) -> np.ndarray:
        g, w = self.granted[(purpose, channel)], self.withdrawn[(purpose, channel)]
        return (g >= 0) & (g <= day) & ((w < 0) | (w > day))


def consents(rng: np.random.Generator, cu: Customers, window_start: int, end_day: int) -> tuple[dict, ConsentState]:
    n = cu.n
    app, rm = cu.app_user, cu.rm >= 0
    spec = [("marketing", "sms", 0.7), ("marketing", "app_push", 0.05 + 0.6 * app), ("marketing", "wechat_work", 0.8 * rm),
            ("marketing", "call", 0.3), ("marketing", "email", 0.15), ("personalisation", "any", 0.65),
            ("profiling", "any", 0.55), ("third_party", "any", 0.15), ("gov_data", "any", cu.gov_consent.astype(float))]
    base = np.maximum(cu.onboard, PIPL_DAY) + rng.integers(0, 45, n)
    base = np.minimum(base, end_day - 1)
    cols: dict[str, list] = {k: [] for k in ("cust", "purpose", "channel", "status", "day", "source")}
    granted, withdrawn = {}, {}
    for purpose, channel, p in spec:
        got = rng.random(n) < p
        day = base.copy()
        if purpose == "gov_data":  # many authorise government data later, in the app
            day = np.where(rng.random(n) < 0.6, day, np.maximum(day, window_start + rng.integers(0, max(1, end_day - window_start), n)))
            day = np.minimum(day, end_day - 1)
        wd_p = 0.07 if purpose == "marketing" else 0.04
        wd = got & (rng.random(n) < wd_p)
        wday = np.where(wd, day + 1 + (rng.random(n) * np.maximum(end_day - day - 1, 0)).astype(np.int64), -1)
        wd &= wday <= end_day
        granted[(purpose, channel)] = np.where(got, day, -1)
        withdrawn[(purpose, channel)] = np.where(wd, wday, -1)
        src = np.where(app & (rng.random(n) < 0.7), 0, rng.integers(1, len(SOURCES), n))
        for status, mask, d in (("granted", got, day), ("withdrawn", wd, wday)):
            k = mask.sum()
            cols["cust"].append(np.flatnonzero(mask))
            cols["purpose"].append(np.full(k, purpose))
            cols["channel"].append(np.full(k, channel))
            cols["status"].append(np.full(k, status))
            cols["day"].append(d[mask])
            cols["source"].append(SOURCES[src[mask]])
    c = {k: np.concatenate(v) for k, v in cols.items()}
    assert set(c["channel"]) <= set(CONSENT_CHANNELS)
    ts = c["day"] * US_PER_DAY + (8 * 3600 + rng.integers(0, 13 * 3600, len(c["day"]))) * 1_000_000
    out = {"consent_id": ids("K", space().start(10) + np.arange(len(ts)) + 1, 10), "customer_id": cust_ids(c["cust"]),
           "purpose": c["purpose"], "channel": c["channel"], "status": c["status"], "effective_at": timestamps(ts),
           "source": c["source"]}
    return out, ConsentState(granted, withdrawn)


def payroll_month(plan: MonthPlan, cu: Customers, en: Enterprises) -> tuple[dict, dict]:
    m = plan.month
    c = np.flatnonzero(plan.salary > 0)
    e = cu.employer[c]
    eo = space().enterprise
    batch = ids(f"PB{m.year:04d}{m.month:02d}", e + 1 + eo, 8)
    head = np.bincount(e, minlength=en.n)
    total = np.bincount(e, weights=plan.salary[c], minlength=en.n).astype(np.int64)
    pay = np.full(en.n, -1)
    pay[e] = plan.salary_day[c]
    has = np.flatnonzero(head > 0)
    items = {"batch_id": batch, "customer_id": cust_ids(c), "account_id": acct_ids(c, 0),
             "amount": decimal_from_cents(plan.salary[c])}
    batches = {"batch_id": ids(f"PB{m.year:04d}{m.month:02d}", has + 1 + eo, 8), "enterprise_id": ent_ids(has),
               "pay_date": dates(pay[has]), "headcount": head[has], "total_amount": decimal_from_cents(total[has])}
    return batches, items


def gov_month(rng: np.random.Generator, m: Month, cu: Customers, en: Enterprises, cs: ConsentState, ph: Phase,
              end_day: int, start_id: int) -> dict:
    n = cu.n
    employed = (cu.employer >= 0) | (EMPLOYED[cu.occupation] & (cu.age < 63))
    received = m.last_day + 3 + rng.integers(0, 18, n)
    ok = cs.in_force("gov_data", "any", received) & (received <= end_day) & (cu.onboard <= received)
    ok &= (ph.churn_day < 0) | (received < ph.churn_day)
    hf = (np.arange(n) * 2654435761 % 10) < 7
    util = (np.arange(n) * 40503 % 10) < 5
    specs = [("social_security", ok & employed, cu.income * 0.24, "G-SS-01"),
             ("housing_fund", ok & employed & hf, cu.income * 0.24, "G-HF-01"),
             ("medical_insurance", ok & employed, cu.income * 0.08, "G-MI-02"),
             ("medical_insurance", ok & ~employed & (m.month == 1), np.full(n, 380.0), "G-MI-01"),
             ("utility", ok & util, np.exp(rng.normal(np.log(150), 0.5, n)), None)]
    cols: dict[str, list] = {k: [] for k in ("cust", "source", "cents", "prog", "recv")}
    for source, mask, amt, prog in specs:
        k = np.flatnonzero(mask)
        cols["cust"].append(k)
        cols["source"].append(np.full(len(k), source))
        cols["cents"].append(np.round(amt[k] * 100).astype(np.int64))
        cols["prog"].append(np.full(len(k), prog, dtype=object))
        cols["recv"].append(received[k])
    c = {k: np.concatenate(v) for k, v in cols.items()}
    emp = cu.employer[c["cust"]]
    uscc = np.where(emp >= 0, en.uscc[np.maximum(emp, 0)], None)
    uscc = np.where(np.isin(c["source"], ["utility"]), None, uscc)
    return {"record_id": ids("G", start_id + np.arange(len(c["cust"])) + 1, 11), "customer_id": cust_ids(c["cust"]),
            "source": c["source"], "period_month": dates(np.full(len(c["cust"]), m.first_day)),
            "amount": decimal_from_cents(c["cents"]), "employer_uscc": uscc.astype(object),
            "programme_id": c["prog"], "received_on": dates(c["recv"])}


def relationships(rng: np.random.Generator, cu: Customers, en: Enterprises, me: Merchants, acc: Accounts,
                  first_salary: np.ndarray, last_salary: np.ndarray, cph: Phase, mph: Phase, cs: ConsentState,
                  window_start: int, end_day: int) -> dict:
    import pyarrow as pa

    parts: list[tuple] = []  # (from_type, from_ids, to_type, to_ids, kind, valid_from, valid_to(-1))

    def add(ft, fid, tt, tid, kind, vf, vt):  # noqa: ANN001, ANN202
        parts.append((ft, fid, tt, tid, kind, np.minimum(vf, end_day), vt))

    c = np.flatnonzero(first_salary >= 0)
    e = cu.employer[c]
    vf = np.where(cu.onboard[c] < window_start, np.maximum(cu.onboard[c], en.onboard[e]), first_salary[c])
    stopped = cph.onset[c] > -99
    add("enterprise", ent_ids(e), "customer", cust_ids(c), "employer_employee", vf, np.where(stopped, last_salary[c], -1))
    ind = np.flatnonzero(me.owner >= 0)
    closed = mph.churn_day
    add("customer", cust_ids(me.owner[ind]), "merchant", merch_ids(ind), "merchant_owner", me.onboard[ind], closed[ind])
    ent = np.flatnonzero(me.enterprise >= 0)
    add("enterprise", ent_ids(me.enterprise[ent]), "merchant", merch_ids(ent), "merchant_owner", me.onboard[ent], closed[ent])
    a = np.flatnonzero(rng.random(cu.n) < 0.06)
    b = rng.integers(0, cu.n, len(a))
    keep = a != b
    a, b = a[keep], b[keep]
    pair = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1), axis=0)
    a, b = pair[:, 0], pair[:, 1]
    add("customer", cust_ids(a), "customer", cust_ids(b), "household", np.maximum(cu.onboard[a], cu.onboard[b]), -np.ones(len(a), np.int64))
    mort = np.flatnonzero(acc.has[:, 4] & (rng.random(cu.n) < 0.2))
    g = rng.integers(0, cu.n, len(mort))
    ok = g != mort
    mort, g = mort[ok], g[ok]
    add("customer", cust_ids(g), "customer", cust_ids(mort), "guarantor", np.maximum(acc.open_day[mort, 4], cu.onboard[g]),
        np.where(acc.close_day[mort, 4] >= 0, acc.close_day[mort, 4], -1))
    pe = np.flatnonzero(en.headcount > 0)
    add("programme", np.full(len(pe), "G-SS-01"), "enterprise", ent_ids(pe), "programme_member", en.onboard[pe], -np.ones(len(pe), np.int64))
    sub = np.flatnonzero(rng.random(en.n) < 0.25)
    add("programme", np.full(len(sub), "G-SB-02"), "enterprise", ent_ids(sub), "programme_member",
        np.maximum(en.onboard[sub], window_start - 200), -np.ones(len(sub), np.int64))
    gd = cs.granted[("gov_data", "any")]
    employed = (cu.employer >= 0) | (EMPLOYED[cu.occupation] & (cu.age < 63))
    for prog, mask in (("G-SS-01", employed), ("G-MI-02", employed), ("G-MI-01", ~employed)):
        k = np.flatnonzero((gd >= 0) & mask)
        add("programme", np.full(len(k), prog), "customer", cust_ids(k), "programme_member", gd[k], -np.ones(len(k), np.int64))
    nc = np.flatnonzero(cu.new_citizen & (rng.random(cu.n) < 0.3))
    add("programme", np.full(len(nc), "G-SB-01"), "customer", cust_ids(nc), "programme_member",
        np.maximum(cu.onboard[nc], window_start - 300), -np.ones(len(nc), np.int64))
    ow = np.unique(me.owner[ind][rng.random(len(ind)) < 0.3])
    add("programme", np.full(len(ow), "G-SB-03"), "customer", cust_ids(ow), "programme_member",
        np.maximum(cu.onboard[ow], window_start - 100), -np.ones(len(ow), np.int64))
    out: dict[str, list] = {k: [] for k in ("from_type", "from_id", "to_type", "to_id", "kind", "valid_from", "valid_to")}
    for ft, fid, tt, tid, kind, vf, vt in parts:
        k = len(vf)
        out["from_type"].append(pa.array(np.full(k, ft)))
        out["from_id"].append(fid if isinstance(fid, pa.Array) else pa.array(fid))
        out["to_type"].append(pa.array(np.full(k, tt)))
        out["to_id"].append(tid)
        out["kind"].append(pa.array(np.full(k, kind)))
        out["valid_from"].append(dates(vf))
        vt = np.asarray(vt)
        out["valid_to"].append(dates(np.maximum(vt, vf), vt >= 0))
    return {k: pa.concat_arrays([x.cast(v[0].type) for x in v]) for k, v in out.items()}
