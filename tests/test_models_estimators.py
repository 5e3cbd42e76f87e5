"""One shared contract test for every Kequn estimator (scikit-learn's rules), and uplift learners that
recover a planted heterogeneous effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from kequn.models import metrics
from kequn.models.estimators import KequnClassifier
from kequn.models.uplift import ClassTransformation, DRLearner, TLearner, XLearner


def _frame(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "age": rng.integers(20, 70, n),
        "balance": rng.lognormal(9, 1, n),
        "city": rng.choice(["长沙", "株洲", "湘潭"], n),
        "app_user": rng.integers(0, 2, n).astype(bool),
    })
    logit = -2 + 0.04 * (X["age"] - 45) + 0.5 * (X["city"] == "长沙") + 1.0 * X["app_user"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.mark.parametrize("kind", ["lightgbm", "logistic"])
def test_classifier_contract(kind):
    X, y = _frame()
    est = KequnClassifier(kind=kind, n_estimators=60)
    params = est.get_params()
    assert params["kind"] == kind
    twin = clone(est)
    assert twin.get_params() == params and not hasattr(twin, "model_")
    est.fit(X.iloc[:2000], y[:2000])
    proba = est.predict_proba(X.iloc[2000:])
    assert proba.shape == (1000, 2)
    assert np.allclose(proba.sum(axis=1), 1) and (proba >= 0).all() and (proba <= 1).all()
    assert set(np.unique(est.predict(X.iloc[2000:]))) <= {0, 1}
    assert metrics.roc_auc(y[2000:], proba[:, 1]) > 0.65
    # unseen category at predict time is handled, not an error
    Z = X.iloc[2000:2010].copy()
    Z["city"] = "岳阳"
    assert est.predict_proba(Z).shape == (10, 2)


def test_classifier_rejects_non_binary_target():
    X, _ = _frame(100)
    with pytest.raises(ValueError, match="binary"):
        KequnClassifier(n_estimators=5).fit(X, np.arange(100) % 3)


def test_calibrated_probabilities_are_close_to_observed_rates():
    X, y = _frame(8000, seed=3)
    est = KequnClassifier(n_estimators=150).fit(X.iloc[:6000], y[:6000])
    p = est.predict_proba(X.iloc[6000:])[:, 1]
    curve = metrics.calibration_curve(y[6000:], p, bins=5)
    assert max(abs(b["predicted"] - b["observed"]) for b in curve) < 0.08


@pytest.mark.parametrize("learner", [TLearner, XLearner, ClassTransformation, DRLearner])
def test_uplift_learners_find_the_sensitive_customers(learner):
    rng = np.random.default_rng(7)
    n = 12000
    X = pd.DataFrame({"young": rng.integers(0, 2, n), "noise": rng.random(n)})
    t = rng.integers(0, 2, n)
    # only the young respond to the reward
    y = (rng.random(n) < 0.10 + 0.20 * X["young"] * t).astype(int)
    tr, te = slice(0, 8000), slice(8000, n)
    model = learner().fit(X.iloc[tr], y[tr], t[tr])
    u = model.predict(X.iloc[te])
    oracle = metrics.qini_coefficient(y[te], t[te], X["young"].iloc[te].to_numpy() + 1e-6 * rng.random(n - 8000))
    got = metrics.qini_coefficient(y[te], t[te], u)
    assert got >= 0.7 * oracle
    assert u[X["young"].iloc[te].to_numpy() == 1].mean() > u[X["young"].iloc[te].to_numpy() == 0].mean() + 0.1
