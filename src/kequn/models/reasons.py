"""Reasons in plain words: each score's strongest feature contributions turned into sentences an RM reads
("近一季度登录天数较上季度下降70%").

Contributions are LightGBM's ``pred_contrib`` (SHAP values, averaged over the calibration folds' boosters)
or, for the logistic baseline, coefficient × standardised deviation from the training mean (one-hot levels
summed back to their column). The features pushing the score up most (positive contributions) become the
reasons, each through a sentence template; tags without a template read "<中文名>：<值>".
"""

from __future__ import annotations

import json
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
    return _linear_contributions(model, X, M)


def lightgbm_matrix(M: Any) -> np.ndarray:
    """The float matrix LightGBM predicts from for the frame ``M`` (``KequnClassifier._matrix``):
    categorical columns as their category codes (missing = NaN), others as float64."""
    import pandas as pd

    cols = []
    for c in M.columns:
        s = M[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            cols.append(codes)
        else:
            cols.append(s.to_numpy(dtype=np.float64, na_value=np.nan))
    return np.column_stack(cols) if cols else np.empty((len(M), 0))


def _trees(booster: Any) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per tree of a LightGBM booster: (split feature, threshold, categorical?) of its internal nodes, read
    from the model text (thresholds at full precision)."""
    trees: list[dict[str, list[str]]] = []
    for line in booster.model_to_string().splitlines():
        if line.startswith("Tree="):
            trees.append({})
        elif trees and line.startswith(("split_feature=", "threshold=", "decision_type=")):
            k, v = line.split("=", 1)
            trees[-1][k] = v.split()
    return [(np.array(t.get("split_feature", []), dtype=np.int64), np.array(t.get("threshold", []), dtype=float),
             (np.array(t.get("decision_type", []), dtype=np.int64) & 1).astype(bool)) for t in trees]


def _tree_contributions(booster: Any, A: np.ndarray) -> np.ndarray:
    """``booster.predict(A, pred_contrib=True)[:, :-1]`` computed tree by tree on one representative row per
    distinct decision pattern. Path-dependent TreeSHAP values of a tree depend on a row only through the
    side it takes at every split of that tree; rows are grouped by the interval of each split feature's value
    among that tree's thresholds (categorical: the category; NaN and zero apart), LightGBM computes the
    tree's contributions for one row per group, and those are added to every row of the group."""
    import pandas as pd

    n, F = A.shape
    trees = _trees(booster)
    nan = np.isnan(A)
    zero = np.abs(A) <= 1e-35
    # each numeric feature binned once against all thresholds of the booster; a tree maps those bins to its own
    cuts = {f: np.unique(np.concatenate([thr[(feat == f) & ~cat] for feat, thr, cat in trees]))
            for f in range(F)}
    bins = {}
    for f, ts in cuts.items():
        if ts.size:
            g = np.searchsorted(ts, A[:, f], side="left")
            bins[f] = np.where(nan[:, f], ts.size + 1, np.where(zero[:, f], ts.size + 2, g))
    out = np.zeros((n, F))
    for t, (feat, thr, cat) in enumerate(trees):
        if feat.size == 0:
            continue
        key = np.zeros(n, dtype=np.int64)
        size = 1
        for f in np.unique(feat):
            if cat[feat == f].any():
                local = np.where(nan[:, f], 0, np.nan_to_num(A[:, f], nan=-1).astype(np.int64) + 1)
                width = int(local.max()) + 1
            else:
                ts = np.unique(thr[(feat == f) & ~cat])
                g = cuts[f]  # global bin i holds g[i-1] < v <= g[i]; in this tree that is searchsorted(ts, g[i-1])
                lut = np.concatenate([[0], np.searchsorted(ts, g, side="right"), [ts.size + 1, ts.size + 2]])
                local, width = lut[bins[f]], ts.size + 3
            key = key * width + local
            size *= width
            if size > 1 << 40:
                key = pd.factorize(key)[0].astype(np.int64)
                size = int(key.max()) + 1
        group, uniq = pd.factorize(key)
        rep = np.empty(len(uniq), dtype=np.int64)
        rep[group] = np.arange(n)
        phi = np.asarray(booster.predict(A[rep], pred_contrib=True, start_iteration=t, num_iteration=1))[:, :-1]
        used_f = np.unique(feat)
        out[:, used_f] += phi[:, used_f][group]
    return out


def fast_contributions(model: Any, X: Any, *, check_rows: int = 32) -> np.ndarray:
    """:func:`contributions` for large batches: LightGBM contributions via :func:`_tree_contributions`
    (exact TreeSHAP per tree, computed once per decision pattern; equal up to floating-point summation
    order). A sample of ``check_rows`` rows is compared with LightGBM's own ``pred_contrib``; on any
    difference the plain path is used. The logistic baseline takes the plain path."""
    if model.kind != "lightgbm" or len(X) <= check_rows:
        return contributions(model, X)
    inner = model.model_
    M = model._matrix(X)
    A = lightgbm_matrix(M)
    boosters = [c.estimator for c in inner.calibrated_classifiers_] if hasattr(inner, "calibrated_classifiers_") \
        else [inner]
    out = np.zeros((len(X), len(X.columns)))
    for b in boosters:
        out += _tree_contributions(b.booster_, A)
    out /= len(boosters)
    sample = np.linspace(0, len(X) - 1, check_rows).astype(np.int64)
    if check_rows and not np.allclose(out[sample], contributions(model, X.iloc[sample]), rtol=1e-9, atol=1e-12):
        return contributions(model, X)
    return out


def _linear_contributions(model: Any, X: Any, M: Any) -> np.ndarray:
    inner = model.model_
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


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, index of each distinct value's first row): floats by their bit pattern (so -0.0 and 0.0, or
    two NaNs, are told apart exactly as a per-value call would see them), others by equality."""
    import pandas as pd

    keys = values.view(np.int64) if values.dtype == np.float64 else values
    codes, _ = pd.factorize(keys, use_na_sentinel=False)
    _, first = np.unique(codes, return_index=True)
    return codes, first


def reason_json(model: Any, X: Any, raw: Any, k: int = 3) -> np.ndarray:
    """For each row the JSON text of its ``k`` reasons — exactly ``json.dumps(top_reasons(...),
    ensure_ascii=False)`` per row, computed in batch: contributions and picks with numpy, each distinct
    (feature, value) sentence formatted and JSON-encoded once, rows joined from the encoded pieces."""
    cols = list(X.columns)
    picks = pick(fast_contributions(model, X), cols, k)
    enc = json.JSONEncoder(ensure_ascii=False).encode
    parts = np.full(picks.shape, None, dtype=object)
    for j in np.unique(picks[picks >= 0]):
        f = cols[j]
        rows, slots = np.nonzero(picks == j)
        if f in raw.columns:
            values = raw[f].to_numpy()[rows]
            codes, first = _distinct(values)
            encoded = np.array([enc(sentence(f, values[i])) for i in first] + [None], dtype=object)[:-1]
            parts[rows, slots] = encoded[codes]
        else:
            parts[rows, slots] = enc(sentence(f, None))
    out = np.full(len(X), "[", dtype=object)
    for s in range(picks.shape[1]):
        has = parts[:, s] != None  # noqa: E711 (element-wise on an object array)
        out[has] += (", " if s else "") + parts[has, s]
    out += "]"
    return out
