"""The relationship graph (关系图谱) and the panorama (全景图) figures, as Ibis expressions.

Edges come from two places in the warehouse:

- ``relationship`` — typed links valid from ``valid_from`` to ``valid_to`` (empty = still holds):
  enterprise → customer (``employer_employee``), merchant → customer (``merchant_owner``),
  customer ↔ customer (``household``, ``guarantor``), programme → enterprise / customer (``programme_member``);
- payroll (``payroll_batch`` + ``payroll_item``) — who was actually paid by which enterprise. "On payroll"
  as of D means paid in a batch dated in the ``window_days`` days ending on D (default 31).

Every function returns an unexecuted Ibis table; callers execute it (or embed it in a bigger expression).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis

from kequn.domain.datamodel import PRODUCT_CATEGORIES

PAYROLL_WINDOW_DAYS = 31
APP_ACTIVE_DAYS = 30


def _window(as_of: dt.date, days: int, offset: int = 0) -> tuple[dt.date, dt.date]:
    """Inclusive first and last day of the ``days``-day window ending ``offset`` days before ``as_of``."""
    last = as_of - dt.timedelta(days=offset)
    return last - dt.timedelta(days=days - 1), last


def _nullable(t: Any) -> Any:
    """The same table with every column nullable (set operations need equal schemas)."""
    return t.cast({c: dtype.copy(nullable=True) for c, dtype in t.schema().items()})


def edges(wh: Any, as_of: dt.date, kind: str | None = None) -> Any:
    """Relationship edges valid on ``as_of`` (optionally of one kind)."""
    r = wh.table("relationship")
    d = ibis.date(as_of)
    r = r.filter(r.valid_from <= d, r.valid_to.isnull() | (r.valid_to >= d))
    return r.filter(r.kind == kind) if kind else r


def employer_of(wh: Any, as_of: dt.date | None) -> Any:
    """(customer_id, enterprise_id): each customer's employer (代发单位) as of the date — exactly the customer
    tag ``payroll_employer``, computed by the tag engine's own registered expression: the latest-starting
    ``employer_employee`` link valid on the day, else the enterprise of the latest payroll in 90 days
    (ties: the largest enterprise id). The rule language's ``employer.`` relation is the same tag."""
    from kequn.tags.build import profile_expr
    from kequn.tags.model import Tables

    t = profile_expr("customer", Tables(wh), as_of or dt.date.today(), ["payroll_employer"])
    t = t.filter(t.payroll_employer.notnull())
    return t.select("customer_id", enterprise_id=t.payroll_employer)


def payroll_pairs(wh: Any, as_of: dt.date, days: int = PAYROLL_WINDOW_DAYS, offset: int = 0) -> Any:
    """(enterprise_id, customer_id, last_paid): employees paid by each enterprise in the window."""
    first, last = _window(as_of, days, offset)
    b = wh.table("payroll_batch")
    b = b.filter(b.pay_date >= ibis.date(first), b.pay_date <= ibis.date(last))
    i = wh.table("payroll_item")
    j = i.join(b, i.batch_id == b.batch_id)
    return j.group_by([j.enterprise_id, j.customer_id]).aggregate(last_paid=j.pay_date.max())


def holdings(wh: Any, as_of: dt.date) -> Any:
    """(customer_id, product_id, category): what each customer holds on ``as_of`` (accounts and holdings)."""
    d = ibis.date(as_of)
    p = wh.table("product").select("product_id", "category")
    a = wh.table("account")
    a = a.filter(a.customer_id.notnull(), a.opened_on <= d, a.closed_on.isnull() | (a.closed_on > d),
                 a.status != "closed")
    h = wh.table("holding")
    h = h.filter(h.start_date <= d, h.end_date.isnull() | (h.end_date >= d))
    both = _nullable(a.select("customer_id", "product_id")).union(_nullable(h.select("customer_id", "product_id")))
    j = both.join(p, both.product_id == p.product_id)
    return j.select("customer_id", "product_id", "category").distinct()


def app_active(wh: Any, as_of: dt.date, days: int = APP_ACTIVE_DAYS) -> Any:
    """(customer_id): customers with an app event in the ``days`` days ending on ``as_of``."""
    first, last = _window(as_of, days)
    e = wh.table("event")
    e = e.filter(e.channel == "app", e.ts >= ibis.timestamp(dt.datetime.combine(first, dt.time())),
                 e.ts < ibis.timestamp(dt.datetime.combine(last + dt.timedelta(days=1), dt.time())))
    return e.select("customer_id").distinct()


