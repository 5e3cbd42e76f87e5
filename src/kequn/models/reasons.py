"""Reasons in plain words: each score's strongest feature contributions turned into sentences an RM reads
("近一季度登录天数较上季度下降70%").

Contributions are LightGBM's ``pred_contrib`` (SHAP values, averaged over the calibration folds' boosters)
or, for the logistic baseline, coefficient × standardised deviation from the training mean (one-hot levels
summed back to their column). The features pushing the score up most (positive contributions) become the
reasons, each through a sentence template; tags without a template read "<中文名>：<值>".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Chinese names of the activity tags that get change features (``<tag>_chg_<n>m``)
CHANGE_NAMES = {
    "txn_count_30d": "近30天交易笔数", "login_days_30d": "近30天登录天数", "active_days_30d": "近30天活跃天数",
    "money_in_30d": "近30天资金流入", "money_out_30d": "近30天资金流出", "aum": "月末资产", "adb_30d": "月日均资产",
    "card_spend_90d": "近90天刷卡消费", "turnover_30d": "近30天收单流水", "sales_days_30d": "近30天有交易天数",
}
PERIOD = {"1m": "上月", "3m": "上季度"}
LIFECYCLE_ZH = {"new": "新客", "dormant": "沉睡", "declining": "衰退", "growing": "成长", "mature": "成熟",
                "churned": "已流失"}


def _pct(v: float) -> str:
    return f"{abs(v) * 100:.0f}%"


def _updown(v: float) -> str:
    return "下降" if v < 0 else "上升"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _template(feature: str, v: Any) -> str | None:
    """The sentence for one feature value, or None when the feature has no template."""
    if feature.endswith(("_chg_1m", "_chg_3m")):
        base, per = feature.rsplit("_chg_", 1)
        if _missing(v):
            return None
        return f"{CHANGE_NAMES.get(base, base)}较{PERIOD[per]}{_updown(v)}{_pct(v)}"
    if feature.startswith("aum_trend_"):
        n = feature.removeprefix("aum_trend_").removesuffix("m")
        return None if _missing(v) else f"资产较{n}个月前{_updown(v)}{_pct(v)}"
    if feature == "turnover_trend":
        return None if _missing(v) else f"近30天收单流水较前30天{_updown(v)}{_pct(v)}"
    simple = {
        "days_since_last_txn": lambda x: f"已{int(x)}天没有交易" if not _missing(x) else "近一年没有交易",
        "days_since_last_login": lambda x: f"已{int(x)}天未登录手机银行/网银" if not _missing(x) else "近一年未登录手机银行",
        "days_since_last_sale": lambda x: f"已{int(x)}天没有收单交易" if not _missing(x) else "近一年没有收单交易",
        "tenure_months": lambda x: f"成为本行客户{int(x)}个月",
        "products_held": lambda x: f"持有{int(x)}个产品",
        "payroll_flag": lambda x: "近90天有代发工资入账" if x else "近90天无代发工资入账",
        "app_active_flag": lambda x: "近30天使用过手机银行" if x else "近30天未使用手机银行",
        "lifecycle_stage": lambda x: f"生命周期阶段为「{LIFECYCLE_ZH.get(str(x), x)}」",
        "txn_count_30d": lambda x: f"近30天交易{int(x)}笔",
        "login_days_30d": lambda x: f"近30天登录{int(x)}天",
        "sales_days_30d": lambda x: f"近30天有交易的天数为{int(x)}天",
    }
    if feature in simple and not (_missing(v) and feature not in ("days_since_last_txn", "days_since_last_login",
                                                                   "days_since_last_sale")):
        return simple[feature](v)
    return None


def _fallback(feature: str, v: Any) -> str:
    from kequn.tags.catalog import default_catalog

    cat = default_catalog()
    if feature.endswith(("_prev_1m", "_prev_3m")):
        base, per = feature.rsplit("_prev_", 1)
        name = f"{PERIOD[per]}的{CHANGE_NAMES.get(base, base)}"
        return f"{name}：{'无' if _missing(v) else round(float(v), 2)}"
    spec = cat.get(feature)
    name = spec.name_zh if spec is not None else feature
    if _missing(v):
        return f"{name}：无"
    shown = spec.label(v) if spec is not None else v
    if isinstance(shown, float):
        shown = round(shown, 4)
    return f"{name}：{shown}"


def sentence(feature: str, value: Any) -> str:
    """One plain-Chinese reason for ``feature`` having ``value``."""
    if isinstance(value, np.generic):
        value = value.item()
    return _template(feature, value) or _fallback(feature, value)


def contributions(model: Any, X: Any) -> np.ndarray:
    """(n rows, n columns of X) contribution of each column to each row's score (log-odds scale)."""
    inner = model.model_
    M = model._matrix(X)
    if model.kind == "lightgbm":
        boosters = [c.estimator for c in inner.calibrated_classifiers_] if hasattr(inner, "calibrated_classifiers_") \
            else [inner]
        out = np.zeros((len(X), len(X.columns)))
        for b in boosters:
            out += np.asarray(b.predict(M, pred_contrib=True))[:, :-1]
        return out / len(boosters)
    pipes = [c.estimator for c in inner.calibrated_classifiers_] if hasattr(inner, "calibrated_classifiers_") else [inner]
    names = model.prep_.linear_feature_names()
    cols = list(X.columns)
    owner = np.array([next(i for i, c in enumerate(cols) if n == c or n.startswith(f"{c}=")) for n in names])
    total = np.zeros((len(X), len(cols)))
    for p in pipes:
        scaler, lr = p[0], p[-1]
        z = (M - scaler.mean_) / np.where(scaler.scale_ == 0, 1, scaler.scale_)
        contrib = z * lr.coef_[0]
        for j in range(len(cols)):
            total[:, j] += contrib[:, owner == j].sum(axis=1)
    return total / len(pipes)


def _base(feature: str) -> str:
    return feature.split("_chg_")[0].split("_prev_")[0]


def pick(C: np.ndarray, columns: list[str], k: int = 3) -> np.ndarray:
    """(n, k) column indices of each row's strongest positive contributions (-1 = none), one per base tag
    (``aum`` and ``aum_chg_1m`` do not both appear). Vectorised over rows."""
    n = C.shape[0]
    base_ids = {b: i for i, b in enumerate(dict.fromkeys(_base(c) for c in columns))}
    base_of = np.array([base_ids[_base(c)] for c in columns])
    order = np.argsort(-C, axis=1)[:, : k * 3]
    picks = np.full((n, k), -1)
    bases = np.full((n, k), -1)
    count = np.zeros(n, dtype=int)
    rows = np.arange(n)
    for s in range(order.shape[1]):
        j = order[:, s]
        ok = (C[rows, j] > 0) & (count < k) & ~(bases == base_of[j][:, None]).any(axis=1)
        r = rows[ok]
        picks[r, count[r]] = j[ok]
        bases[r, count[r]] = base_of[j[ok]]
        count[ok] += 1
    return picks


def top_reasons(model: Any, X: Any, raw: Any, k: int = 3) -> list[list[str]]:
    """For each row the ``k`` strongest score-raising reasons as sentences (``raw`` holds the shown values)."""
    cols = list(X.columns)
    picks = pick(contributions(model, X), cols, k)
    text = np.full(picks.shape, None, dtype=object)
    for j in np.unique(picks[picks >= 0]):
        f = cols[j]
        values = raw[f].to_numpy() if f in raw.columns else np.full(len(raw), None)
        where = np.nonzero(picks == j)
        text[where] = [sentence(f, values[i]) for i in where[0]]
    return [[t for t in row if t is not None] for row in text]
