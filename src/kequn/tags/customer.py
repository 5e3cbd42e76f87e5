"""Core customer tags (个人客户核心标签): the Ibis expression of each, registered by id.

Point-in-time rules (see docs/tags.md): a customer exists from ``onboarded_on``; balances are read at the
last month end ≤ as-of (``m0``) and 1/2/3/6 month ends before it; flows use windows of N days ending on
the as-of day inclusive (30 days = as-of − 29 … as-of); accounts and holdings count when open on the
as-of day. Nothing dated after the as-of day is read.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from kequn.domain.datamodel import CHANNELS_TXN
from kequn.tags.model import (
    MONEY,
    AsOf,
    Group,
    Recency,
    Tables,
    TagDef,
    band,
    change,
    day_mask,
    days_between,
    popcount,
    ratio,
)

ASSET_KINDS = ("deposit", "time_deposit", "wealth")
AGE_BANDS = ((25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64"))
SALARY_BANDS = ((5000, "<5k"), (10000, "5k-10k"), (20000, "10k-20k"), (50000, "20k-50k"))
AUM_TIERS = ((50_000, "mass"), (500_000, "gold"), (6_000_000, "wealth"))
#: contribution estimate (annual, yuan) = Σ rate × base — see docs/tags.md
CONTRIBUTION_RATES = {"deposit_adb": 0.015, "wealth": 0.006, "loan": 0.03, "card_spend_annual": 0.005}
NIGHT_HOURS = (22, 6)  # 22:00 ≤ t or t < 06:00


# ------------------------------------------------------------------ base row and sources
def base(t: Tables, a: AsOf) -> ir.Table:
    c = t["customer"]
    return c.filter(c.onboarded_on <= a.lit).mutate(key=c.customer_id)


def _balances(t: Tables, a: AsOf) -> ir.Table:
    b, acc = t["balance_monthly"], t["account"]
    ends = [a.month_end(k) for k in (0, 1, 2, 3, 6)]
    b = b.filter(b.month_end.isin(ends))
    acc = acc.filter(acc.customer_id.notnull()).select("account_id", "customer_id", "kind")
    j = b.join(acc, "account_id")
    return j.select(key=j.customer_id, month_end=j.month_end, kind=j.kind, balance=j.balance,
                    adb=j.avg_daily_balance, dpd=j.days_past_due)


def _transactions(t: Tables, a: AsOf) -> ir.Table:
    """The year before the as-of date: only ``days_since_last_txn`` needs to look back this far (a recency
    group: carried forward from the previous snapshot when the loads allow, see ``kequn.tags.store``)."""
    x = t["transaction"]
    x = x.filter(x.customer_id.notnull(), x.ts >= a.since_ts(365), x.ts < a.end_ts)
    return x.select(key=x.customer_id, ts=x.ts)


def _transactions_recent(t: Tables, a: AsOf) -> ir.Table:
    """The last 90 days: every windowed flow tag reads only this. A separate scan from the year's, because
    transactions arrive in time order, so the engine skips the older row groups (zone maps) and each
    of the ~20 filtered aggregates runs over a quarter of the rows."""
    x = t["transaction"]
    x = x.filter(x.customer_id.notnull(), x.ts >= a.since_ts(90), x.ts < a.end_ts)
    return x.select(key=x.customer_id, ts=x.ts, amount=x.amount, channel=x.channel, txn_type=x.txn_type)


def _spend_by_mcc(t: Tables, a: AsOf) -> ir.Table:
    x = t["transaction"]
    x = x.filter(x.customer_id.notnull(), x.ts >= a.since_ts(90), x.ts < a.end_ts, x.txn_type == "card_spend",
                 x.amount < 0, x.mcc.notnull())
    s = x.group_by(key=x.customer_id, mcc=x.mcc).aggregate(spend=(-x.amount).sum())
    # rank of each category by spend (ties by code): the top three are picked by rank, not by an ordered
    # collect, which Spark cannot compile
    return s.mutate(rank=ibis.row_number().over(group_by=s.key, order_by=[s.spend.desc(), s.mcc]))


def _top_categories(s: ir.Table, a: AsOf) -> ir.StringValue:
    """The three categories with the most spend, comma-separated, most first."""
    top = [s.mcc.max(where=s.rank == i) for i in range(3)]
    return top[0] + (ibis.literal(",") + top[1]).fill_null("") + (ibis.literal(",") + top[2]).fill_null("")


def _events(t: Tables, a: AsOf) -> ir.Table:
    """The last 30 days of app/web events (login days, app activity)."""
    e = t["event"]
    e = e.filter(e.ts >= a.since_ts(30), e.ts < a.end_ts)
    return e.select(key=e.customer_id, ts=e.ts, channel=e.channel)


def _logins(t: Tables, a: AsOf) -> ir.Table:
    """The year's logins (app or web events): a recency group, for ``days_since_last_login``."""
    e = t["event"]
    e = e.filter(e.ts >= a.since_ts(365), e.ts < a.end_ts, _is_login(e))
    return e.select(key=e.customer_id, ts=e.ts)


