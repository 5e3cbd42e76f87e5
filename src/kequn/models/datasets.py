"""Training sets from point-in-time tag snapshots: features as of D, labels from the window after D.

Features of an entity as of D are its tag snapshot as of D (``tag_snapshot_<entity>``, computed by the tag
system from data known by the end of D) plus the change of a few activity tags against the snapshot one
month earlier (also point in time). Labels read only the window after D. Every label is defined in
:data:`TARGETS` (and in docs/models.md).

Snapshots missing for a requested date are computed on the way (approved tags only).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np

from kequn.errors import NotFoundError, ValidationError
from kequn.tags.model import AsOf

#: tags never used as features: ids, the model-score slots (models must not learn from models), labels of
#: the entity's own life cycle that would be trivially 0 for the eligible population, and tags derived from
#: government data (medical insurance: health-related, PIPL Art. 28) — consented for service and grouping,
#: not for model training without its own impact assessment (COMPLIANCE.md rule 12)
EXCLUDED = {"as_of", "customer_id", "merchant_id", "enterprise_id", "churn_risk", "potential_score",
            "reward_sensitivity", "customer_value", "payroll_employer", "top_spend_categories", "medical_insurance_flag"}
#: activity tags whose change against the snapshot one month (and three months) earlier is a feature
CHANGE_TAGS = {
    "customer": ("txn_count_30d", "login_days_30d", "active_days_30d", "money_in_30d", "money_out_30d", "aum",
                 "adb_30d", "card_spend_90d"),
    "merchant": ("turnover_30d", "sales_days_30d"),
}
OPENABLE_KINDS = ("time_deposit", "wealth", "credit_card", "loan", "insurance", "fund")


@dataclass(frozen=True)
class Target:
    name: str
    entity: str
    horizon_months: int
    description_zh: str
    description_en: str
    score_name: str  # the name written into model_score (the tag system's score slots read some of them)


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("retail_churn", "customer", 1, "未来一个月内销户（客户关系结束，closed_on 落在 D 之后的下一个自然月内）",
           "the customer closes (customer.closed_on) within the calendar month after D", "churn_risk"),
    Target("merchant_churn", "merchant", 1, "未来一个月内收单商户解约（merchant.closed_on 落在下一个自然月内）",
           "the acquiring merchant closes (merchant.closed_on) within the calendar month after D",
           "merchant_churn_risk"),
    Target("high_potential", "customer", 3, "三个月后月末资产（AUM）较 D 增长至少 20%",
           "AUM at the third month end after D is at least 1.2 × AUM at D (AUM at D > 0)", "potential_score"),
    *(Target(f"demand_{k}", "customer", 1, f"下一个自然月内新开 {k} 类产品（此前未持有）",
             f"opens a {k} product (account kind or holding category) in the calendar month after D, not held at D",
             f"demand_{k}") for k in OPENABLE_KINDS),
)}


def month_ends(first: dt.date, last: dt.date) -> list[dt.date]:
    """Month ends from ``first``'s month to ``last``'s month (inclusive)."""
    out, d = [], AsOf(first).month_end(0)
    if d < first:
        d = AsOf(d + dt.timedelta(days=40)).month_end(0)
    while d <= last:
        out.append(d)
        d = AsOf(d + dt.timedelta(days=40)).month_end(0)
    return out


def add_months(d: dt.date, k: int) -> dt.date:
    """The month end ``k`` months after the month end ``d``."""
    return AsOf(AsOf(d).month_end(0) + dt.timedelta(days=31 * k + 1)).month_end(0)


def target(name: str) -> Target:
    if name not in TARGETS:
        raise NotFoundError(f"no model target {name!r}; targets: {', '.join(TARGETS)}")
    return TARGETS[name]


def data_end(wh: Any) -> dt.date:
    """The last day with data in the warehouse (latest balance month end)."""
    b = wh.table("balance_monthly")
    v = b.month_end.max().execute()
    if v is None:
        raise NotFoundError("the warehouse has no balance_monthly rows: load data first (kequn load DIR)")
    return v.date() if isinstance(v, dt.datetime) else v


def data_start(wh: Any) -> dt.date:
    """The first balance month end in the warehouse."""
    v = wh.table("balance_monthly").month_end.min().execute()
    return v.date() if isinstance(v, dt.datetime) else v


def ensure_snapshots(wh: Any, entity: str, dates: list[dt.date]) -> None:
    """Compute the (approved-tag) snapshots of ``entity`` for the dates not yet computed."""
    from kequn.tags.approval import approved_ids
    from kequn.tags.catalog import default_catalog
    from kequn.tags.store import compute_entity, computed_dates
    from kequn.warehouse.schema import create_tables

    have = set(computed_dates(wh, entity))
    todo = [d for d in dates if d not in have]
    if not todo:
        return
    create_tables(wh)
    cat = default_catalog()
    specs = {i: cat[i] for i in approved_ids(cat)}
    for d in todo:
        compute_entity(wh, entity, d, specs)


def ensure_feature_snapshots(wh: Any, entity: str, dates: list[dt.date]) -> None:
    """The snapshots the features as of each date need: the date, one and three months before (within data)."""
    start = data_start(wh)
    ensure_snapshots(wh, entity, sorted({x for d in dates for x in (d, add_months(d, -1), add_months(d, -3))
                                         if x >= start}))


def _snapshot(wh: Any, entity: str, d: dt.date) -> Any:
    from kequn.tags.store import snapshot_table

    s = wh.table(snapshot_table(entity))
    return s.filter(s.as_of == ibis.date(d))


def features_expr(wh: Any, entity: str, d: dt.date) -> Any:
    """Ibis expression: the entity's features as of ``d`` (snapshot at d + changes vs 1 and 3 months earlier)."""
    from kequn.tags.store import computed_dates

    key = {"customer": "customer_id", "merchant": "merchant_id", "enterprise": "enterprise_id"}[entity]
    now = _snapshot(wh, entity, d)
    have = set(computed_dates(wh, entity))
    cols = {c: now[c] for c in now.columns}
    expr = now
    for back in (1, 3):
        prev_d = add_months(d, -back)
        if prev_d not in have:
            continue
        prev = _snapshot(wh, entity, prev_d)
        picks = [c for c in CHANGE_TAGS.get(entity, ()) if c in prev.columns]
        prev = prev.select(prev[key].name(f"_k{back}"), *[prev[c].cast("float64").name(f"_{c}_p{back}") for c in picks])
        expr = expr.left_join(prev, expr[key] == prev[f"_k{back}"])
        cols = {c: expr[c] for c in cols}
        for c in picks:
            cur, old = expr[c].cast("float64"), expr[f"_{c}_p{back}"]
            cols[f"{c}_chg_{back}m"] = ibis.ifelse(old > 0, (cur - old) / old, ibis.null("float64")).round(4)
            cols[f"{c}_prev_{back}m"] = old
        expr = expr.select(**cols)
        cols = {c: expr[c] for c in expr.columns}
    # money tags are DECIMAL in the warehouse: features are numbers (as DOUBLE), never text categories
    money = [c for c, t in expr.schema().items() if t.is_decimal()]
    return expr.mutate(**{c: expr[c].cast("float64") for c in money}) if money else expr


