"""The shapes every tag definition takes: the as-of clock, source groups and registered tag expressions.

A tag is computed by one of three kinds of Ibis expression, all registered by id:

- **row** tags read the entity's own row (``customer``, ``enterprise``, ``merchant``) as of the date;
- **aggregate** tags belong to a :class:`Group` — one point-in-time-filtered source table that is scanned
  once, so all tags of a group compile to one ``GROUP BY`` (e.g. every transaction tag is one scan of
  ``transaction``);
- **derived** tags are computed on the wide row from other tags (bands, trends, lifecycle stage).

Ids starting with ``_`` are helpers (e.g. last month's AUM for a trend): computed, never published.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import ibis
import ibis.expr.types as ir

Entity = Literal["customer", "enterprise", "merchant"]
Kind = Literal["row", "aggregate", "derived"]

MONEY = "decimal(18,2)"
ENTITY_KEYS: dict[str, str] = {"customer": "customer_id", "enterprise": "enterprise_id", "merchant": "merchant_id"}


@dataclass(frozen=True)
class AsOf:
    """The as-of clock: a tag as of ``date`` uses only data known by the end of that day."""

    date: dt.date

    @property
    def lit(self) -> ir.DateScalar:
        return ibis.date(self.date)

    @property
    def end_ts(self) -> ir.TimestampScalar:
        """Exclusive upper bound for timestamps: midnight after ``date``."""
        return ibis.timestamp(dt.datetime.combine(self.date + dt.timedelta(days=1), dt.time()))

    def first_day(self, days: int) -> dt.date:
        """First day of the ``days``-day window ending on (and including) ``date``."""
        return self.date - dt.timedelta(days=days - 1)

    def since_ts(self, days: int) -> ir.TimestampScalar:
        return ibis.timestamp(dt.datetime.combine(self.first_day(days), dt.time()))

    def month_end(self, months_back: int = 0) -> dt.date:
        """The last month end on or before ``date``, or ``months_back`` month ends before it."""
        d = self.date
        m0 = d if (d + dt.timedelta(days=1)).day == 1 else d.replace(day=1) - dt.timedelta(days=1)
        y, m = divmod(m0.year * 12 + (m0.month - 1) - months_back, 12)
        first_next = dt.date(y + (m + 1) // 12, (m + 1) % 12 + 1, 1)
        return first_next - dt.timedelta(days=1)


class Tables:
    """Read access to the warehouse's canonical tables for tag expressions (``tables["transaction"]``)."""

    def __init__(self, wh: Any) -> None:
        self._wh = wh
        self._names = set(wh.con.list_tables())
        self._cache: dict[str, ir.Table] = {}

    def __getitem__(self, name: str) -> ir.Table:
        if name not in self._cache:
            self._cache[name] = self._wh.table(name)
        return self._cache[name]

    def has(self, name: str) -> bool:
        return name in self._names


@dataclass(frozen=True)
class Recency:
    """A group whose tags depend only on each key's latest ``ts`` in the ``days`` ending on the as-of day.

    Such a group is *incremental*: its per-key latest time as of D is the larger of the one kept as of an
    earlier day P (when still inside D's window) and the latest among rows dated after P — correct as long
    as no row dated on or before P arrived (or was replaced) since P was computed, which the loader's record
    of each batch's time range (``_load_batch.time_min`` for ``table``) tells.
    """

    table: str
    days: int = 365


@dataclass(frozen=True)
class Group:
    """One point-in-time source scanned once; its ``key`` column is the entity id.

    ``source`` returns ``None`` when its table does not exist (e.g. model scores before any model ran):
    the group's tags are then NULL.
    """

    name: str
    entity: Entity
    source: Callable[[Tables, AsOf], ir.Table | None]
    #: set for a *recency* group: its source is (``key``, ``ts``) over ``Recency.days`` and its tags read
    #: only ``max(ts)`` — so it can be carried forward from an earlier snapshot (see :class:`Recency`)
    recency: Recency | None = None


@dataclass(frozen=True)
class TagDef:
    """The computation of one tag (or helper), registered by id."""

    id: str
    entity: Entity
    kind: Kind
    expr: Callable[..., ir.Value]
    group: str | None = None
    deps: tuple[str, ...] = ()
    fill: Any = None  # value for entities with no rows in the group (e.g. 0 for sums, False for flags)

    @property
    def public(self) -> bool:
        return not self.id.startswith("_")


def days_between(later: ir.DateValue | dt.date, earlier: ir.DateValue) -> ir.IntegerValue:
    later_v = ibis.date(later) if isinstance(later, dt.date) else later
    return later_v.delta(earlier, unit="day")


def ratio(num: ir.NumericValue, den: ir.NumericValue, digits: int = 4) -> ir.FloatingValue:
    """num / den as a float rounded to ``digits``; NULL when den is 0 or NULL."""
    d = den.cast("float64")
    return ibis.ifelse(d == 0, ibis.null("float64"), num.cast("float64") / d).round(digits)


def change(now: ir.NumericValue, before: ir.NumericValue) -> ir.FloatingValue:
    """Relative change (now − before) / before; NULL when before ≤ 0."""
    b = before.cast("float64")
    return ibis.ifelse(b > 0, (now.cast("float64") - b) / b, ibis.null("float64")).round(4)


def day_mask(day: ir.DateValue, a: AsOf, days: int, where: ir.BooleanValue | None = None) -> ir.IntegerValue:
    """Aggregate: a bit per day of the ``days``-day window ending on the as-of day (bit 0 = first day) that
    has a row. With :func:`popcount` it counts distinct active days ~1.7× faster than ``COUNT(DISTINCT
    date)`` in a grouped aggregate, on DuckDB, PostgreSQL and Spark alike (``days`` ≤ 62)."""
    first = a.first_day(days)
    inside = (day >= first) & (day <= a.date)
    if where is not None:
        inside = inside & where
    bit = ibis.ifelse(inside, ibis.literal(1, "int64") << day.delta(ibis.date(first), unit="day").cast("int32"),
                      ibis.null("int64"))
    return bit.bit_or()


def popcount(mask: ir.IntegerValue, bits: int) -> ir.IntegerValue:
    """Number of set bits among the low ``bits`` bits of ``mask`` (0 for NULL)."""
    m = mask.fill_null(0)
    return functools.reduce(operator.add, (((m >> ibis.literal(i, "int32")) & 1) for i in range(bits))).cast("int64")


def band(value: ir.NumericValue, edges: tuple[tuple[float, str], ...], top: str) -> ir.StringValue:
    """The label of the first ``(upper, label)`` with value < upper, else ``top``; NULL stays NULL."""
    return ibis.cases(
        *((value < upper, label) for upper, label in edges),
        else_=ibis.ifelse(value.isnull(), ibis.null("string"), ibis.literal(top)),
    )
