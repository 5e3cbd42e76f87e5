"""The rule language: parsing, exact error positions, type checks against a catalogue fixture."""

from __future__ import annotations

import pytest

from kequn.errors import SegmentError
from kequn.segments.lang import BoolOp, Compare, InList, IsNull, Not, Ref, Truthy, parse, unparse
from kequn.segments.rules import Catalogue, TagSpec, check

CAT = Catalogue.of([
    TagSpec("payroll", "customer", "flag"), TagSpec("aum_band", "customer", "number"),
    TagSpec("churn_risk", "customer", "number"), TagSpec("city", "customer", "category"),
    TagSpec("aum_tier", "customer", "band", levels=("mass", "gold", "wealth", "private")),
    TagSpec("top_spend", "customer", "list"), TagSpec("industry", "enterprise", "category"),
])


def test_the_example_rule_parses_with_precedence() -> None:
    node = parse('payroll and aum_band >= 3 or not churn_risk < 0.2 and employer.industry == "制造业"')
    assert isinstance(node, BoolOp) and node.op == "or"
    left, right = node.operands
    assert isinstance(left, BoolOp) and left.op == "and" and isinstance(left.operands[0], Truthy)
    assert isinstance(right, BoolOp) and isinstance(right.operands[0], Not)
    rel = right.operands[1]
    assert isinstance(rel, Compare) and rel.left == Ref("industry", 54, "employer", 63)
    check(node, CAT, "customer")


def test_in_not_in_is_null_and_keywords_any_case() -> None:
    node = parse('city NOT IN ["长沙", \'株洲\'] AND churn_risk IS NOT NULL')
    a, b = node.operands  # type: ignore[union-attr]
    assert isinstance(a, InList) and a.negated and [v.value for v in a.values] == ["长沙", "株洲"]
    assert isinstance(b, IsNull) and b.negated


def test_unparse_round_trips() -> None:
    text = 'not (payroll or city in ["a\\"b", "c"]) and churn_risk > -0.5 and top_spend contains "餐饮"'
    node = parse(text)
    assert unparse(parse(unparse(node))) == unparse(node)


@pytest.mark.parametrize(("rule", "position", "fragment"), [
    ("", 0, "empty"),
    ("payroll and", 11, "expected a tag"),
    ("(payroll", 8, "closing parenthesis"),
    ("payroll)", 7, "unexpected"),
    ("aum_band = 3", 9, "use =="),
    ('city == "长沙', 8, "not closed"),
    ("aum_band > 3.", 12, "digits after"),
    ("aum_band > 3x", 11, "cannot start with a digit"),
    ("city in 3", 8, "list in brackets"),
    ("city in []", 9, "expected a tag, a number"),
    ("churn_risk is 3", 14, "null after"),
    ("a.b.c == 1", 3, "one level"),
    ("payroll & aum_band", 8, "unexpected character"),
    ("payroll == 1", 11, "cannot compare tag 'payroll' (flag)"),
    ("aum_band", 0, "not a flag"),
    ('city < "a"', 5, "cannot use <"),
    ('aum_band == "x"', 12, "cannot compare"),
    ("payrol and city == 'x'", 0, "did you mean payroll"),
    ("employer.size == 'x'", 9, "unknown tag 'size' of enterprise"),
    ("boss.industry == 'x'", 0, "unknown related entity"),
    ('aum_tier >= "diamond"', 12, "not a level"),
    ('top_spend == "x"', 10, "contains"),
    ("city contains 'x'", 5, "needs a list tag"),
    ("3 > 2", 2, "at least one tag"),
    ("true", 0, "bare value"),
    ("city in ['a', 2]", 14, "list item 2"),
])
def test_errors_point_at_the_exact_position(rule: str, position: int, fragment: str) -> None:
    with pytest.raises(SegmentError) as err:
        check(parse(rule), CAT, "customer")
    assert err.value.position == position, err.value.message
    assert fragment in err.value.message
    assert f"(at position {position})" in str(err.value)


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(SegmentError) as err:
        check(parse("foo and payroll == 1 and employer.bar is null"), CAT, "customer")
    assert [d["position"] for d in err.value.details] == [0, 19, 34]


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(SegmentError, match="nested"):
        parse("(" * 500 + "payroll" + ")" * 500)
    with pytest.raises(SegmentError, match="nested"):
        parse("not " * 500 + "payroll")
    with pytest.raises(SegmentError, match="longer than"):
        parse("payroll or " * 2000 + "payroll")


def test_shipped_segments_and_tracks_check_against_the_real_tag_catalogue() -> None:
    from kequn.segments import catalogue, definitions, journeys

    cat = catalogue.load()  # the governed tag catalogue + canonical attributes, no warehouse
    assert len(catalogue.from_tag_catalog()) >= 50, "the tag system's catalogue should be readable"
    shipped = definitions.load_shipped()
    assert {"payroll", "acquiring_merchants", "sme", "card_loan_cross", "medical_insurance", "new_citizens",
            "long_tail", "high_value", "dormant"} <= set(shipped)
    for seg in shipped.values():
        assert seg.rule is not None
        check(parse(seg.rule), cat, seg.entity)
    for track in journeys.load_tracks().values():
        journeys.validate(track, cat)


def test_category_values_are_checked_when_the_catalogue_declares_them() -> None:
    from kequn.segments import catalogue

    cat = catalogue.load()
    with pytest.raises(SegmentError, match="not a value of 'lifecycle_stage'") as err:
        check(parse('lifecycle_stage == "dorment"'), cat, "customer")
    assert err.value.position == 19
    with pytest.raises(SegmentError, match="not a value of 'size'"):
        check(parse('size in ["small", "huge"]'), cat, "enterprise")
    check(parse('lifecycle_stage in ["dormant", "declining"] and city == "任意城市"'), cat, "customer")