def _closed_in(wh: Any, table: str, key: str, d: dt.date, months: int) -> Any:
    t = wh.table(table)
    end = add_months(d, months)
    return t.select(t[key], label=((t.closed_on > ibis.date(d)) & (t.closed_on <= ibis.date(end))).fill_null(False))


def _aum_at(wh: Any, d: dt.date) -> Any:
    b, acc = wh.table("balance_monthly"), wh.table("account")
    acc = acc.filter(acc.customer_id.notnull(), acc.kind.isin(("deposit", "time_deposit", "wealth")))
    j = b.filter(b.month_end == ibis.date(d)).join(acc.select("account_id", "customer_id"), "account_id")
    return j.group_by("customer_id").aggregate(aum=j.balance.sum().cast("float64"))


def _opened_in(wh: Any, kind: str, d: dt.date) -> Any:
    """Customers opening a ``kind`` product in the month after d (accounts by kind, holdings by category)."""
    lo, hi = ibis.date(d), ibis.date(add_months(d, 1))
    if kind in ("insurance", "fund"):
        h, p = wh.table("holding"), wh.table("product")
        j = h.join(p.select("product_id", "category"), "product_id").filter(lambda t: t.category == kind)
        new = j.filter((j.start_date > lo) & (j.start_date <= hi)).select("customer_id")
        held = j.filter((j.start_date <= lo) & (j.end_date.isnull() | (j.end_date >= lo))).select("customer_id")
    else:
        a = wh.table("account").filter(lambda t: t.customer_id.notnull() & (t.kind == kind))
        new = a.filter((a.opened_on > lo) & (a.opened_on <= hi)).select("customer_id")
        held = a.filter((a.opened_on <= lo) & (a.closed_on.isnull() | (a.closed_on > lo))).select("customer_id")
    return new.distinct(), held.distinct()


def labels_expr(wh: Any, tgt: Target, d: dt.date) -> Any:
    """Ibis expression (key, label[, eligible]) for ``tgt`` as of ``d``: reads only the window after d."""
    if tgt.name == "retail_churn":
        return _closed_in(wh, "customer", "customer_id", d, 1)
    if tgt.name == "merchant_churn":
        return _closed_in(wh, "merchant", "merchant_id", d, 1)
    c = wh.table("customer").select("customer_id")
    if tgt.name == "high_potential":
        a0, a3 = _aum_at(wh, d), _aum_at(wh, add_months(d, 3)).rename(aum3="aum")
        j = c.left_join(a0, "customer_id").select("customer_id", "aum").left_join(a3, "customer_id")
        j = j.select("customer_id", "aum", "aum3")
        return j.select("customer_id", label=(j.aum3.fill_null(0) >= 1.2 * j.aum).fill_null(False),
                        eligible=j.aum.fill_null(0) > 0)
    kind = tgt.name.removeprefix("demand_")
    new, held = _opened_in(wh, kind, d)
    new = new.mutate(_new=ibis.literal(True))
    held = held.rename(_hk="customer_id").mutate(_held=ibis.literal(True))
    j = c.left_join(new, "customer_id").select("customer_id", "_new")
    j = j.left_join(held, j.customer_id == held._hk).select("customer_id", "_new", "_held")
    return j.select("customer_id", label=j._new.fill_null(False), eligible=~j._held.fill_null(False))


