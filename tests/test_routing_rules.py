"""Eligibility rules as decision tables: every operator at, just inside and just outside its boundary,
missing values and wrong types, and the words each outcome gives the customer. Also: the ladder file is
validated with every problem named by product and field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kequn.domain.loans import Application, RuleSpec
from kequn.errors import ValidationError
from kequn.routing.ladder import DEFAULT_LADDER, load_ladder_file, parse_ladder
from kequn.routing.rules import compile_rule

BASE = dict(application_id="A1", customer_id="C1", branch_id="B01", applied_on="2026-11-28", channel="app",
            age=35, monthly_income="10000", amount_requested="50000", term_months=12, region="430104",
            risk_grade="B")


def app(**over) -> Application:
    return Application.model_validate({**BASE, **over})


def check(field, op, value, **over):
    return compile_rule(RuleSpec(field=field, op=op, value=value))(app(**over))


@pytest.mark.parametrize(("field", "op", "value", "actual", "passed"), [
    # numeric operators at the boundary (inclusive/exclusive)
    ("age", "ge", 22, 22, True), ("age", "ge", 22, 21, False),
    ("age", "gt", 22, 23, True), ("age", "gt", 22, 22, False),
    ("age", "le", 55, 55, True), ("age", "le", 55, 56, False),
    ("age", "lt", 55, 54, True), ("age", "lt", 55, 55, False),
    ("age", "between", [22, 55], 22, True), ("age", "between", [22, 55], 55, True),
    ("age", "between", [22, 55], 21, False), ("age", "between", [22, 55], 56, False),
    ("monthly_income", "ge", 3000, "3000.00", True), ("monthly_income", "ge", 3000, "2999.99", False),
    ("payroll_months", "ge", 6, 6, True), ("payroll_months", "ge", 6, 5, False),
    ("overdue_count_24m", "le", 2, 2, True), ("overdue_count_24m", "le", 2, 3, False),
    ("max_days_past_due", "eq", 0, 0, True), ("max_days_past_due", "eq", 0, 1, False),
    ("max_days_past_due", "le", 30, 30, True), ("max_days_past_due", "le", 30, 31, False),
    # sets and prefixes
    ("risk_grade", "in", ["A", "B", "C"], "C", True), ("risk_grade", "in", ["A", "B", "C"], "D", False),
    ("industry", "not_in", ["K"], "C", True), ("industry", "not_in", ["K"], "K", False),
    ("region", "starts_with", ["43"], "430104", True), ("region", "starts_with", ["43"], "440104", False),
    ("region", "in", ["430121", "430181"], "430181", True), ("region", "in", ["430121"], "430104", False),
    ("customer_type", "eq", "sme_owner", "sme_owner", True), ("customer_type", "eq", "sme_owner", "individual", False),
    ("customer_type", "ne", "sme_owner", "individual", True), ("channel", "in", ["app", "wechat"], "branch", False),
])
def test_application_field_rules(field, op, value, actual, passed):
    outcome = check(field, op, value, **{field: actual})
    assert outcome.passed is passed
    assert outcome.message.endswith("：符合" if passed else "：不符合")


@pytest.mark.parametrize(("value", "tag", "passed"), [
    (True, True, True), (True, False, False), (True, 1, False),  # a boolean rule wants a real boolean
    (12, 12, True), (12, 11.5, False), (12, True, False),
])
def test_tag_rules_compare_types_strictly(value, tag, passed):
    op = "eq" if isinstance(value, bool) else "ge"
    assert check("tags.t", op, value, tags={"t": tag}).passed is passed


def test_missing_tag_fails_and_says_so():
    spec = RuleSpec(field="tags.housing_fund_months", op="ge", value=12, label="公积金连续缴存月数",
                    code="HOUSING_FUND_SHORT")
    out = compile_rule(spec)(app())
    assert not out.passed and out.reason_code == "HOUSING_FUND_SHORT"
    assert out.message == "公积金连续缴存月数缺失，要求不低于12：不符合"


def test_missing_application_field_fails():
    assert not check("industry", "in", ["C"]).passed  # industry not given
    assert "缺失" in check("risk_grade", "in", ["A"], risk_grade=None).message


def test_wrong_tag_type_fails_in_words_not_exception():
    out = check("tags.card_months", "ge", 6, tags={"card_months": "many"})
    assert not out.passed and "类型不符" in out.message


def test_messages_are_chinese_words_with_units():
    out = check("age", "between", [22, 55], age=35)
    assert out.message == "年龄为35岁，要求在22至55岁之间：符合"
    assert out.reason_code == "AGE_BETWEEN"  # generated when the ladder declares none
    money = check("monthly_income", "ge", 3000, monthly_income="2500.50")
    assert money.message == "月收入为2,500.5元，要求不低于3000元：不符合"
    assert check("customer_type", "eq", "sme_owner").message == "客户类型为个人客户，要求为小微企业主：不符合"


@pytest.mark.parametrize(("rule", "fragment"), [
    ({"field": "salary", "op": "ge", "value": 1}, "unknown field"),
    ({"field": "age", "op": "between", "value": [60, 20]}, "low ≤ high"),
    ({"field": "age", "op": "in", "value": []}, "non-empty list"),
    ({"field": "age", "op": "ge", "value": "x"}, "needs a number"),
    ({"field": "age", "op": "ge", "value": [1, 2]}, "single value"),
    ({"field": "region", "op": "starts_with", "value": [43]}, "list of strings"),
])
def test_bad_rules_are_refused(rule, fragment):
    with pytest.raises(Exception, match=fragment):
        RuleSpec.model_validate(rule)


def test_shipped_ladder_is_valid_and_realistic():
    spec = load_ladder_file(DEFAULT_LADDER)
    assert len(spec.products) == 10
    assert {p.provider for p in spec.products} == {"bank", "subsidiary"}
    assert any(not p.online_closable for p in spec.products)
    assert all(p.pricing.ceiling <= Decimal("24") for p in spec.products)


def test_ladder_validation_lists_every_problem_by_product_and_field():
    raw = {"ladder_id": "main", "version": 0, "lpr": {"lpr_1y": "3.1"}, "lpr_as_of": "2026-11-20",
           "products": [
               {"id": "ok_one", "name": "甲", "provider": "bank", "level": 1, "channels": ["app"],
                "online_closable": True, "rules": [{"field": "age", "op": "ge", "value": 18}],
                "pricing": {"spread_by_grade": {"A": "1"}, "floor": "5", "ceiling": "4"},
                "limits": {"amount_min": 100, "amount_max": 10, "term_min": 1, "term_max": 12}},
               {"id": "bad_two", "name": "乙", "provider": "bank_x", "level": 1, "channels": ["app"],
                "online_closable": True, "rules": [{"field": "salary", "op": "ge", "value": 1}],
                "pricing": {"spread_by_grade": {"A": "1"}, "floor": "1", "ceiling": "4"},
                "limits": {"amount_min": 1, "amount_max": 10, "term_min": 1, "term_max": 12}},
           ]}
    with pytest.raises(ValidationError) as err:
        parse_ladder(raw, "test.yaml")
    where = " | ".join(f"{d['where']}: {d['message']}" for d in err.value.details)
    assert len(err.value.details) == 5, where
    assert "test.yaml: version" in where
    assert "products[0](ok_one).pricing" in where and "floor 5 is above ceiling 4" in where
    assert "products[0](ok_one).limits" in where
    assert "products[1](bad_two).provider" in where
    assert "products[1](bad_two).rules[0]" in where and "unknown field" in where
