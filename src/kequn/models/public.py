"""Standard tasks on real public datasets, with Kequn's figures beside the published ones.

``kequn models benchmark-public DIR`` runs them on the folder of datasets (the layout of
``../shared/datasets``). Each task states its split. Nothing here is tuned on the test part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kequn.errors import NotFoundError
from kequn.models import metrics
from kequn.models.estimators import KequnClassifier


@dataclass
class TaskResult:
    task: str
    dataset: str
    split: str
    figures: dict[str, Any]
    published: dict[str, Any] = field(default_factory=dict)
    goal: str = ""
    met: bool | None = None


def _need(path: Path) -> Path:
    if not path.exists():
        raise NotFoundError(f"dataset file not found: {path}")
    return path


MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
#: calendar days looked back by the past-only campaign features
PAST_WINDOWS = (1, 3, 7, 30, 90)
PAST_COLUMNS = ("t_month", "dow", *(f"{k}_prev{w}d" for w in PAST_WINDOWS for k in ("calls", "rate")))


def bank_marketing_frame(path: Path, *, past: bool = False) -> tuple[Any, Any]:
    """UCI bank-full as (features, target): ``duration`` dropped (it is only known after the call).

    ``past=True`` adds features known before the call (see :func:`past_features`)."""
    import pandas as pd

    df = pd.read_csv(_need(path), sep=";")
    y = (df.pop("y") == "yes").astype(int)
    df = df.drop(columns=["duration"])
    if past:
        df = pd.concat([df, past_features(df, y)], axis=1)
    return df, y


def call_dates(df: Any) -> Any:
    """The call date of each row. bank-full gives day and month but no year; its rows are in call order
    from May 2008 to November 2010, so the year starts at 2008 and goes up by one whenever the month
    number falls (checked: the dates reconstructed this way never go backwards)."""
    import pandas as pd

    m = df["month"].map({name: i for i, name in enumerate(MONTHS, 1)}).to_numpy()
    year = 2008 + np.concatenate([[0], np.cumsum(np.diff(m) < 0)])
    d = pd.to_datetime(pd.DataFrame({"year": year, "month": m, "day": df["day"].to_numpy()}))
    if (d.diff().dt.days < 0).any():
        raise ValueError("bank-full rows are not in call order: the reconstructed dates go backwards")
    return d


def past_features(df: Any, y: Any) -> Any:
    """Features known before each call, computed from earlier rows only:

    - ``t_month`` (months since May 2008) and ``dow`` (day of week) from the reconstructed call date;
    - for the last 1 / 3 / 7 / 30 / 90 calendar days **before the call's day** (calls on the same day and later are
      never read): the number of calls the bank made (``calls_prev{n}d``) and their success rate,
      smoothed towards 10 % with 10 pseudo-calls (``rate_prev{n}d`` = (successes + 1) / (calls + 10)).
      The outcome of a call (subscribed or not) is known by the next day, so these are known at call time.
    """
    import pandas as pd

    date = call_dates(df)
    daily = pd.DataFrame({"date": date, "y": np.asarray(y)}).groupby("date")["y"].agg(["size", "sum"])
    days = daily.index.to_numpy()
    cum_n = np.concatenate([[0], np.cumsum(daily["size"].to_numpy())])
    cum_s = np.concatenate([[0], np.cumsum(daily["sum"].to_numpy())])
    end = np.searchsorted(days, days, side="left")  # calling days strictly before each day
    out = pd.DataFrame(index=df.index)
    out["t_month"] = ((date.dt.year - 2008) * 12 + date.dt.month).to_numpy()
    out["dow"] = date.dt.day_of_week.to_numpy()
    pos = np.searchsorted(days, date.to_numpy())
    for w in PAST_WINDOWS:
        start = np.searchsorted(days, days - np.timedelta64(w, "D"), side="left")
        n = (cum_n[end] - cum_n[start])[pos]
        s = (cum_s[end] - cum_s[start])[pos]
        out[f"calls_prev{w}d"] = n
        out[f"rate_prev{w}d"] = (s + 1.0) / (n + 10.0)
    return out


#: the rolling variant (features, window) chosen on the validation period (rows 60–80 %, the months before the
#: test part, same rolling protocol): past-only features with an expanding window had the best validation AUC
#: (with 7/30/90-day windows 0.680 against 0.661 past/recent, 0.635 plain/recent, 0.619 plain/expanding; adding
#: the 1- and 3-day windows raised it to 0.712, so :data:`PAST_WINDOWS` has them). ``rolling=True`` re-runs
#: the choice; tests run only this variant.
PRIMARY = ("past", "expanding")
RECENT_ROWS = 10_000


def task_bank_marketing(root: Path, *, test_share: float = 0.2, val_share: float = 0.2,
                        rolling: bool | str = True) -> TaskResult:
    """Out of time: rows are in call order (May 2008 → Nov 2010); the last 20 % of rows (11 May 2009 →
    Nov 2010) are the test part. Figures:

    - static: one model fitted on the first 80 %, with the file's columns (``plain``) or with the past-only
      features added (``past``, :func:`past_features`);
    - rolling (Moro et al.'s protocol): each calendar month of the test part is predicted by a model fitted on
      the rows before that month — all of them (``expanding``) or the latest 10,000 (``recent``); labels of
      earlier months are used once the month is over. AUC pooled over the whole test part.

    The headline figure is the rolling variant chosen on a validation period (rows 60–80 %, the same rolling
    protocol, the test part unseen): :data:`PRIMARY`. ``rolling=True`` runs all four variants on both periods
    and re-makes the choice; ``rolling="primary"`` runs only the primary variant (tests); ``False`` none.
    A random stratified 5-fold AUC is reported beside it to show how much time matters."""
    path = root / "bank_marketing" / "bank-full.csv"
    X, y = bank_marketing_frame(path, past=True)
    plain = [c for c in X.columns if c not in PAST_COLUMNS]
    cut = int(len(X) * (1 - test_share))
    vcut = int(len(X) * (1 - test_share - val_share))
    figures: dict[str, Any] = {"rows": len(X), "train": cut, "test": len(X) - cut,
                               "test_first_call": str(call_dates(X).iloc[cut].date()),
                               "base_rate_train": float(y[:cut].mean()), "base_rate_test": float(y[cut:].mean())}
    for kind in ("lightgbm", "logistic"):
        m = KequnClassifier(kind=kind, n_estimators=300, learning_rate=0.03).fit(X[plain].iloc[:cut], y.iloc[:cut])
        p = m.predict_proba(X[plain].iloc[cut:])[:, 1]
        figures[f"{kind}_oot_auc"] = metrics.roc_auc(y.iloc[cut:], p)
        figures[f"{kind}_oot_pr_auc"] = metrics.pr_auc(y.iloc[cut:], p)
    m = KequnClassifier(n_estimators=300, learning_rate=0.03).fit(X.iloc[:cut], y.iloc[:cut])
    figures["lightgbm_past_oot_auc"] = metrics.roc_auc(y.iloc[cut:], m.predict_proba(X.iloc[cut:])[:, 1])
    figures["lightgbm_random_5fold_auc"] = _cv_auc(X[plain], y, folds=5)
    cols = {"plain": plain, "past": list(X.columns)}
    primary = PRIMARY
    if rolling is True:
        val = {}
        for feats in cols:
            for window in ("expanding", "recent"):
                val[(feats, window)] = rolling_auc(X[cols[feats]], y, vcut, cut, window)
                figures[f"val_rolling_{feats}_{window}_auc"] = val[(feats, window)]
                figures[f"rolling_{feats}_{window}_auc"] = rolling_auc(X[cols[feats]], y, cut, len(X), window)
        primary = max(val, key=lambda k: val[k])
    elif rolling == "primary":
        figures[f"rolling_{primary[0]}_{primary[1]}_auc"] = rolling_auc(X[cols[primary[0]]], y, cut, len(X), primary[1])
    if rolling:
        figures["primary"] = f"rolling_{primary[0]}_{primary[1]}_auc"
        auc = figures[figures["primary"]]
    else:
        figures["primary"] = "lightgbm_past_oot_auc"
        auc = figures["lightgbm_past_oot_auc"]
    return TaskResult(
        "outbound-call response (AI 外呼)", "UCI bank-full (Moro et al. 2014)",
        "out of time: last 20 % of calls (11 May 2009 – Nov 2010) test; monthly re-training on all earlier rows; "
        "variant chosen on the preceding 20 %; duration excluded",
        figures, {"auc": 0.80, "source": "Moro, Cortez & Rita 2014 (2008–2013 data, rolling window, more features)"},
        "out-of-time AUC ≥ 0.80", bool(auc >= 0.80),
    )


def _month_blocks(t_month: Any, start: int, end: int) -> list[tuple[int, int]]:
    """Consecutive runs of the same calendar month in rows [start, end) (rows are in call order)."""
    m = np.asarray(t_month)
    edges = [start] + [i for i in range(start + 1, end) if m[i] != m[i - 1]] + [end]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def rolling_auc(X: Any, y: Any, start: int, end: int, window: str = "expanding") -> float:
    """Monthly re-training as Moro et al. did: each calendar month in rows [start, end) is predicted by a
    model fitted on the rows before that month — all of them (``expanding``) or the latest
    :data:`RECENT_ROWS` (``recent``). AUC pooled over rows [start, end)."""
    if window not in ("expanding", "recent"):
        raise ValueError(f"unknown window {window!r}: use 'expanding' or 'recent'")
    t_month = X["t_month"] if "t_month" in X.columns else past_features(X, y)["t_month"]
    preds = np.zeros(end - start)
    for a, b in _month_blocks(t_month, start, end):
        lo = 0 if window == "expanding" else max(0, a - RECENT_ROWS)
        m = KequnClassifier(calibrate=None, n_estimators=300, learning_rate=0.03).fit(X.iloc[lo:a], y.iloc[lo:a])
        preds[a - start:b - start] = m.predict_proba(X.iloc[a:b])[:, 1]
    return metrics.roc_auc(y.iloc[start:end], preds)


def _cv_auc(X: Any, y: Any, folds: int = 5, kind: str = "lightgbm", seed: int = 0) -> float:
    from sklearn.model_selection import StratifiedKFold

    aucs = []
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        m = KequnClassifier(kind=kind, calibrate=None, n_estimators=300, learning_rate=0.03)
        m.fit(X.iloc[tr], y.iloc[tr])
        aucs.append(metrics.roc_auc(y.iloc[te], m.predict_proba(X.iloc[te])[:, 1]))
    return float(np.mean(aucs))


def task_churn_modelling(root: Path) -> TaskResult:
    """Retail churn (Exited) on Churn_Modelling: stratified 5-fold cross-validated AUC."""
    import pandas as pd

    df = pd.read_csv(_need(root / "bank_customer_churn" / "Churn_Modelling.csv"))
    y = df.pop("Exited").astype(int)
    X = df.drop(columns=["RowNumber", "CustomerId", "Surname"])
    figures = {"rows": len(X), "base_rate": float(y.mean()),
               "lightgbm_5fold_auc": _cv_auc(X, y), "logistic_5fold_auc": _cv_auc(X, y, kind="logistic")}
    return TaskResult(
        "retail churn", "Churn_Modelling (10,000 customers)", "stratified 5-fold cross-validation, seed 0",
        figures, {"auc": "≈0.86 commonly reported for gradient boosting"}, "5-fold AUC ≥ 0.86",
        bool(figures["lightgbm_5fold_auc"] >= 0.86),
    )


def task_hillstrom(root: Path, *, n_boot: int = 200) -> TaskResult:
    """Reward sensitivity as uplift: Hillstrom women's e-mail vs no e-mail, outcome = visit.
    Random 70/30 split stratified by arm; Qini coefficient on the 30 % with a bootstrap 95 % interval."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from kequn.models.uplift import ClassTransformation, TLearner

    df = pd.read_csv(_need(root / "hillstrom_email" / "hillstrom.csv"))
    df = df[df["segment"].isin(["Womens E-Mail", "No E-Mail"])].reset_index(drop=True)
    t = (df["segment"] == "Womens E-Mail").astype(int).to_numpy()
    y = df["visit"].astype(int).to_numpy()
    X = df[["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel"]]
    idx_tr, idx_te = train_test_split(np.arange(len(df)), test_size=0.3, random_state=0, stratify=t)
    figures: dict[str, Any] = {"rows": len(df), "test_rows": len(idx_te),
                               "ate_visit_test": float(y[idx_te][t[idx_te] == 1].mean() - y[idx_te][t[idx_te] == 0].mean())}
    learners: dict[str, Callable[[], Any]] = {
        "t_learner": lambda: TLearner(KequnClassifier(calibrate=None, n_estimators=150, learning_rate=0.03)),
        "class_transformation": lambda: ClassTransformation(
            KequnClassifier(calibrate=None, n_estimators=150, learning_rate=0.03)),
    }
    primary = "t_learner"  # declared before looking at the test rows; the other is shown beside it
    for name, make in learners.items():
        model = make().fit(X.iloc[idx_tr], y[idx_tr], t[idx_tr])
        u = model.predict(X.iloc[idx_te])
        q, lo, hi = metrics.bootstrap_ci(metrics.qini_coefficient, y[idx_te], t[idx_te], u, n_boot=n_boot)
        figures[name] = {"qini": q, "qini_ci95": [lo, hi], "uplift_at_30pct": metrics.uplift_at_k(y[idx_te], t[idx_te], u, 0.3)}
    figures["primary"] = primary
    lo = figures[primary]["qini_ci95"][0]
    return TaskResult(
        "reward sensitivity (uplift)", "Hillstrom e-mail: women's e-mail vs none, visit",
        "random 70/30 split stratified by arm, seed 0; bootstrap 95 % CI over the test rows",
        figures, {"ate_visit": 0.045, "source": "MineThatData challenge (randomised average effect)"},
        "Qini above random with a CI excluding zero", bool(lo > 0),
    )


TASKS: tuple[tuple[str, Callable[[Path], TaskResult]], ...] = (
    ("bank_marketing", task_bank_marketing),
    ("churn_modelling", task_churn_modelling),
    ("hillstrom", task_hillstrom),
)


def run_public(root: Path, only: set[str] | None = None) -> list[TaskResult]:
    if not root.is_dir():
        raise NotFoundError(f"datasets folder not found: {root}")
    return [fn(root) for name, fn in TASKS if not only or name in only]
