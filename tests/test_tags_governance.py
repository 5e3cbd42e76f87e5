"""Governance: PSI and IV worked by hand, usage scanning, redundancy, and retirement recommendations on
the golden warehouse."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from kequn.errors import ValidationError
from kequn.tags.approval import approved_ids
from kequn.tags.catalog import default_catalog
from kequn.tags.governance import features_usage, information_value, psi, redundant_pairs, report, usage_index
from kequn.tags.store import compute, read_snapshot
from test_tags_golden import golden_warehouse

D = dt.date(2024, 6, 30)


def test_psi_by_hand():
    e = {"a": 0.5, "b": 0.5}
    a = {"a": 0.7, "b": 0.3}
    want = (0.7 - 0.5) * math.log(0.7 / 0.5) + (0.3 - 0.5) * math.log(0.3 / 0.5)
    assert psi(e, a) == round(want, 4)
    assert psi(e, e) == 0.0


def test_information_value_by_hand():
    # bins x, y: 30 good + 10 bad in x, 10 good + 30 bad in y (0.5 smoothing per bin)
    good, bad = {"x": 30.0, "y": 10.0}, {"x": 10.0, "y": 30.0}
    g = {"x": 30.5 / 41, "y": 10.5 / 41}
    b = {"x": 10.5 / 41, "y": 30.5 / 41}
    want = sum((g[k] - b[k]) * math.log(g[k] / b[k]) for k in g)
    assert information_value(good, bad) == round(want, 4)
    assert information_value({"x": 5.0}, {"x": 5.0}) == 0.0


def test_usage_finds_whole_tag_ids_in_other_catalogues(tmp_path):
    seg = tmp_path / "segments"
    seg.mkdir()
    (seg / "mine.yaml").write_text('segments:\n- id: rich\n  rule: aum_tier >= "gold" and payroll_flag\n',
                                   encoding="utf-8")
    found = usage_index(["aum", "aum_tier", "payroll_flag", "loan_holder"], [seg])
    assert found == {"aum": [], "aum_tier": ["segments/mine.yaml"], "payroll_flag": ["segments/mine.yaml"],
                     "loan_holder": []}


def test_models_use_tags_as_features_or_through_their_changes():
    used = features_usage(["aum", "aum_tier", "money_in_30d", "city"],
                          {"models/churn v2 (champion)": ["aum", "money_in_30d_chg_1m", "aum_tier_x"],
                           "models/potential v1 (draft)": ["money_in_30d_prev_3m"]})
    assert used == {"aum": ["models/churn v2 (champion)"], "aum_tier": [],  # aum_tier_x is not aum_tier
                    "money_in_30d": ["models/churn v2 (champion)", "models/potential v1 (draft)"], "city": []}


def test_shipped_segment_catalogue_counts_as_usage():
    used = usage_index(["payroll_flag"])
    assert any(u.startswith("segments/") for u in used["payroll_flag"])


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    w = golden_warehouse(tmp_path_factory.mktemp("gov"))
    cat = default_catalog()
    specs = {i: cat[i] for i in approved_ids(cat)}
    compute(w, dt.date(2024, 5, 31), specs, entities=["customer"])
    compute(w, D, specs, entities=["customer"])
    yield w
    w.close()


def test_redundant_pairs_find_perfectly_correlated_tags(wh):
    t = read_snapshot(wh, "customer", D)
    pairs = redundant_pairs(t, ["money_out_30d", "money_out_90d", "tenure_months"], min_rows=3)
    # money out 30 d (4500, 150, 0, 0) and 90 d (4800, 150, 0, 0) move together
    assert ("money_out_30d", "money_out_90d") in {(a, b) for a, b, _ in pairs}
    assert all(abs(r) >= 0.9 for *_, r in pairs)


def test_report_measures_every_tag_and_recommends_retirements(wh):
    rep = report(wh, "customer", default_catalog(), as_of=D, target="overdue_flag")
    assert rep.previous == dt.date(2024, 5, 31) and rep.rows == 4
    by_id = {s.id: s for s in rep.tags}
    assert by_id["age_band"].coverage == 0.75 and by_id["age_band"].null_rate == 0.25  # C4 has no birth date
    assert by_id["aum"].distribution["max"] == 350000.0
    assert by_id["aum"].psi is not None and by_id["aum"].iv is not None
    assert by_id["overdue_flag"].iv is None  # the target itself
    assert any(u.startswith("segments/") for u in by_id["payroll_flag"].usage)
    recs = {r.tag_id: r for r in rep.recommendations}
    # every customer is "low" potential in the golden data: no discrimination
    assert recs["asset_potential_band"].action == "retire"
    assert any("单一取值" in reason for reason in recs["asset_potential_band"].reasons)
    # model-score slots waiting for their models are never recommended
    assert "churn_risk" not in recs


def test_report_needs_a_usable_target(wh):
    with pytest.raises(ValidationError):
        report(wh, "customer", default_catalog(), as_of=D, target="city")
    with pytest.raises(ValidationError):
        report(wh, "customer", default_catalog(), as_of=D, target="no_such_column")


def test_a_target_without_values_is_refused_and_missing_targets_are_left_out(wh):
    # a model-score slot before its model has scored: no values, so no information value to speak of
    with pytest.raises(ValidationError, match="has no values"):
        report(wh, "customer", default_catalog(), as_of=D, target="churn_risk")
    # salary_avg_90d is known for C1 (15000) and C4 (6000) only: split at its median 10500, C1 is the "good"
    # one; C2 and C3 (no salary) are left out rather than counted as "bad"
    rep = report(wh, "customer", default_catalog(), as_of=D, target="salary_avg_90d")
    loan = {s.id: s for s in rep.tags}["loan_holder"]  # C1 holds a loan, C4 does not
    assert loan.iv == information_value({"true": 1.0, "false": 0.0}, {"true": 0.0, "false": 1.0})


def test_too_few_paired_values_are_never_called_redundant(wh):
    t = read_snapshot(wh, "customer", D)
    assert redundant_pairs(t, ["money_out_30d", "money_out_90d"]) == []  # 4 customers < 30