def _open_on(start: ir.DateValue, end: ir.DateValue, a: AsOf, *, end_inclusive: bool) -> ir.BooleanValue:
    still = end >= a.lit if end_inclusive else end > a.lit
    return (start <= a.lit) & (end.isnull() | still)


def _accounts(t: Tables, a: AsOf) -> ir.Table:
    acc = t["account"]
    acc = acc.filter(acc.customer_id.notnull(), _open_on(acc.opened_on, acc.closed_on, a, end_inclusive=False))
    return acc.select(key=acc.customer_id, product_id=acc.product_id, kind=acc.kind)


def _holdings(t: Tables, a: AsOf) -> ir.Table:
    h, p = t["holding"], t["product"]
    h = h.filter(_open_on(h.start_date, h.end_date, a, end_inclusive=True))
    j = h.join(p.select("product_id", "category"), "product_id")
    return j.select(key=j.customer_id, product_id=j.product_id, category=j.category)


def _payroll(t: Tables, a: AsOf) -> ir.Table:
    i, b = t["payroll_item"], t["payroll_batch"]
    b = b.filter(b.pay_date >= a.first_day(180), b.pay_date <= a.lit).select("batch_id", "enterprise_id", "pay_date")
    j = i.join(b, "batch_id")
    return j.select(key=j.customer_id, enterprise_id=j.enterprise_id, pay_date=j.pay_date, amount=j.amount)


def _merchants_owned(t: Tables, a: AsOf) -> ir.Table:
    m = t["merchant"]
    m = m.filter(m.owner_customer_id.notnull(), _open_on(m.onboarded_on, m.closed_on, a, end_inclusive=False))
    return m.select(key=m.owner_customer_id, merchant_id=m.merchant_id)


def _scores(t: Tables, a: AsOf) -> ir.Table | None:
    """Model scores written back by the models (``kequn.models.scoring``: table ``model_score`` with entity,
    customer_id, score_name, as_of, score, reasons, model); the latest score on or before the as-of day.
    ``None`` until a model has run."""
    if not t.has("model_score"):
        return None
    s = t["model_score"]
    s = s.filter(s.as_of <= a.lit)
    if "entity" in s.columns:  # merchant models store merchant ids with entity = 'merchant'
        s = s.filter(s.entity == "customer")
    return s.select(key=s.customer_id, score_name=s.score_name, as_of=s.as_of, score=s.score)


def _employer_links(t: Tables, a: AsOf) -> ir.Table:
    """Declared ``employer_employee`` links (enterprise → customer) valid on the as-of day."""
    r = t["relationship"]
    r = r.filter(r.kind == "employer_employee", r.from_type == "enterprise", r.to_type == "customer",
                 r.valid_from <= a.lit, r.valid_to.isnull() | (r.valid_to >= a.lit))
    return r.select(key=r.to_id, enterprise_id=r.from_id, since=r.valid_from)


def _latest(day: ir.DateValue, enterprise_id: ir.StringValue, where: ir.BooleanValue | None = None) -> ir.StringValue:
    """Aggregate: the enterprise of the latest ``day`` (ties: the largest enterprise id) — deterministic and
    portable: the max of 'YYYY-MM-DD|id', the id cut back out."""
    return (day.cast("string") + "|" + enterprise_id).max(where=where).substr(11)


