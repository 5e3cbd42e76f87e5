"""Static canonical tables built once from the final state: organisation, parties, products, accounts,
loans, cards, holdings, touchpoints, consent and relationships. Ids: customer C#########, account
A<slot>#########, enterprise N########, merchant M########, staff S######, branch B####.

A shard of a bank (``SynthParams(shard=k, shards=n)``) numbers its parties from the global offsets held
in the current :class:`IdSpace` (set by ``generate`` with :func:`id_space`), so the shards' ids are
disjoint; the unsharded bank uses offsets 0 (the ids it always had)."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from kequn.synth import vocab as V
from kequn.synth.calendar import day_number
from kequn.synth.catalogue import PRODUCTS, PROGRAMMES, SLOT_KIND, Touchpoint
from kequn.synth.population import Branches, Customers, Enterprises, Merchants, Staff
from kequn.synth.state import CC, DEP, LOAN_SLOTS, NSLOT, Accounts, Phase
from kequn.synth.writer import dates, decimal_from_cents, ids

PIDS = np.array([p[0] for p in PRODUCTS])


@dataclass(frozen=True)
class IdSpace:
    """Where a shard's numbers start: parties at global offsets (customer / enterprise / merchant index of
    the shard's first one), running numbers (transactions, events, …) in the shard's block of the id width."""

    customer: int = 0
    enterprise: int = 0
    merchant: int = 0
    shard: int = 0
    shards: int = 1

    def block(self, width: int) -> int:
        """Size of each shard's block of running numbers for ids of ``width`` digits."""
        return 10**width // self.shards

    def start(self, width: int) -> int:
        """First running number (exclusive) of this shard for ids of ``width`` digits (0 when unsharded)."""
        return self.shard * self.block(width)


_UNSHARDED = IdSpace()
_SPACE: contextvars.ContextVar[IdSpace | None] = contextvars.ContextVar("kequn_synth_id_space", default=None)


@contextlib.contextmanager
def id_space(space: IdSpace) -> Iterator[IdSpace]:
    token = _SPACE.set(space)
    try:
        yield space
    finally:
        _SPACE.reset(token)


def space() -> IdSpace:
    """The id space of the bank (or shard) being generated."""
    return _SPACE.get() or _UNSHARDED


def cust_ids(i: np.ndarray) -> Any:
    return ids("C", np.asarray(i) + 1 + space().customer, 9)


def acct_ids(i: np.ndarray, slot: np.ndarray | int) -> Any:
    return ids("A", np.asarray(slot) * 10**9 + np.asarray(i) + 1 + space().customer, 10)


def corp_acct_ids(e: np.ndarray) -> Any:
    """Settlement account of an enterprise."""
    return ids("AE", np.asarray(e) + 1 + space().enterprise, 8)


def ent_ids(i: np.ndarray) -> Any:
    return ids("N", np.asarray(i) + 1 + space().enterprise, 8)


def merch_ids(i: np.ndarray) -> Any:
    return ids("M", np.asarray(i) + 1 + space().merchant, 8)


def slot_ids(prefix: str, slot: np.ndarray, c: np.ndarray) -> Any:
    """Loan / card / holding ids: prefix + slot digit + global customer number."""
    return ids(prefix, np.asarray(slot) * 10**9 + np.asarray(c) + 1 + space().customer, 10)


def branch_table(br: Branches) -> dict:
    parent = np.array([br.ids[p] if p >= 0 else None for p in br.parent], dtype=object)
    return {"branch_id": br.ids, "name": br.names, "level": br.level, "parent_id": parent,
            "city": V.CITY_NAMES[br.city], "opened_on": dates(br.opened)}


def staff_table(st: Staff, br: Branches) -> dict:
    return {"staff_id": st.ids, "name": st.names, "branch_id": br.ids[st.branch], "role": st.role,
            "hired_on": dates(st.hired)}


