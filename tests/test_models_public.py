"""Kequn's models on real public data nobody here made (full files from ../shared/datasets; skipped on a
machine without them). Splits are stated in kequn.models.public."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kequn.models.public import task_bank_marketing, task_churn_modelling, task_hillstrom


def _datasets() -> Path:
    for cand in (os.environ.get("KEQUN_DATASETS"), Path(__file__).resolve().parents[2] / "shared" / "datasets",
                 "/work/shared/datasets"):
        if cand and Path(cand, "bank_marketing").is_dir():
            return Path(cand)
    pytest.skip("public datasets folder (../shared/datasets) not present")


@pytest.mark.slow
def test_churn_modelling_5fold_auc_meets_goal():
    r = task_churn_modelling(_datasets())
    assert r.figures["lightgbm_5fold_auc"] >= 0.86, r.figures
    assert r.figures["logistic_5fold_auc"] < r.figures["lightgbm_5fold_auc"]  # the baseline is the baseline
    assert r.met


@pytest.mark.slow
def test_hillstrom_qini_ci_excludes_zero():
    r = task_hillstrom(_datasets(), n_boot=100)
    primary = r.figures[r.figures["primary"]]
    assert primary["qini_ci95"][0] > 0, primary
    # the randomised average effect on the held-out rows is close to the published +4.5 pp
    assert r.figures["ate_visit_test"] == pytest.approx(0.045, abs=0.01)


@pytest.mark.slow
def test_bank_marketing_figures_are_reported_honestly():
    r = task_bank_marketing(_datasets(), rolling="primary")
    f = r.figures
    # random cross-validation reaches the published 0.80 …
    assert f["lightgbm_random_5fold_auc"] >= 0.79
    # … the out-of-time split (2008 → 2010 regime change, base rate 7 % → 32 %) does not with the file's
    # columns alone (measured 0.62)
    assert f["base_rate_test"] > 3 * f["base_rate_train"]
    assert f["test_first_call"] == "2009-05-11"
    assert 0.5 < f["lightgbm_oot_auc"] < 0.70, f
    # features known before each call (calendar, the bank's call volume and success rate of the previous
    # 1/3/7/30/90 days) help; monthly re-training on all earlier rows helps more (measured 0.770) — still
    # short of 0.80, and the report says so
    assert f["lightgbm_past_oot_auc"] > f["lightgbm_oot_auc"] + 0.03, f
    assert f["primary"] == "rolling_past_expanding_auc"
    assert f["rolling_past_expanding_auc"] >= 0.76, f
    assert r.met == (f["rolling_past_expanding_auc"] >= 0.80)


def test_past_features_read_only_earlier_days():
    """The past-only features of a call never change when later rows (or the same day's outcomes) change."""
    import numpy as np
    import pandas as pd

    from kequn.models.public import past_features

    rng = np.random.default_rng(0)
    days = np.sort(rng.integers(1, 29, 400))
    df = pd.DataFrame({"day": days, "month": "may"})
    y = pd.Series(rng.integers(0, 2, 400))
    f = past_features(df, y)
    y2 = y.copy()
    y2[days >= 15] = 1 - y2[days >= 15]  # flip every outcome from day 15 on
    f2 = past_features(df, y2)
    assert f[days <= 15].equals(f2[days <= 15])
    assert not f[days > 15].equals(f2[days > 15])
    first = days == days.min()
    assert (f.loc[first, "calls_prev7d"] == 0).all() and (f.loc[first, "rate_prev7d"] == 0.1).all()
    d5 = np.flatnonzero(days == 5)
    if len(d5):
        n = int((days < 5).sum())  # every earlier day of May lies within 7 days of the 5th
        assert f.loc[d5[0], "calls_prev7d"] == n
