"""Merchant churn against the oracle with enough closings to mean something.

The small model bank has ~70 merchants (one per 40 customers) and 0–2 closings a month, so a one-month
merchant AUC rests on one or two positives. Here: a 60,000-customer bank (~1,250 merchants, ~2 % close a
month; only the tables merchant features and labels read are loaded), trained on the month ends
2026-01 … 2026-04, tested out of time on five pooled month ends 2026-05 … 2026-09 (labels: closing in the
following month), and compared with the oracle AUC from the generator's true hazards on the same rows."""

from __future__ import annotations

import datetime as dt

import pytest

from kequn.models import datasets as D
from kequn.models import train
from models_bank import make_merchant_bank

pytestmark = pytest.mark.slow

TRAIN = D.month_ends(dt.date(2026, 1, 31), dt.date(2026, 4, 30))
TEST = D.month_ends(dt.date(2026, 5, 31), dt.date(2026, 9, 30))


@pytest.fixture(scope="module")
def merchant_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("merchant_bank")
    wh, truth, engine = make_merchant_bank(root)
    mv, metrics = train.train(wh, engine, "merchant_churn", user="analyst", dates=TRAIN + TEST,
                              test_dates=len(TEST), truth=truth, folder=root / "models",
                              n_estimators=80, calibrate="sigmoid")
    yield mv, metrics
    wh.close()


def test_merchant_churn_auc_within_003_of_the_oracle_on_pooled_months(merchant_run):
    mv, metrics = merchant_run
    t = metrics["test"]
    positives = round(t["base_rate"] * t["n"])
    assert mv.test_dates == [str(d) for d in TEST] and mv.train_dates == [str(d) for d in TRAIN]
    assert positives >= 50, f"only {positives} closing merchants in the pooled test months"
    assert metrics["oracle"]["rows"] == t["n"] and metrics["oracle"]["rows_without_truth"] == 0
    assert metrics["oracle"]["auc"] > 0.9
    assert t["auc"] >= metrics["oracle"]["auc"] - 0.03, (t["auc"], metrics["oracle"]["auc"], positives)