def _gov_data(t: Tables, a: AsOf) -> ir.Table:
    """Government records (``gov_data``) received in the 365 days ending on the as-of day, of customers whose
    ``gov_data`` consent is in force at the end of that day: their latest consent record of that purpose (any
    channel) on or before the day is a grant (a grant and a withdrawal at the same instant: withdrawn)."""
    c = t["consent"]
    c = c.filter(c.purpose == "gov_data", c.effective_at < a.end_ts)
    last = c.group_by(_c=c.customer_id).aggregate(
        _g=c.effective_at.max(where=c.status == "granted"), _w=c.effective_at.max(where=c.status == "withdrawn"))
    ok = last.filter(last._g.notnull() & (last._w.isnull() | (last._g > last._w))).select("_c")
    g = t["gov_data"]
    g = g.filter(g.received_on >= a.first_day(365), g.received_on <= a.lit)
    j = g.join(ok, g.customer_id == ok._c)
    return j.select(key=j.customer_id, source=j.source, received_on=j.received_on)


GROUPS: tuple[Group, ...] = (
    Group("customer_balance", "customer", _balances),
    Group("customer_txn", "customer", _transactions, Recency("transaction")),
    Group("customer_txn_recent", "customer", _transactions_recent),
    Group("customer_spend_mcc", "customer", _spend_by_mcc),
    Group("customer_event", "customer", _events),
    Group("customer_login", "customer", _logins, Recency("event")),
    Group("customer_account", "customer", _accounts),
    Group("customer_holding", "customer", _holdings),
    Group("customer_payroll", "customer", _payroll),
    Group("customer_merchant", "customer", _merchants_owned),
    Group("customer_score", "customer", _scores),
    Group("customer_gov", "customer", _gov_data),
    Group("customer_employer", "customer", _employer_links),
)


# ------------------------------------------------------------------ declaration helpers
def _row(id_: str, fn) -> TagDef:  # type: ignore[no-untyped-def]
    return TagDef(id_, "customer", "row", fn)


def _agg(id_: str, group: str, fn, fill=None) -> TagDef:  # type: ignore[no-untyped-def]
    return TagDef(id_, "customer", "aggregate", fn, group=group, fill=fill)


def _der(id_: str, deps: tuple[str, ...], fn) -> TagDef:  # type: ignore[no-untyped-def]
    return TagDef(id_, "customer", "derived", fn, deps=deps)


def _money(x: ir.NumericValue) -> ir.NumericValue:
    return x.cast(MONEY)


def _age(c: ir.Table, a: AsOf) -> ir.IntegerValue:
    md = a.date.month * 100 + a.date.day
    before_birthday = (c.birth_date.month() * 100 + c.birth_date.day()) > md
    return a.date.year - c.birth_date.year() - ibis.ifelse(before_birthday, 1, 0)


def _tenure_months(c: ir.Table, a: AsOf) -> ir.IntegerValue:
    on = c.onboarded_on
    months = (a.date.year * 12 + a.date.month) - (on.year() * 12 + on.month())
    return (months - ibis.ifelse(on.day() > a.date.day, 1, 0)).cast("int64")


# balance group: which month end, which kinds
def _bal(month: int, kinds: tuple[str, ...], col: str = "balance"):  # type: ignore[no-untyped-def]
    def f(b: ir.Table, a: AsOf) -> ir.NumericValue:
        return _money(b[col].sum(where=(b.month_end == a.month_end(month)) & b.kind.isin(kinds)))
    return f


def _in(x: ir.Table, a: AsOf, days: int) -> ir.BooleanValue:
    return x.ts >= a.since_ts(days)


def _spend(x: ir.Table) -> ir.BooleanValue:
    return (x.txn_type == "card_spend") & (x.amount < 0)


