"""Metrics checked against scikit-learn and against cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from kequn.models import metrics


@pytest.fixture
def scored():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    s = rng.random(2000) + 0.4 * y
    return y, s


def test_auc_and_pr_auc_match_sklearn(scored):
    y, s = scored
    assert metrics.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert metrics.pr_auc(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_at_k_by_hand():
    y = [1, 0, 1, 0, 0, 0, 0, 0, 1, 0]
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    r = metrics.at_k(y, s, 3)
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["lift"] == pytest.approx((2 / 3) / 0.3)


def test_lift_by_decile_first_decile_is_best(scored):
    y, s = scored
    deciles = metrics.lift_by_decile(y, s)
    assert len(deciles) == 10 and sum(d["n"] for d in deciles) == len(y)
    assert deciles[0]["rate"] > deciles[-1]["rate"]


def test_summary_puts_accuracy_beside_base_rate(scored):
    y, s = scored
    out = metrics.classification_summary(y, np.clip(s / 1.4, 0, 1), capacity=100)
    assert out["accuracy_of_always_no"] == pytest.approx(1 - out["base_rate"])
    assert out["at_capacity"]["k"] == 100


def test_psi_zero_for_same_and_large_for_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=5000)
    assert metrics.psi(a, a) == pytest.approx(0.0, abs=1e-9)
    assert metrics.psi(a, a + 1.0) > 0.25


def test_qini_perfect_ranking_beats_random():
    # treated responders only where x=1: ranking by x is the oracle
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.integers(0, 2, n)
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.1 + 0.3 * x * t).astype(int)
    oracle = metrics.qini_coefficient(y, t, x + rng.random(n) * 1e-3)
    random = metrics.qini_coefficient(y, t, rng.random(n))
    assert oracle > 0.02 and abs(random) < oracle / 3
    assert metrics.uplift_at_k(y, t, x, 0.4) == pytest.approx(0.3, abs=0.06)