def _ratio(num: Any, den: Any) -> Any:
    return ibis.ifelse(den == 0, ibis.null("float64"), num.cast("float64") / den.cast("float64")).round(4)


def _count_true(flag: Any) -> Any:
    """How many rows have ``flag`` TRUE (NULL counts as false); portable (PostgreSQL cannot cast bool)."""
    return ibis.ifelse(flag.fill_null(False), 1, 0).sum().cast("int64")


def panorama(wh: Any, as_of: dt.date, enterprise_id: str | None = None,
             categories: tuple[str, ...] = PRODUCT_CATEGORIES) -> Any:
    """Per enterprise: employees on payroll, holders and penetration of each product category, app-active
    employees and their share (渗透率). One row per enterprise with anyone on payroll."""
    emp = payroll_pairs(wh, as_of).select("enterprise_id", "customer_id")
    if enterprise_id is not None:
        emp = emp.filter(emp.enterprise_id == enterprise_id)
    hold = holdings(wh, as_of).select("customer_id", "category").distinct()
    hold_flags = hold.group_by("customer_id").aggregate(
        **{f"_h_{c}": (hold.category == c).any() for c in categories})
    act = app_active(wh, as_of).mutate(_app=ibis.literal(True))
    j = emp.left_join(hold_flags, emp.customer_id == hold_flags.customer_id).drop("customer_id_right")
    j = j.left_join(act, j.customer_id == act.customer_id).drop("customer_id_right")
    metrics: dict[str, Any] = {"employees": j.customer_id.nunique(), "app_active": _count_true(j._app)}
    for c in categories:
        metrics[f"holders_{c}"] = _count_true(j[f"_h_{c}"])
    agg = j.group_by("enterprise_id").aggregate(**metrics)
    out = agg.mutate(app_penetration=_ratio(agg.app_active, agg.employees),
                     **{f"penetration_{c}": _ratio(agg[f"holders_{c}"], agg.employees) for c in categories})
    ent = wh.table("enterprise").select("enterprise_id", "name", "industry", "size")
    return out.left_join(ent, out.enterprise_id == ent.enterprise_id).drop("enterprise_id_right")


def employee_facts(wh: Any, as_of: dt.date, enterprise_id: str,
                   categories: tuple[str, ...] = PRODUCT_CATEGORIES) -> Any:
    """One row per employee on payroll at ``enterprise_id`` (the panorama's B→C graph): customer_id,
    last_paid, ``h_<category>`` (holds a product of that category on the day), ``products`` (how many of
    ``categories`` they hold) and ``app_active`` — the same definitions as :func:`panorama`."""
    emp = payroll_pairs(wh, as_of)
    emp = emp.filter(emp.enterprise_id == enterprise_id).select("customer_id", "last_paid")
    hold = holdings(wh, as_of).select("customer_id", "category").distinct()
    flags = hold.group_by("customer_id").aggregate(**{f"h_{c}": (hold.category == c).any() for c in categories})
    act = app_active(wh, as_of).mutate(_app=ibis.literal(True))
    j = emp.left_join(flags, emp.customer_id == flags.customer_id).drop("customer_id_right")
    j = j.left_join(act, j.customer_id == act.customer_id).drop("customer_id_right")
    held = {f"h_{c}": j[f"h_{c}"].fill_null(False) for c in categories}
    count = sum((ibis.ifelse(v, 1, 0) for v in held.values()), ibis.literal(0))
    return j.select("customer_id", "last_paid", **held, products=count.cast("int64"),
                    app_active=j._app.fill_null(False))


def programmes_of(wh: Any, as_of: dt.date, enterprise_id: str) -> Any:
    """(programme_id): the government programmes ``enterprise_id`` is a member of on the day."""
    e = edges(wh, as_of, "programme_member")
    e = e.filter(e.from_type == "programme", e.to_type == "enterprise", e.to_id == enterprise_id)
    return e.select(programme_id=e.from_id).distinct()


