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
    assert not {"churn_risk", "potential_score", "reward_sensitivity", "customer_id", "label", "_mask"} & set(feats)
    # every other customer tag stays available to the models
    assert set(feats) == set(ids) - EXCLUDED
