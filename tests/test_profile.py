"""Customer 360 (客户高清图): tags with Chinese names, holdings, events, segments, scores, contacts —
masked by default — through the service and through `kequn profile ID`."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from kequn.errors import NotFoundError
from kequn.services.profile import customer_360
from test_tags_golden import golden_warehouse

D = dt.date(2024, 6, 30)
RAW_C2 = ("13812345678", "430102198507150011", "张伟", "1985-07-15")


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    w = golden_warehouse(tmp_path_factory.mktemp("p360"))
    w.sql("INSERT INTO contact_history VALUES ('K1', 'C1', 'WM2406', 'call', TIMESTAMP '2024-06-12 10:00:00', "
          "'treatment', 'converted', true, 50000.00), ('K2', 'C1', 'WM2407', 'sms', "
          "TIMESTAMP '2024-07-03 10:00:00', 'treatment', 'no_answer', false, NULL)")
    w.sql("INSERT INTO card VALUES ('K01', 'A4', 'C1', 'credit', '6225881234561234', 50000.00, "
          "DATE '2020-05-01', 'active')")
    yield w
    w.close()


def test_view_is_masked_by_default(wh):
    view = customer_360(wh, "C1", D)
    text = json.dumps(view, default=str, ensure_ascii=False)
    for raw in RAW_C2:
        assert raw not in text
    c = view["customer"]
    assert (c["name"], c["phone"], c["id_number"]) == ("张*", "138****5678", "430102********0011")
    assert view["holdings"]["cards"][0]["card_number"] == "622588******1234"
    assert view["masked"] is True


def test_tags_carry_chinese_names_labels_and_masked_money(wh):
    tags = {t["id"]: t for t in customer_360(wh, "C1", D)["tags"]}
    assert tags["lifecycle_stage"]["name_zh"] == "生命周期阶段" and tags["lifecycle_stage"]["display"] == "成长"
    assert tags["aum"]["display"] == "10万–50万"  # 350000.00 is C2: shown as its range
    assert tags["txn_count_90d"]["value"] == 8 and tags["churn_risk"]["value"] is None


def test_tags_read_as_staff_read_them(wh):
    """Grouped by category, ratios as percentages, merchant categories and the branch/employer named."""
    view = customer_360(wh, "C1", D)
    from kequn.tags.catalog import CATEGORY_ZH

    cats = [t["category"] for t in view["tags"]]
    runs = [c for i, c in enumerate(cats) if i == 0 or cats[i - 1] != c]  # one run per category, in order
    assert runs == [c for c in CATEGORY_ZH if c in cats]
    tags = {t["id"]: t for t in view["tags"]}
    assert (tags["weekend_spend_share"]["value"], tags["weekend_spend_share"]["display"]) == (0.7143, "71.43%")
    assert tags["aum_trend_1m"]["display"] == "9.03%"  # 0.0903
    assert tags["top_spend_categories"]["display"] == "餐饮(5812), 超市(5411), 零售(5999)"
    assert tags["home_branch"]["display"] == "芙蓉支行 (B01)" and tags["home_branch"]["value"] == "B01"
    assert tags["payroll_employer"]["display"] == "长沙星辰科技有限公司 (E1)"


def test_holdings_events_and_contacts_are_as_of_the_day(wh):
    view = customer_360(wh, "C1", D)
    assert [a["account_id"] for a in view["holdings"]["accounts"]] == ["A1", "A2", "A3", "A4", "A5"]
    assert [h["product_name"] for h in view["holdings"]["holdings"]] == ["终身寿险"]
    # EV5 (07-02) and the 07-03 contact are after the as-of day
    assert len(view["recent_events"]) == 4 and view["recent_events"][0]["touchpoint"] == "手机银行首页"
    assert [k["campaign_code"] for k in view["contact_history"]] == ["WM2406"]
    assert view["contact_history"][0]["amount"] == "1万–10万"
    assert view["segments"] == [] and view["scores"] == []


def test_unmasked_view_for_authorised_callers(wh):
    view = customer_360(wh, "C1", D, unmask=True)
    assert view["customer"]["phone"] == "13812345678" and view["masked"] is False
    tags = {t["id"]: t for t in view["tags"]}
    assert str(tags["aum"]["value"]) == "350000.00"


def test_segments_and_scores_appear_once_written(wh):
    wh.sql("CREATE TABLE IF NOT EXISTS segment_membership (segment_id VARCHAR, version BIGINT, as_of DATE, "
           "entity_id VARCHAR)")
    wh.sql("INSERT INTO segment_membership VALUES ('payroll', 1, DATE '2024-06-30', 'C1')")
    # the shape kequn.models.scoring writes
    wh.sql("CREATE TABLE IF NOT EXISTS model_score (entity VARCHAR, customer_id VARCHAR, score_name VARCHAR, "
           "as_of DATE, score DOUBLE, reasons VARCHAR, model VARCHAR)")
    wh.sql("INSERT INTO model_score VALUES ('customer', 'C1', 'churn_risk', DATE '2024-06-01', 0.12, 'AUM 上升', 'm1'), "
           "('customer', 'C1', 'churn_risk', DATE '2024-07-01', 0.90, 'future', 'm1'), "
           "('merchant', 'C1', 'churn_risk', DATE '2024-06-15', 0.55, 'a merchant id that looks alike', 'm2')")
    try:
        view = customer_360(wh, "C1", D)
        assert [s["segment_id"] for s in view["segments"]] == ["payroll"]
        assert view["scores"] == [{"score_name": "churn_risk", "as_of": dt.date(2024, 6, 1), "score": 0.12,
                                   "reasons": "AUM 上升", "model": "m1"}]
        tags = {t["id"]: t for t in view["tags"]}
        assert tags["churn_risk"]["value"] == 0.12  # the score slot is filled point in time
    finally:
        wh.sql("DROP TABLE segment_membership")
        wh.sql("DROP TABLE model_score")


def test_unknown_customer_is_not_found(wh):
    with pytest.raises(NotFoundError):
        customer_360(wh, "NOPE", D)