def _spend_share(cond):  # type: ignore[no-untyped-def]
    def f(x: ir.Table, a: AsOf) -> ir.FloatingValue:
        spend = _spend(x) & _in(x, a, 90)
        return ratio((-x.amount).sum(where=spend & cond(x)), (-x.amount).sum(where=spend))
    return f


def _channel_count(channel: str):  # type: ignore[no-untyped-def]
    def f(x: ir.Table, a: AsOf) -> ir.IntegerValue:
        return x.count(where=(x.channel == channel) & _in(x, a, 90))
    return f


def _channel_preference(w: ir.Table, a: AsOf) -> ir.StringValue:
    """The channel with most transactions in 90 days; ties go to the first in the data model's channel order.
    (Counting the 8 channels side by side is ~3× cheaper than ``mode()`` and deterministic.)"""
    top = ibis.greatest(*(w[f"_ch_{c}"] for c in CHANNELS_TXN))
    return ibis.cases(*(((w[f"_ch_{c}"] == top) & (top > 0), c) for c in CHANNELS_TXN), else_=ibis.null("string"))


def _is_login(e: ir.Table) -> ir.BooleanValue:
    return e.channel.isin(("app", "web"))


def _score(name: str):  # type: ignore[no-untyped-def]
    def f(s: ir.Table, a: AsOf) -> ir.FloatingValue:
        return s.score.argmax(s.as_of, where=s.score_name == name).cast("float64")
    return f


def _lifecycle(w: ir.Table, a: AsOf) -> ir.StringValue:
    return ibis.cases(
        (w._closed, "churned"),
        (w.tenure_months < 3, "new"),
        ((w.txn_count_90d == 0) & (w.days_since_last_login.isnull() | (w.days_since_last_login > 90)), "dormant"),
        (w.aum_trend_3m <= -0.3, "declining"),
        (w.aum_trend_3m >= 0.2, "growing"),
        else_="mature",
    )


def _contribution(w: ir.Table, a: AsOf) -> ir.NumericValue:
    r = CONTRIBUTION_RATES
    est = (w._deposit_adb_90d.cast("float64") * r["deposit_adb"] + w.wealth_balance.cast("float64") * r["wealth"]
           + w.loan_balance.cast("float64") * r["loan"] + w.card_spend_90d.cast("float64") * 4 * r["card_spend_annual"])
    return est.round(2).cast(MONEY)


def _potential(w: ir.Table, a: AsOf) -> ir.StringValue:
    gap = w.money_in_90d.cast("float64") * 4 - w.aum.cast("float64")
    return ibis.cases((gap >= 200_000, "high"), (gap >= 50_000, "mid"), else_="low")


def _payday(w: ir.Table, a: AsOf) -> ir.StringValue:
    return ibis.cases(
        (w._pay_count_180d == 0, "none"),
        ((w._pay_count_180d >= 3) & (w._payday_sd <= 2), "regular"),
        else_="irregular",
    )


