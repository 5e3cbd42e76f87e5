"""Core enterprise (企业客户) and merchant (收单商户) tags: the Ibis expression of each, registered by id."""

from __future__ import annotations

import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from kequn.tags.model import (
    MONEY,
    AsOf,
    Group,
    Tables,
    TagDef,
    change,
    day_mask,
    days_between,
    popcount,
    ratio,
)


# ------------------------------------------------------------------ enterprise
def enterprise_base(t: Tables, a: AsOf) -> ir.Table:
    e = t["enterprise"]
    return e.filter(e.onboarded_on <= a.lit).mutate(key=e.enterprise_id)


def _batches(t: Tables, a: AsOf) -> ir.Table:
    b = t["payroll_batch"]
    b = b.filter(b.pay_date >= a.first_day(90), b.pay_date <= a.lit)
    return b.select(key=b.enterprise_id, pay_date=b.pay_date, headcount=b.headcount, total=b.total_amount)


def _customer_products(t: Tables, a: AsOf) -> ir.Table:
    """Products each customer holds on the as-of day (open accounts + active holdings)."""
    acc, h = t["account"], t["holding"]
    acc = acc.filter(acc.customer_id.notnull(), acc.opened_on <= a.lit, acc.closed_on.isnull() | (acc.closed_on > a.lit))
    h = h.filter(h.start_date <= a.lit, h.end_date.isnull() | (h.end_date >= a.lit))
    cols = {"customer_id": dt.String(nullable=True), "product_id": dt.String(nullable=True)}
    both = acc.select(**{c: acc[c].cast(t_) for c, t_ in cols.items()}).union(
        h.select(**{c: h[c].cast(t_) for c, t_ in cols.items()}), distinct=True)
    return both.group_by("customer_id").aggregate(n_products=both.product_id.count())


def _employees(t: Tables, a: AsOf) -> ir.Table:
    """Employees paid through the bank in the last 90 days, with the products they hold."""
    i, b = t["payroll_item"], t["payroll_batch"]
    b = b.filter(b.pay_date >= a.first_day(90), b.pay_date <= a.lit).select("batch_id", "enterprise_id")
    emp = i.join(b, "batch_id").select("enterprise_id", "customer_id").distinct()
    j = emp.left_join(_customer_products(t, a), "customer_id")
    return j.select(key=j.enterprise_id, customer_id=j.customer_id, n_products=j.n_products.fill_null(0))


def _enterprise_txns(t: Tables, a: AsOf) -> ir.Table:
    acc, x = t["account"], t["transaction"]
    acc = acc.filter(acc.enterprise_id.notnull()).select("account_id", "enterprise_id")
    x = x.filter(x.ts >= a.since_ts(30), x.ts < a.end_ts).select("account_id", "ts")
    j = x.join(acc, "account_id")
    return j.select(key=j.enterprise_id, ts=j.ts)


# ------------------------------------------------------------------ merchant
def merchant_base(t: Tables, a: AsOf) -> ir.Table:
    m = t["merchant"]
    return m.filter(m.onboarded_on <= a.lit).mutate(key=m.merchant_id)


def _acquiring(t: Tables, a: AsOf) -> ir.Table:
    d = t["acquiring_daily"]
    d = d.filter(d.date >= a.first_day(365), d.date <= a.lit)
    return d.select(key=d.merchant_id, date=d.date, n=d.txn_count, amount=d.amount, refund=d.refund_amount)


def _days(d: ir.Table, a: AsOf, first: int, last: int = 1) -> ir.BooleanValue:
    """Rows whose date lies ``last``…``first`` days back (1 = the as-of day itself)."""
    return (d.date >= a.first_day(first)) & (d.date <= a.first_day(last))


GROUPS: tuple[Group, ...] = (
    Group("enterprise_payroll", "enterprise", _batches),
    Group("enterprise_employees", "enterprise", _employees),
    Group("enterprise_txn", "enterprise", _enterprise_txns),
    Group("merchant_acquiring", "merchant", _acquiring),
)


def _e(id_: str, group: str, fn, fill=None) -> TagDef:  # type: ignore[no-untyped-def]
    return TagDef(id_, "enterprise", "aggregate", fn, group=group, fill=fill)


def _m(id_: str, fn, fill=None) -> TagDef:  # type: ignore[no-untyped-def]
    return TagDef(id_, "merchant", "aggregate", fn, group="merchant_acquiring", fill=fill)


DEFS: tuple[TagDef, ...] = (
    _e("payroll_headcount", "enterprise_payroll", lambda b, a: b.headcount.argmax(b.pay_date), fill=0),
    _e("payroll_total_90d", "enterprise_payroll", lambda b, a: b.total.sum().cast(MONEY), fill=0),
    _e("employee_penetration", "enterprise_employees", lambda e, a: ratio(e.count(where=e.n_products >= 2), e.count())),
    _e("account_txn_count_30d", "enterprise_txn", lambda x, a: x.count(), fill=0),
    _e("_account_day_mask_30d", "enterprise_txn", lambda x, a: day_mask(x.ts.date(), a, 30), fill=0),
    TagDef("account_active_days_30d", "enterprise", "derived", lambda w, a: popcount(w._account_day_mask_30d, 30),
           deps=("_account_day_mask_30d",)),
    _m("turnover_30d", lambda d, a: d.amount.sum(where=_days(d, a, 30)).cast(MONEY), fill=0),
    _m("turnover_90d", lambda d, a: d.amount.sum(where=_days(d, a, 90)).cast(MONEY), fill=0),
    _m("_turnover_prev_30d", lambda d, a: d.amount.sum(where=_days(d, a, 60, 31)).cast(MONEY), fill=0),
    _m("sales_days_30d", lambda d, a: d.count(where=_days(d, a, 30) & (d.n > 0)), fill=0),
    _m("refund_rate_90d", lambda d, a: ratio(d.refund.sum(where=_days(d, a, 90)), d.amount.sum(where=_days(d, a, 90)))),
    _m("days_since_last_sale", lambda d, a: days_between(a.date, d.date.max(where=d.n > 0))),
    TagDef("turnover_trend", "merchant", "derived", lambda w, a: change(w.turnover_30d, w._turnover_prev_30d),
           deps=("turnover_30d", "_turnover_prev_30d")),
)
