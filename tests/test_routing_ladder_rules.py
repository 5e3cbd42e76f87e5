"""Decision tables over EVERY rule of the shipped ladder: one applicant who qualifies for all ten products,
then, rule by rule, the value at the rule's boundary (still eligible) and just past it (declined by that
rule alone, with its reason code and a sentence saying why). The tables are derived from the YAML, so a
rule added to the ladder is tested without writing a new case."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kequn.domain.loans import GRADES, Application, RuleSpec
from kequn.routing.ladder import DEFAULT_LADDER, load_ladder_file
from kequn.routing.router import compile_ladder, evaluate_product

LADDER = compile_ladder(load_ladder_file(DEFAULT_LADDER))

#: qualifies for every shipped product (checked by the first test)
GOLDEN = dict(
    application_id="G1", customer_id="C1", branch_id="B01", applied_on="2026-11-28", channel="app",
    customer_type="sme_owner", age=40, monthly_income="20000", amount_requested="50000", term_months=12,
    payroll_months=24, risk_grade="B", overdue_count_24m=0, max_days_past_due=0, region="430121", industry="C",
    tags={"payroll_customer": True, "housing_fund_months": 36, "housing_fund_monthly": 1500,
          "tax_credit_rating": "A", "tax_paid_annual": 80000, "business_years": 6, "owns_property_in_region": True,
          "card_holder": True, "card_months": 48, "acquiring_months": 24, "acquiring_monthly_avg": 90000,
          "pos_scenario": True},
)


def with_value(field: str, value) -> Application:
    raw = {**GOLDEN, "tags": dict(GOLDEN["tags"])}
    if field.startswith("tags."):
        raw["tags"][field[5:]] = value
    else:
        raw[field] = value
    return Application.model_validate(raw)


def _step(v):
    return 1 if isinstance(v, int) else Decimal("0.01")


def boundary_cases(rule: RuleSpec) -> list[tuple[object, bool]]:
    """(value, passes?) at and just past the rule's boundary."""
    v = rule.value
    match rule.op:
        case "ge":
            return [(v, True), (v - _step(v), False)]
        case "gt":
            return [(v + _step(v), True), (v, False)]
        case "le":
            return [(v, True), (v + _step(v), False)]
        case "lt":
            return [(v - _step(v), True), (v, False)]
        case "between":
            lo, hi = v
            return [(lo, True), (hi, True), (lo - _step(lo), False), (hi + _step(hi), False)]
        case "eq":
            other = (not v) if isinstance(v, bool) else (v + 1) if isinstance(v, int) else \
                ("individual" if v == "sme_owner" else "x")
            return [(v, True), (other, False)]
        case "in":
            pool = [g for g in GRADES if g not in v] if rule.field == "risk_grade" else \
                ["M"] if rule.field.startswith("tags.") else ["430104" if rule.field == "region" else "Z"]
            return [(x, True) for x in v] + [(x, False) for x in pool]
        case "not_in":
            return [(x, False) for x in v]
        case "starts_with":
            return [(v[0] + "0000", True), ("990000", False)]
    raise AssertionError(rule.op)


CASES = [pytest.param(cp, rule, value, passes,
                      id=f"{cp.spec.id}:{rule.field}:{rule.op}:{value}:{'pass' if passes else 'fail'}")
         for cp in LADDER.products for rule in cp.spec.rules for value, passes in boundary_cases(rule)]


def test_golden_applicant_qualifies_for_every_product():
    app = Application.model_validate(GOLDEN)
    failed = {cp.spec.id: [o.message for o in evaluate_product(cp, app).outcomes if not o.passed]
              for cp in LADDER.products}
    assert all(not f for f in failed.values()), failed


def test_every_rule_has_cases():
    ruled = {(cp.spec.id, r.field) for cp in LADDER.products for r in cp.spec.rules}
    covered = {(c.values[0].spec.id, c.values[1].field) for c in CASES}
    assert ruled == covered and len(CASES) > 120


@pytest.mark.parametrize(("cp", "rule", "value", "passes"), CASES)
def test_rule_at_its_boundary(cp, rule, value, passes):
    ev = evaluate_product(cp, with_value(rule.field, value))
    failed = [o for o in ev.outcomes if not o.passed]
    if passes:
        assert ev.eligible and ev.offer is not None, [o.message for o in failed]
    else:
        assert not ev.eligible and ev.offer is None
        expected = [rule.reason_code]
        if rule.field == "risk_grade" and value not in cp.spec.pricing.spread_by_grade:
            expected.append("GRADE_NOT_PRICED")  # a grade the product refuses has no price either
        assert [o.reason_code for o in failed] == expected
        assert failed[0].message.endswith("不符合")
