"""Classifiers with the scikit-learn contract: LightGBM by default, logistic regression as the explainable
baseline, calibrated probabilities.

Both accept a pandas frame with numeric and categorical (object/str/category) columns: categoricals are
one-hot encoded for the logistic baseline and passed as pandas categories to LightGBM. Parameters live in
``__init__`` unchanged (so ``clone``/``get_params`` work); everything learnt ends in ``_``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

#: LightGBM threads: always explicit (its default threading can stall under CPU contention)
DEFAULT_THREADS = 2


def _is_frame(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "dtypes")


def categorical_columns(X: Any) -> list[str]:
    if not _is_frame(X):
        return []
    out = []
    for c, dtype in zip(X.columns, X.dtypes, strict=True):
        name = str(dtype)
        if name in ("object", "category", "bool", "boolean") or name.startswith("str") or name == "string":
            out.append(c)
    return out


class _Prepared:
    """Remembers categorical levels at fit time so predict sees the same encoding."""

    def __init__(self, X: Any) -> None:
        self.columns = list(X.columns) if _is_frame(X) else None
        self.categoricals = categorical_columns(X)
        self.levels = {c: sorted(map(str, X[c].dropna().unique())) for c in self.categoricals}

    def for_lightgbm(self, X: Any) -> Any:
        import pandas as pd

        if self.columns is None:
            return np.asarray(X, dtype=float)
        X = X[self.columns].copy()
        for c in self.categoricals:
            X[c] = pd.Categorical(X[c].astype("string").astype(object), categories=self.levels[c])
        return X

    def for_linear(self, X: Any) -> np.ndarray:
        import pandas as pd

        if self.columns is None:
            return np.asarray(X, dtype=float)
        X = X[self.columns]
        parts = []
        for c in self.columns:
            if c in self.categoricals:
                cat = pd.Categorical(X[c].astype("string").astype(object), categories=self.levels[c])
                parts.append(pd.get_dummies(cat, prefix=str(c), dtype=float).to_numpy())
            else:
                parts.append(pd.to_numeric(X[c], errors="coerce").astype(float).to_numpy()[:, None])
        return np.hstack(parts) if parts else np.empty((len(X), 0))

    def linear_feature_names(self) -> list[str]:
        names: list[str] = []
        for c in self.columns or []:
            names += [f"{c}={lvl}" for lvl in self.levels[c]] if c in self.categoricals else [str(c)]
        return names


class KequnClassifier(ClassifierMixin, BaseEstimator):
    """A binary classifier: ``kind="lightgbm"`` (default) or ``"logistic"``; ``calibrate`` fits an
    isotonic/sigmoid calibration on internal cross-validation folds."""

    def __init__(
        self,
        kind: str = "lightgbm",
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 50,
        C: float = 1.0,
        calibrate: str | None = "isotonic",
        n_jobs: int = DEFAULT_THREADS,
        random_state: int = 0,
    ) -> None:
        self.kind = kind
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.C = C
        self.calibrate = calibrate
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _base(self) -> Any:
        if self.kind == "lightgbm":
            from lightgbm import LGBMClassifier

            return LGBMClassifier(
                n_estimators=self.n_estimators, learning_rate=self.learning_rate, num_leaves=self.num_leaves,
                min_child_samples=self.min_child_samples, subsample=0.8, subsample_freq=1,
                colsample_bytree=0.8, n_jobs=self.n_jobs, random_state=self.random_state, verbose=-1,
            )
        if self.kind == "logistic":
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=2000))
        raise ValueError(f"unknown kind {self.kind!r}: use 'lightgbm' or 'logistic'")

    def _matrix(self, X: Any) -> Any:
        if self.kind == "lightgbm":
            return self.prep_.for_lightgbm(X)
        M = self.prep_.for_linear(X)
        return np.nan_to_num(M - 0.0, nan=0.0) if np.isnan(M).any() else M

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> KequnClassifier:
        y = np.asarray(y).ravel()
        self.classes_ = np.unique(y)
        if self.classes_.size != 2:
            raise ValueError(f"a binary target is needed; got classes {self.classes_.tolist()}")
        self.prep_ = _Prepared(X)
        if not _is_frame(X):
            self.n_features_in_ = np.asarray(X).shape[1]
        else:
            self.n_features_in_ = len(X.columns)
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        M = self._matrix(X)
        yb = (y == self.classes_[1]).astype(int)
        if self.calibrate and min(yb.sum(), (1 - yb).sum()) >= 10:
            from sklearn.calibration import CalibratedClassifierCV

            self.model_ = CalibratedClassifierCV(self._base(), method=self.calibrate, cv=3)
        else:
            self.model_ = self._base()
        if sample_weight is None:
            self.model_.fit(M, yb)
        elif self.kind == "logistic" and not self.calibrate:
            self.model_.fit(M, yb, logisticregression__sample_weight=np.asarray(sample_weight))
        else:
            self.model_.fit(M, yb, sample_weight=np.asarray(sample_weight))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray(self.model_.predict_proba(self._matrix(X)))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]
