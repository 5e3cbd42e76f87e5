"""The PD scorecard on a committed sample of real German credit data (tests/data/pd_german, CC BY 4.0):
points add up to the score, scoring in plain Python equals the vectorised model, the bins say what a
credit officer expects, the model round-trips through JSON, and a bank's own model plugs into routing.
The full-data evaluation runs when ../shared/datasets is present (skipped otherwise)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from kequn.domain.loans import Application
from kequn.models.pd import (
    PDModel,
    Scorecard,
    ScorecardModel,
    evaluate,
    evaluate_frame,
    german_frame,
    grade_for_pd,
)
from kequn.routing.ladder import DEFAULT_LADDER, load_ladder_file
from kequn.routing.router import compile_ladder, route
from kequn.routing.service import grade_application

SAMPLE = Path(__file__).parent / "data" / "pd_german" / "german_credit_sample.csv"
FULL = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(scope="module")
def fitted():
    X, y = german_frame(SAMPLE)
    return X, y, ScorecardModel(name="german_sample").fit(X, y)


@pytest.mark.parametrize(("pd", "grade"), [(0.0, "A"), (0.0299, "A"), (0.03, "B"), (0.0699, "B"), (0.07, "C"),
                                           (0.1499, "C"), (0.15, "D"), (0.2999, "D"), (0.30, "E"), (1.0, "E")])
def test_master_scale_boundaries(pd, grade):
    assert grade_for_pd(pd) == grade


def test_pd_outside_unit_interval_is_refused():
    with pytest.raises(ValueError):
        grade_for_pd(1.2)


def test_points_add_up_to_the_score_and_the_score_to_the_pd(fitted):
    X, _, model = fitted
    card = model.scorecard_
    factor = card.pdo / math.log(2)
    offset = card.base_points - factor * math.log(card.base_odds)
    for row in X.head(25).to_dict("records"):
        parts = card.explain(row)
        assert len(parts) == 20 and all(p["bin"] != "(未见过的取值)" for p in parts)
        assert sum(p["points"] for p in parts) == pytest.approx(card.score(row), abs=0.1 * len(parts))
        assert card.pd(row) == pytest.approx(1 / (1 + math.exp((card.score(row) - offset) / factor)))


def test_plain_python_scoring_equals_the_vectorised_model(fitted):
    X, _, model = fitted
    card = model.scorecard_
    p = model.predict_proba(X)[:, 1]
    assert np.allclose(p, [card.pd(r) for r in X.to_dict("records")])


def test_bins_say_what_a_credit_officer_expects(fitted):
    """No checking account is safer than an overdrawn one (the best-known pattern in this data)."""
    card = fitted[2].scorecard_
    checking = next(a for a in card.attributes if a.name == "status_of_existing_checking_account")
    by_label = {b.label: b for b in checking.bins}
    none, overdrawn = by_label["no checking account"], by_label["... < 0 DM"]
    assert none.bad_rate < overdrawn.bad_rate and none.points > overdrawn.points and none.woe < overdrawn.woe
    duration = next(a for a in card.attributes if a.name == "duration_in_month")
    assert duration.kind == "numeric" and duration.bins[0].lo is None and duration.bins[-1].hi is None


def test_unseen_and_missing_values_score_without_error(fitted):
    card = fitted[2].scorecard_
    assert 0 < card.pd({}) < 1
    odd = {"purpose": "space travel", "age_in_years": None, "credit_amount": "n/a"}
    assert 0 < card.pd(odd) < 1


def test_save_load_round_trip(fitted, tmp_path):
    X, _, model = fitted
    card = model.scorecard_
    card.save(tmp_path / "card.json")
    again = Scorecard.load(tmp_path / "card.json")
    assert again.version == card.version
    row = X.iloc[3].to_dict()
    assert again.pd(row) == card.pd(row) and again.grade(row) == card.grade(row)


def test_sklearn_contract(fitted):
    from sklearn.base import clone

    model = fitted[2]
    twin = clone(model).set_params(max_bins=4)
    assert twin.get_params()["max_bins"] == 4 and not hasattr(twin, "scorecard_")


def test_held_out_auc_on_the_sample_is_informative():
    X, y = german_frame(SAMPLE)
    res = evaluate_frame("german_sample", X, y)
    assert "70/30" in res["split"]
    assert 0.65 < res["test_auc"] < 0.95 and res["train_auc"] >= res["test_auc"] - 0.05


def test_scorecard_grades_an_application_for_routing(fitted):
    X, _, model = fitted
    card = model.scorecard_
    assert isinstance(card, PDModel)
    features = X.iloc[0].to_dict()
    app = Application.model_validate(dict(
        application_id="P1", customer_id="C1", branch_id="B01", applied_on="2026-11-28", channel="app", age=35,
        monthly_income="12000", amount_requested="50000", term_months=12, region="430104",
        credit_features=features))
    graded, version = grade_application(app, card)
    assert graded.risk_grade == card.grade(features) and version == card.version
    d = route(compile_ladder(load_ladder_file(DEFAULT_LADDER)), graded, model_version=version)
    assert d.model_version == card.version and d.risk_grade == graded.risk_grade


def test_a_banks_own_model_plugs_in():
    class BankModel:
        version = "bank-pd-2026.10"

        def pd(self, features):
            return 0.5 if features.get("blacklisted") else 0.01

        def grade(self, features):
            return grade_for_pd(self.pd(features))

    assert isinstance(BankModel(), PDModel)
    base = dict(application_id="P2", customer_id="C1", branch_id="B01", applied_on="2026-11-28", channel="app",
                age=35, monthly_income="12000", amount_requested="50000", term_months=12, region="430104")
    graded, version = grade_application(Application.model_validate({**base, "credit_features": {
        "blacklisted": "yes"}}), BankModel())
    assert (graded.risk_grade, version) == ("E", "bank-pd-2026.10")
    declared, v = grade_application(Application.model_validate({**base, "risk_grade": "A"}), BankModel())
    assert (declared.risk_grade, v) == ("A", "declared")


@pytest.mark.skipif(not (FULL / "german_credit").is_dir(), reason="full public datasets not present")
def test_full_data_held_out_auc():
    results = {r["dataset"]: r for r in evaluate(FULL)}
    assert results["german_credit"]["rows"] == 1000 and results["lending_club"]["rows"] == 9578
    assert results["german_credit"]["test_auc"] > 0.72
    assert results["lending_club"]["test_auc"] > 0.60
