"""Uplift (reward-sensitivity) learners: who responds *because of* the offer.

All follow one contract: ``fit(X, y, treatment)`` and ``predict(X)`` → estimated uplift
``P(y=1 | treated) − P(y=1 | control)`` per row. Trained on randomised campaign history only.

- :class:`TLearner`: two outcome models, one per arm; uplift is their difference.
- :class:`XLearner` (Künzel et al. 2019): imputed individual effects regressed per arm, blended by the
  propensity (constant under randomisation).
- :class:`ClassTransformation` (Jaskowski & Jaroszewicz 2012): one classifier on Z = Y·T + (1−Y)(1−T);
  uplift = 2·P(Z=1) − 1 when the arms are balanced (reweighted otherwise).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

from kequn.models.estimators import KequnClassifier, _Prepared


def _check(y: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float).ravel()
    t = np.asarray(treatment, dtype=int).ravel()
    if y.shape != t.shape:
        raise ValueError("y and treatment differ in length")
    if set(np.unique(t)) - {0, 1} or np.unique(t).size != 2:
        raise ValueError("treatment must hold both 0 (control) and 1 (treated)")
    return y, t


def default_base() -> KequnClassifier:
    """Uplift signals are weak next to the outcome's own variation: a strongly regularised base model."""
    return KequnClassifier(calibrate=None, n_estimators=100, learning_rate=0.03, min_child_samples=200)


def _rows(X: Any, mask: np.ndarray) -> Any:
    return X[mask] if not hasattr(X, "iloc") else X.iloc[np.flatnonzero(mask)]


class TLearner(BaseEstimator):
    def __init__(self, base: Any = None) -> None:
        self.base = base

    def fit(self, X: Any, y: Any, treatment: Any) -> TLearner:
        y, t = _check(y, treatment)
        base = self.base if self.base is not None else default_base()
        self.model_t_ = clone(base).fit(_rows(X, t == 1), y[t == 1])
        self.model_c_ = clone(base).fit(_rows(X, t == 0), y[t == 0])
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.model_t_.predict_proba(X)[:, 1] - self.model_c_.predict_proba(X)[:, 1]


class XLearner(BaseEstimator):
    def __init__(self, base: Any = None, n_estimators: int = 200, n_jobs: int = 2, random_state: int = 0) -> None:
        self.base = base
        self.n_estimators = n_estimators
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _regressor(self) -> Any:
        from lightgbm import LGBMRegressor

        return LGBMRegressor(n_estimators=self.n_estimators, learning_rate=0.05, min_child_samples=50,
                             n_jobs=self.n_jobs, random_state=self.random_state, verbose=-1)

    def fit(self, X: Any, y: Any, treatment: Any) -> XLearner:
        y, t = _check(y, treatment)
        base = self.base if self.base is not None else default_base()
        self.prep_ = _Prepared(X)
        mu1 = clone(base).fit(_rows(X, t == 1), y[t == 1])
        mu0 = clone(base).fit(_rows(X, t == 0), y[t == 0])
        Xt, Xc = _rows(X, t == 1), _rows(X, t == 0)
        d1 = y[t == 1] - mu0.predict_proba(Xt)[:, 1]
        d0 = mu1.predict_proba(Xc)[:, 1] - y[t == 0]
        self.tau1_ = self._regressor().fit(self.prep_.for_lightgbm(Xt), d1)
        self.tau0_ = self._regressor().fit(self.prep_.for_lightgbm(Xc), d0)
        self.propensity_ = float(t.mean())
        return self

    def predict(self, X: Any) -> np.ndarray:
        M = self.prep_.for_lightgbm(X)
        g = self.propensity_
        return g * self.tau0_.predict(M) + (1 - g) * self.tau1_.predict(M)


class ClassTransformation(BaseEstimator):
    def __init__(self, base: Any = None) -> None:
        self.base = base

    def fit(self, X: Any, y: Any, treatment: Any) -> ClassTransformation:
        y, t = _check(y, treatment)
        p = t.mean()
        z = ((y == 1) & (t == 1)) | ((y == 0) & (t == 0))
        # reweight so both arms weigh the same when they are unbalanced
        base = self.base if self.base is not None else default_base()
        self.model_ = clone(base)
        w = np.where(t == 1, 0.5 / p, 0.5 / (1 - p))
        try:
            self.model_.fit(X, z.astype(int), sample_weight=w)
        except TypeError:
            self.model_.fit(X, z.astype(int))
        return self

    def predict(self, X: Any) -> np.ndarray:
        return 2 * self.model_.predict_proba(X)[:, 1] - 1


def default_regressor() -> Any:
    """The effect model of the DR-learner: shallow, strongly regularised trees (the pseudo-outcomes are noisy)."""
    from lightgbm import LGBMRegressor

    return LGBMRegressor(n_estimators=150, learning_rate=0.03, num_leaves=7, min_child_samples=400, subsample=0.8,
                         subsample_freq=1, reg_lambda=10.0, n_jobs=1, random_state=0, verbose=-1)


class DRLearner(BaseEstimator):
    """Doubly robust learner (Kennedy 2023): outcome models per arm are fitted with cross-fitting, each row
    gets the doubly robust pseudo-outcome
    ``μ1(x) − μ0(x) + T(Y − μ1(x))/e − (1 − T)(Y − μ0(x))/(1 − e)`` (its mean given x is the uplift; ``e`` is
    the treated share, constant under randomisation), and a regressor of the pseudo-outcome on x is the
    uplift model. The outcome models take most of the outcome's own variation out of the pseudo-outcome."""

    def __init__(self, base: Any = None, regressor: Any = None, folds: int = 2, random_state: int = 0) -> None:
        self.base = base
        self.regressor = regressor
        self.folds = folds
        self.random_state = random_state

    def fit(self, X: Any, y: Any, treatment: Any) -> DRLearner:
        y, t = _check(y, treatment)
        base = self.base if self.base is not None else default_base()
        e = float(t.mean())
        fold = np.random.default_rng(self.random_state).integers(0, self.folds, len(y))
        mu0, mu1 = np.zeros(len(y)), np.zeros(len(y))
        for k in range(self.folds):
            fit_rows, out = fold != k, fold == k
            m1 = clone(base).fit(_rows(X, fit_rows & (t == 1)), y[fit_rows & (t == 1)])
            m0 = clone(base).fit(_rows(X, fit_rows & (t == 0)), y[fit_rows & (t == 0)])
            Xo = _rows(X, out)
            mu1[out], mu0[out] = m1.predict_proba(Xo)[:, 1], m0.predict_proba(Xo)[:, 1]
        psi = mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1 - e)
        self.prep_ = _Prepared(X)
        reg = self.regressor if self.regressor is not None else default_regressor()
        self.model_ = clone(reg).fit(self.prep_.for_lightgbm(X), psi)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.model_.predict(self.prep_.for_lightgbm(X)), dtype=float)