def frame(wh: Any, tgt: Target, d: dt.date) -> Any:
    """pandas frame of features as of d with ``label`` for the eligible entities (alive at d)."""
    key = "merchant_id" if tgt.entity == "merchant" else "customer_id"
    ensure_feature_snapshots(wh, tgt.entity, [d])
    f = features_expr(wh, tgt.entity, d)
    lab = labels_expr(wh, tgt, d).rename(_key=key)
    j = f.join(lab, f[key] == lab._key)
    if "eligible" in lab.columns:
        j = j.filter(j.eligible)
    alive_tag = "lifecycle_stage" if tgt.entity == "customer" else None
    if alive_tag and alive_tag in j.columns:
        j = j.filter(j[alive_tag] != "churned")
    if tgt.entity == "merchant":
        m = wh.table("merchant")
        alive = m.filter(m.closed_on.isnull() | (m.closed_on > ibis.date(d))).select(_mk=m.merchant_id)
        j = j.join(alive, j[key] == alive._mk)
    keep = [c for c in j.columns if c not in ("_key", "eligible", "_mk")]
    df = j.select(*keep).to_pandas()
    df["label"] = df["label"].astype(int)
    df["as_of"] = d
    return df.sort_values(key, kind="stable").reset_index(drop=True)


def feature_columns(df: Any) -> list[str]:
    return [c for c in df.columns if c not in EXCLUDED and c != "label" and not c.startswith("_")]


def prepare(df: Any, columns: list[str]) -> Any:
    """Feature matrix: numeric columns as float, booleans as 0/1, strings kept (categorical). Decimal
    objects (money read from a DECIMAL column) are numbers, not text."""
    from decimal import Decimal

    import pandas as pd

    X = pd.DataFrame(index=df.index)
    for c in columns:
        s = df[c] if c in df.columns else pd.Series(np.nan, index=df.index)
        kind = str(s.dtype)
        first = s.dropna().iloc[0] if kind == "object" and s.notna().any() else None
        if kind in ("bool", "boolean"):
            X[c] = s.astype("float64")
        elif isinstance(first, Decimal | int | float) and not isinstance(first, bool):
            X[c] = pd.to_numeric(s, errors="coerce").astype("float64")
        elif kind == "object" or kind.startswith("str") or kind == "string":
            X[c] = s.astype("string").astype(object)
        else:
            X[c] = pd.to_numeric(s, errors="coerce").astype("float64")
    return X


@dataclass
class TrainingSet:
    target: Target
    train: Any
    test: Any
    train_dates: list[dt.date]
    test_dates: list[dt.date]
    features: list[str]

    def fingerprint(self) -> str:
        """sha256 of the training rows (keys, dates, labels, features) — the registry's data fingerprint."""
        import pandas as pd

        h = hashlib.sha256()
        h.update(pd.util.hash_pandas_object(self.train.astype(str), index=False).to_numpy().tobytes())
        return h.hexdigest()


def matured_dates(wh: Any, tgt: Target, first: dt.date | None = None, last: dt.date | None = None) -> list[dt.date]:
    """Snapshot dates whose label window has ended by the data end."""
    end = data_end(wh)
    hi = add_months(end, -tgt.horizon_months)
    lo = first or add_months(hi, -6)
    return [d for d in month_ends(lo, min(hi, last or hi)) if add_months(d, tgt.horizon_months) <= end]


def build(wh: Any, name: str, *, dates: list[dt.date] | None = None, test_dates: int = 1) -> TrainingSet:
    """Out-of-time training set: train on the earlier dates, test on the last ``test_dates`` dates."""
    import pandas as pd

    tgt = target(name)
    dates = sorted(dates or matured_dates(wh, tgt))
    if len(dates) <= test_dates:
        raise ValidationError(f"{name}: need more than {test_dates} snapshot date(s) with matured labels, "
                              f"have {len(dates)} ({', '.join(map(str, dates)) or 'none'}); load more months")
    ensure_feature_snapshots(wh, tgt.entity, dates)
    frames = {d: frame(wh, tgt, d) for d in dates}
    tr_d, te_d = dates[:-test_dates], dates[-test_dates:]
    train = pd.concat([frames[d] for d in tr_d], ignore_index=True)
    test = pd.concat([frames[d] for d in te_d], ignore_index=True)
    return TrainingSet(tgt, train, test, tr_d, te_d, feature_columns(train))