DEFS: tuple[TagDef, ...] = (
    # basic
    _row("age_band", lambda c, a: band(_age(c, a), AGE_BANDS, "65+")),
    _row("tenure_months", _tenure_months),
    _row("home_branch", lambda c, a: c.home_branch_id),
    _row("city", lambda c, a: c.city),
    _row("new_citizen_flag", lambda c, a: c.is_new_citizen.fill_null(False)),
    _row("_closed", lambda c, a: c.closed_on.notnull() & (c.closed_on <= a.lit)),
    # asset (month-end balances)
    _agg("aum", "customer_balance", _bal(0, ASSET_KINDS), fill=0),
    _agg("_aum_m1", "customer_balance", _bal(1, ASSET_KINDS), fill=0),
    _agg("_aum_m3", "customer_balance", _bal(3, ASSET_KINDS), fill=0),
    _agg("_aum_m6", "customer_balance", _bal(6, ASSET_KINDS), fill=0),
    _agg("deposit_balance", "customer_balance", _bal(0, ("deposit", "time_deposit")), fill=0),
    _agg("wealth_balance", "customer_balance", _bal(0, ("wealth",)), fill=0),
    _agg("loan_balance", "customer_balance", _bal(0, ("loan",)), fill=0),
    _agg("adb_30d", "customer_balance", _bal(0, ASSET_KINDS, "adb"), fill=0),
    _agg("_adb_m1", "customer_balance", _bal(1, ASSET_KINDS, "adb"), fill=0),
    _agg("_adb_m2", "customer_balance", _bal(2, ASSET_KINDS, "adb"), fill=0),
    _agg("_deposit_adb_90d", "customer_balance", lambda b, a: _money(b.adb.sum(
        where=b.month_end.isin([a.month_end(k) for k in (0, 1, 2)]) & b.kind.isin(("deposit", "time_deposit"))) / 3),
        fill=0),
    _agg("max_dpd", "customer_balance", lambda b, a: b.dpd.max(
        where=(b.month_end == a.month_end(0)) & b.kind.isin(("loan", "credit_card"))).cast("int64"), fill=0),
    _der("aum_trend_1m", ("aum", "_aum_m1"), lambda w, a: change(w.aum, w._aum_m1)),
    _der("aum_trend_3m", ("aum", "_aum_m3"), lambda w, a: change(w.aum, w._aum_m3)),
    _der("aum_trend_6m", ("aum", "_aum_m6"), lambda w, a: change(w.aum, w._aum_m6)),
    _der("adb_90d", ("adb_30d", "_adb_m1", "_adb_m2"), lambda w, a: ((w.adb_30d + w._adb_m1 + w._adb_m2) / 3).cast(MONEY)),
    _der("aum_tier", ("aum",), lambda w, a: band(w.aum, AUM_TIERS, "private")),
    _der("asset_potential_band", ("money_in_90d", "aum"), _potential),
    # behaviour: one scan of transaction (the 12 transaction tags)
    _agg("money_in_30d", "customer_txn_recent", lambda x, a: _money(x.amount.sum(where=(x.amount > 0) & _in(x, a, 30))), fill=0),
    _agg("money_in_90d", "customer_txn_recent", lambda x, a: _money(x.amount.sum(where=(x.amount > 0) & _in(x, a, 90))), fill=0),
    _agg("money_out_30d", "customer_txn_recent", lambda x, a: _money((-x.amount).sum(where=(x.amount < 0) & _in(x, a, 30))), fill=0),
    _agg("money_out_90d", "customer_txn_recent", lambda x, a: _money((-x.amount).sum(where=(x.amount < 0) & _in(x, a, 90))), fill=0),
    _agg("txn_count_30d", "customer_txn_recent", lambda x, a: x.count(where=_in(x, a, 30)), fill=0),
    _agg("txn_count_90d", "customer_txn_recent", lambda x, a: x.count(where=_in(x, a, 90)), fill=0),
    _agg("_txn_day_mask_30d", "customer_txn_recent", lambda x, a: day_mask(x.ts.date(), a, 30), fill=0),
    _der("active_days_30d", ("_txn_day_mask_30d",), lambda w, a: popcount(w._txn_day_mask_30d, 30)),
    *(_agg(f"_ch_{c}", "customer_txn_recent", _channel_count(c), fill=0) for c in CHANNELS_TXN),
    _der("channel_preference", tuple(f"_ch_{c}" for c in CHANNELS_TXN), _channel_preference),
    _agg("card_spend_90d", "customer_txn_recent", lambda x, a: _money((-x.amount).sum(where=_spend(x) & _in(x, a, 90))), fill=0),
    _agg("weekend_spend_share", "customer_txn_recent", _spend_share(lambda x: x.ts.day_of_week.index() >= 5)),
    _agg("night_spend_share", "customer_txn_recent",
         _spend_share(lambda x: (x.ts.hour() >= NIGHT_HOURS[0]) | (x.ts.hour() < NIGHT_HOURS[1]))),
    _agg("days_since_last_txn", "customer_txn", lambda x, a: days_between(a.date, x.ts.max().date())),
    _agg("top_spend_categories", "customer_spend_mcc", _top_categories),
    # behaviour: events
    _agg("days_since_last_login", "customer_login", lambda e, a: days_between(a.date, e.ts.max().date())),
    _agg("_login_day_mask_30d", "customer_event", lambda e, a: day_mask(e.ts.date(), a, 30, _is_login(e)), fill=0),
    _der("login_days_30d", ("_login_day_mask_30d",), lambda w, a: popcount(w._login_day_mask_30d, 30)),
    _agg("app_active_flag", "customer_event", lambda e, a: (e.channel == "app").any(where=_in(e, a, 30)), fill=False),
    # product holding
    _agg("_products_acc", "customer_account", lambda c, a: c.product_id.nunique(), fill=0),
    _agg("credit_card_holder", "customer_account", lambda c, a: (c.kind == "credit_card").any(), fill=False),
    _agg("loan_holder", "customer_account", lambda c, a: (c.kind == "loan").any(), fill=False),
    _agg("_wealth_acc", "customer_account", lambda c, a: (c.kind == "wealth").any(), fill=False),
    _agg("_products_hold", "customer_holding", lambda h, a: h.product_id.nunique(), fill=0),
    _agg("insurance_holder", "customer_holding", lambda h, a: (h.category == "insurance").any(), fill=False),
    _agg("_wealth_hold", "customer_holding", lambda h, a: h.category.isin(("wealth", "fund")).any(), fill=False),
    _der("products_held", ("_products_acc", "_products_hold"), lambda w, a: (w._products_acc + w._products_hold).cast("int64")),
    _der("wealth_holder", ("_wealth_acc", "_wealth_hold"), lambda w, a: w._wealth_acc | w._wealth_hold),
    _agg("payroll_flag", "customer_payroll", lambda p, a: (p.pay_date >= a.first_day(90)).any(), fill=False),
    _agg("_paid_employer", "customer_payroll", lambda p, a: _latest(p.pay_date, p.enterprise_id, p.pay_date >= a.first_day(90))),
    _agg("_declared_employer", "customer_employer", lambda r, a: _latest(r.since, r.enterprise_id)),
    _der("payroll_employer", ("_declared_employer", "_paid_employer"),
         lambda w, a: ibis.coalesce(w._declared_employer, w._paid_employer)),
    # Ibis types a decimal mean as the column's decimal and drops a cast to it, but the engines return DOUBLE
    # (DuckDB), decimal(22,6) (Spark) or unbounded NUMERIC (PostgreSQL): widen to 6 decimals, then round to
    # fen in decimal (half up on every engine; rounding the DOUBLE instead differs between engines at .xx5)
    _agg("salary_avg_90d", "customer_payroll",
         lambda p, a: _money(p.amount.mean(where=p.pay_date >= a.first_day(90)).cast("decimal(38,6)").round(2))),
    _agg("_pay_count_180d", "customer_payroll", lambda p, a: p.count(), fill=0),
    _agg("_payday_sd", "customer_payroll", lambda p, a: p.pay_date.day().cast("float64").std(how="pop")),
    _der("salary_band", ("salary_avg_90d",), lambda w, a: band(w.salary_avg_90d, SALARY_BANDS, "50k+")),
    _der("payday_regularity", ("_pay_count_180d", "_payday_sd"), _payday),
    # value, risk, lifecycle, relationship
    _der("contribution_estimate", ("_deposit_adb_90d", "wealth_balance", "loan_balance", "card_spend_90d"), _contribution),
    _der("overdue_flag", ("max_dpd",), lambda w, a: w.max_dpd > 0),
    _der("lifecycle_stage", ("_closed", "tenure_months", "txn_count_90d", "days_since_last_login", "aum_trend_3m"),
         _lifecycle),
    _agg("merchant_owner_flag", "customer_merchant", lambda m, a: m.count() > 0, fill=False),
    # consented government data
    _agg("medical_insurance_flag", "customer_gov", lambda g, a: (g.source == "medical_insurance").any(), fill=False),
    # model score slots (NULL until the models write ``model_score``)
    _agg("churn_risk", "customer_score", _score("churn_risk")),
    _agg("potential_score", "customer_score", _score("potential_score")),
    _agg("reward_sensitivity", "customer_score", _score("reward_sensitivity")),
    _agg("customer_value", "customer_score", _score("customer_value")),
)
