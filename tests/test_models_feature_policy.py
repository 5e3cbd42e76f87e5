"""Which tags may never become model features (ids, model scores, sensitive government data)."""

import pandas as pd

from kequn.models.datasets import EXCLUDED, feature_columns
from kequn.tags.catalog import default_catalog


def test_government_and_score_tags_are_never_features() -> None:
    cat = default_catalog()
    ids = [i for i in cat if cat[i].entity == "customer"]
    df = pd.DataFrame({i: [0] for i in [*ids, "customer_id", "label", "_mask"]})
    feats = feature_columns(df)
    assert "medical_insurance_flag" in ids and "medical_insurance_flag" not in feats
    assert not {"churn_risk", "potential_score", "reward_sensitivity", "customer_value", "customer_id", "label", "_mask"} & set(feats)
    # every other customer tag stays available to the models
    assert set(feats) == set(ids) - EXCLUDED


def test_money_read_as_decimal_is_a_number_not_a_category() -> None:
    from decimal import Decimal

    from kequn.models.datasets import prepare

    df = pd.DataFrame({"aum": [Decimal("1.50"), None, Decimal("20000.00")], "city": ["长沙", None, "株洲"],
                       "payroll_flag": [True, False, True]})
    X = prepare(df, ["aum", "city", "payroll_flag"])
    assert str(X["aum"].dtype) == "float64" and X["aum"].tolist()[0] == 1.5 and X["aum"].isna().tolist()[1]
    assert X["city"].dtype == object and X["payroll_flag"].tolist() == [1.0, 0.0, 1.0]
