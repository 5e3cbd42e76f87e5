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


def bank_marketing_frame(path: Path) -> tuple[Any, Any]:
    """UCI bank-full as (features, target): ``duration`` dropped (it is only known after the call)."""
    import pandas as pd

    df = pd.read_csv(_need(path), sep=";")
    y = (df.pop("y") == "yes").astype(int)
    df = df.drop(columns=["duration"])
    return df, y


def task_bank_marketing(root: Path, *, test_share: float = 0.2, rolling: bool = True) -> TaskResult:
    """Out-of-time: rows are in call order (May 2008 → Nov 2010); train on the first 80 %, test on the
    last 20 %. A random stratified 5-fold AUC is reported beside it to show how much time matters;
    ``rolling`` adds monthly re-training (38 more fits — the benchmark command runs it, tests skip it)."""
    X, y = bank_marketing_frame(root / "bank_marketing" / "bank-full.csv")
    cut = int(len(X) * (1 - test_share))
    figures: dict[str, Any] = {"rows": len(X), "train": cut, "test": len(X) - cut,
                               "base_rate_train": float(y[:cut].mean()), "base_rate_test": float(y[cut:].mean())}
    for kind in ("lightgbm", "logistic"):
        m = KequnClassifier(kind=kind, n_estimators=300, learning_rate=0.03).fit(X.iloc[:cut], y.iloc[:cut])
        p = m.predict_proba(X.iloc[cut:])[:, 1]
        figures[f"{kind}_oot_auc"] = metrics.roc_auc(y.iloc[cut:], p)
        figures[f"{kind}_oot_pr_auc"] = metrics.pr_auc(y.iloc[cut:], p)
    figures["lightgbm_random_5fold_auc"] = _cv_auc(X, y, folds=5)
    if rolling:
        figures.update(rolling_auc(X, y, cut))
    auc = figures["lightgbm_oot_auc"]
    return TaskResult(
        "outbound-call response (AI 外呼)", "UCI bank-full (Moro et al. 2014)",
        "out-of-time: first 80 % of calls train, last 20 % test; duration excluded",
        figures, {"auc": 0.80, "source": "Moro, Cortez & Rita 2014 (2008–2013 data, rolling window, more features)"},
        "out-of-time AUC ≥ 0.80", bool(auc >= 0.80),
    )


def _month_blocks(X: Any, start: int) -> list[tuple[int, int]]:
    """Consecutive runs of the same calendar month from row ``start`` on (rows are in call order)."""
    m = X["month"].to_numpy()
    edges = [start] + [i for i in range(start + 1, len(m)) if m[i] != m[i - 1]] + [len(m)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def rolling_auc(X: Any, y: Any, cut: int, window: int = 10_000) -> dict[str, float]:
    """Rolling re-training as Moro et al. did: each month of the test part is predicted by a model trained
    on the rows before that month — all of them (expanding) or the latest ``window`` rows (recent).
    Earlier test months' labels are used once they have matured; AUC is pooled over the whole test part.
    Both variants are reported; neither is chosen on the test part."""
    out: dict[str, float] = {}
    for name, w in (("expanding", None), ("recent", window)):
        preds = np.zeros(len(X) - cut)
        for a, b in _month_blocks(X, cut):
            lo = 0 if w is None else max(0, a - w)
            m = KequnClassifier(calibrate=None, n_estimators=300, learning_rate=0.03).fit(X.iloc[lo:a], y.iloc[lo:a])
            preds[a - cut:b - cut] = m.predict_proba(X.iloc[a:b])[:, 1]
        out[f"lightgbm_rolling_{name}_auc"] = metrics.roc_auc(y.iloc[cut:], preds)
    return out


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