def customer_table(cu: Customers, br: Branches, st: Staff, ph: Phase) -> dict:
    closed = ph.churn_day >= 0
    rm = np.array([st.ids[r] if r >= 0 else None for r in cu.rm], dtype=object)
    return {"customer_id": cust_ids(np.arange(cu.n)), "name": cu.name, "id_number": cu.id_number, "phone": cu.phone,
            "gender": np.where(cu.male, "M", "F"), "birth_date": dates(cu.birth), "occupation": V.OCCUPATIONS[cu.occupation],
            "city": V.CITY_NAMES[cu.city], "home_branch_id": br.ids[cu.branch], "rm_id": rm,
            "onboarded_on": dates(cu.onboard), "is_new_citizen": cu.new_citizen,
            "status": np.where(closed, "closed", "active"), "closed_on": dates(ph.churn_day, closed)}


def enterprise_table(en: Enterprises, br: Branches) -> dict:
    return {"enterprise_id": ent_ids(np.arange(en.n)), "name": en.names, "uscc": en.uscc,
            "industry": V.INDUSTRIES[en.industry], "size": en.size, "city": V.CITY_NAMES[en.city],
            "branch_id": br.ids[en.branch], "onboarded_on": dates(en.onboard),
            "legal_rep_customer_id": _opt(cust_ids, en.legal_rep)}


def _opt(fn: Any, i: np.ndarray) -> Any:
    import pyarrow.compute as pc

    arr = fn(np.maximum(i, 0))
    return pc.if_else(np.asarray(i) >= 0, arr, None)


def merchant_table(me: Merchants, br: Branches, ph: Phase) -> dict:
    closed = ph.churn_day >= 0
    return {"merchant_id": merch_ids(np.arange(me.n)), "name": me.names, "mcc": V.MCC_CODES[me.mcc],
            "owner_customer_id": _opt(cust_ids, me.owner), "enterprise_id": _opt(ent_ids, me.enterprise),
            "branch_id": br.ids[me.branch], "terminals": me.terminals, "onboarded_on": dates(me.onboard),
            "status": np.where(closed, "closed", "active"), "closed_on": dates(ph.churn_day, closed)}


def product_table() -> dict:
    return {"product_id": [p[0] for p in PRODUCTS], "name": [p[1] for p in PRODUCTS], "category": [p[2] for p in PRODUCTS],
            "provider": [p[3] for p in PRODUCTS], "online_closable": [p[4] for p in PRODUCTS],
            "launched_on": dates(np.array([day_number(dt.date.fromisoformat(p[5])) for p in PRODUCTS]))}


def programme_table() -> dict:
    return {k: [p[i] for p in PROGRAMMES] for i, k in enumerate(("programme_id", "name", "agency", "kind"))}


def touchpoint_table(tps: list[Touchpoint]) -> dict:
    return {"touchpoint_id": [t.touchpoint_id for t in tps], "name": [t.name for t in tps],
            "channel": [t.channel for t in tps], "journey_stage": [t.journey_stage for t in tps],
            "description": [t.description for t in tps]}


def _slots(acc: Accounts) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.nonzero(acc.has)
    return c, s


def account_tables(cu: Customers, br: Branches, acc: Accounts, en: Enterprises, sleeper: np.ndarray,
                   written_off: np.ndarray) -> dict:
    c, s = _slots(acc)
    closed = acc.close_day[c, s] >= 0
    status = np.where(closed, "closed", np.where((s == DEP) & sleeper[c], "dormant", "active"))
    n_e = en.n
    return {
        "account_id": _concat(acct_ids(c, s), corp_acct_ids(np.arange(n_e))),
        "customer_id": _concat(cust_ids(c), None, n_e),
        "enterprise_id": _concat(None, ent_ids(np.arange(n_e)), len(c)),
        "product_id": np.r_[PIDS[acc.product[c, s]], np.full(n_e, "P-CORP-01")],
        "kind": np.r_[np.array(SLOT_KIND)[s], np.full(n_e, "deposit")],
        "branch_id": np.r_[br.ids[cu.branch[c]], br.ids[en.branch]],
        "opened_on": dates(np.r_[acc.open_day[c, s], en.onboard]),
        "closed_on": dates(np.r_[acc.close_day[c, s], np.zeros(n_e, np.int64)], np.r_[closed, np.zeros(n_e, bool)]),
        "status": np.r_[status, np.full(n_e, "active")],
    }