def employees_without(wh: Any, enterprise_id: str, product: str, as_of: dt.date) -> Any:
    """(customer_id): employees on payroll at ``enterprise_id`` who hold no ``product`` — a product
    category (e.g. ``credit_card``) or a product id."""
    emp = payroll_pairs(wh, as_of)
    emp = emp.filter(emp.enterprise_id == enterprise_id).select("customer_id")
    h = holdings(wh, as_of)
    field = "category" if product in PRODUCT_CATEGORIES else "product_id"
    holders = h.filter(h[field] == product).select("customer_id")
    return emp.anti_join(holders, "customer_id").distinct()


def headcount_change(wh: Any, as_of: dt.date, days: int = PAYROLL_WINDOW_DAYS) -> Any:
    """Per enterprise: employees paid in the window ending on ``as_of`` (``headcount``) and in the window
    before it (``previous``), with the change."""
    cur = payroll_pairs(wh, as_of, days).group_by("enterprise_id").aggregate(headcount=ibis._.customer_id.nunique())
    prev = payroll_pairs(wh, as_of, days, offset=days).group_by("enterprise_id").aggregate(
        previous=ibis._.customer_id.nunique())
    j = prev.outer_join(cur, prev.enterprise_id == cur.enterprise_id)
    j = j.select(enterprise_id=ibis.coalesce(j.enterprise_id, j.enterprise_id_right),
                 previous=j.previous.fill_null(0), headcount=j.headcount.fill_null(0))
    return j.mutate(change=j.headcount - j.previous)


def headcount_fell(wh: Any, as_of: dt.date, days: int = PAYROLL_WINDOW_DAYS, min_drop: int = 1) -> Any:
    """Enterprises whose payroll headcount fell by at least ``min_drop`` from the previous window."""
    c = headcount_change(wh, as_of, days)
    ent = wh.table("enterprise").select("enterprise_id", "name", "industry")
    fell = c.filter(c.change <= -min_drop)
    return fell.left_join(ent, fell.enterprise_id == ent.enterprise_id).drop("enterprise_id_right")


def chains(wh: Any, as_of: dt.date, programme_id: str | None = None) -> Any:
    """G→B→C: government programme → member enterprises → their employees on payroll (one row per
    programme and enterprise, with the number of employees)."""
    e = edges(wh, as_of, "programme_member")
    e = e.filter(e.from_type == "programme", e.to_type == "enterprise")
    if programme_id is not None:
        e = e.filter(e.from_id == programme_id)
    pe = e.select(programme_id=e.from_id, enterprise_id=e.to_id).distinct()
    emp = payroll_pairs(wh, as_of).group_by("enterprise_id").aggregate(employees=ibis._.customer_id.nunique())
    j = pe.left_join(emp, pe.enterprise_id == emp.enterprise_id).drop("enterprise_id_right")
    prog = wh.table("programme").select("programme_id", programme_name="name")
    ent = wh.table("enterprise").select("enterprise_id", enterprise_name="name")
    j = j.left_join(prog, j.programme_id == prog.programme_id).drop("programme_id_right")
    j = j.left_join(ent, j.enterprise_id == ent.enterprise_id).drop("enterprise_id_right")
    return j.mutate(employees=j.employees.fill_null(0))


def chain_members(wh: Any, as_of: dt.date, programme_id: str) -> Any:
    """(programme_id, enterprise_id, customer_id): every G→B→C path of one programme."""
    e = edges(wh, as_of, "programme_member")
    e = e.filter(e.from_type == "programme", e.to_type == "enterprise", e.from_id == programme_id)
    pe = e.select(programme_id=e.from_id, enterprise_id=e.to_id).distinct()
    emp = payroll_pairs(wh, as_of).select("enterprise_id", "customer_id")
    return pe.join(emp, pe.enterprise_id == emp.enterprise_id).select("programme_id", pe.enterprise_id,
                                                                       "customer_id")


def neighbours(wh: Any, party_type: str, party_id: str, as_of: dt.date, kind: str | None = None) -> Any:
    """Every party linked to one party on ``as_of``: (direction, kind, other_type, other_id)."""
    e = edges(wh, as_of, kind)
    out_ = e.filter(e.from_type == party_type, e.from_id == party_id).select(
        direction=ibis.literal("out"), kind=e.kind, other_type=e.to_type, other_id=e.to_id)
    in_ = e.filter(e.to_type == party_type, e.to_id == party_id).select(
        direction=ibis.literal("in"), kind=e.kind, other_type=e.from_type, other_id=e.from_id)
    return _nullable(out_).union(_nullable(in_))