def _concat(a: Any, b: Any, n_null: int = 0) -> Any:
    import pyarrow as pa

    if a is None:
        return pa.concat_arrays([pa.nulls(n_null, pa.string()), b])
    if b is None:
        return pa.concat_arrays([a, pa.nulls(n_null, pa.string())])
    return pa.concat_arrays([a, b])


def loan_table(acc: Accounts, written_off: np.ndarray, end_day: int) -> dict:
    c, s = np.nonzero(acc.has[:, list(LOAN_SLOTS)])
    s = np.array(LOAN_SLOTS)[s]
    start = acc.open_day[c, s]
    term = acc.term[c, s]
    closed = acc.close_day[c, s] >= 0
    wo = written_off[c, s]
    dpd = acc.dpd[c, s]
    status = np.where(wo, "written_off", np.where(closed, "settled", np.where(dpd > 0, "overdue", "current")))
    return {"loan_id": slot_ids("L", s, c), "account_id": acct_ids(c, s), "customer_id": cust_ids(c),
            "product_id": PIDS[acc.product[c, s]], "principal": decimal_from_cents(acc.principal[c, s]),
            "rate": acc.rate[c, s], "term_months": term, "start_date": dates(start),
            "maturity_date": dates(start + np.round(term * 30.44).astype(np.int64)),
            "status": status, "days_past_due": np.where(closed & ~wo, 0, dpd)}


def card_table(rng: np.random.Generator, acc: Accounts, end_day: int) -> dict:
    c, s = np.nonzero(acc.has[:, [DEP, CC]])
    s = np.array([DEP, CC])[s]
    credit = s == CC
    issued = np.minimum(acc.open_day[c, s] + rng.integers(0, 8, len(c)), end_day)
    closed = acc.close_day[c, s] >= 0
    status = np.where(closed, "closed", np.where(credit & (acc.dpd[c, s] >= 90), "blocked", "active"))
    bins = np.where(credit, 625_899, 621_799)
    return {"card_id": slot_ids("K", s, c), "account_id": acct_ids(c, s), "customer_id": cust_ids(c),
            "card_type": np.where(credit, "credit", "debit"), "card_number": V.luhn_cards(bins, (c + space().customer) * 10 + s),
            "credit_limit": decimal_from_cents(acc.limit[c, s], credit), "issued_on": dates(issued), "status": status}


def holding_table(acc: Accounts, ph: Phase) -> dict:
    c, j = np.nonzero(acc.h_has)
    churn = ph.churn_day[c]
    end = np.where(churn >= 0, np.maximum(churn, acc.h_start[c, j]), -1)
    return {"holding_id": slot_ids("H", j, c), "customer_id": cust_ids(c), "product_id": PIDS[acc.h_product[c, j]],
            "start_date": dates(acc.h_start[c, j]), "end_date": dates(end, end >= 0),
            "amount": decimal_from_cents(acc.h_amount[c, j])}


def balance_columns(rows: dict, month_end: int) -> dict:
    slot = rows["slot"]
    dpd = rows["dpd"]
    import pyarrow as pa

    return {"account_id": acct_ids(rows["cust"], slot), "month_end": dates(np.full(len(slot), month_end)),
            "balance": decimal_from_cents(rows["bal"]), "avg_daily_balance": decimal_from_cents(rows["adb"]),
            "days_past_due": pa.array(dpd, mask=dpd < 0, type=pa.int64())}


_ = (NSLOT,)
