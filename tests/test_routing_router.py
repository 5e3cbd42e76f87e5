"""The router: pricing, limits, terms, the best-for-the-customer rule and its tie-breaks, all-declined, the
subsidiary cascade, branch leads, explanations — and two properties over random applications and ladders:
the chosen offer is never worse for the customer than any other eligible offer, and the same input always
gives the same decision."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from kequn.domain.loans import Application, Decision, LadderSpec
from kequn.routing.explain import explain, trail_rows
from kequn.routing.ladder import DEFAULT_LADDER, load_ladder_file
from kequn.routing.router import compile_ladder, route

BASE = dict(application_id="A1", customer_id="C1", branch_id="B01", applied_on="2026-11-28", channel="app",
            age=35, monthly_income="10000", amount_requested="50000", term_months=12, region="430104",
            risk_grade="B")


def app(**over) -> Application:
    return Application.model_validate({**BASE, **over})


def product(pid, *, provider="bank", level=1, spread=None, floor="0", ceiling="24", amount_max=100000,
            income_multiple=None, rules=(), online=True, promotions=(), term=(3, 36), amount_min=1000):
    return {"id": pid, "name": pid.upper(), "provider": provider, "level": level, "channels": ["app"],
            "online_closable": online, "rules": list(rules),
            "pricing": {"spread_by_grade": spread or {g: "1.00" for g in "ABCDE"}, "floor": floor,
                        "ceiling": ceiling, "promotions": list(promotions)},
            "limits": {"amount_min": amount_min, "amount_max": amount_max, "income_multiple": income_multiple,
                       "term_min": term[0], "term_max": term[1]}}


def ladder(*products, version=1):
    return compile_ladder(LadderSpec.model_validate({"ladder_id": "t", "version": version, "lpr": {
        "lpr_1y": "3.10", "lpr_5y": "3.60"}, "lpr_as_of": "2026-11-20", "products": list(products)}))


# ------------------------------------------------------------------------------------ pricing, limits


def test_price_is_lpr_plus_grade_spread_minus_promotion():
    lad = ladder(product("p", spread={"B": "0.85"}, promotions=[{"segment": "vip", "discount": "0.20",
                                                                   "label": "VIP优惠"}]))
    assert route(lad, app()).chosen.apr == Decimal("3.95")
    promoted = route(lad, app(segments=["vip"])).chosen
    assert promoted.apr == Decimal("3.75")
    assert promoted.pricing_steps == ("1年期LPR 3.10%", "风险等级B加点 +0.85%", "VIP优惠 -0.20%", "年利率(APR) 3.75%")


def test_floor_and_ceiling_clamp_the_rate():
    lad = ladder(product("floor", spread={"B": "0.10"}, floor="3.45"), product("ceil", spread={"B": "30"},
                                                                               ceiling="23.90"))
    d = route(lad, app())
    by_id = {o.product_id: o for o in d.offers}
    assert by_id["floor"].apr == Decimal("3.45") and "按利率下限 3.45% 执行" in by_id["floor"].pricing_steps
    assert by_id["ceil"].apr == Decimal("23.90") and "按利率上限 23.90% 执行" in by_id["ceil"].pricing_steps


def test_grade_not_priced_declines_with_reason():
    d = route(ladder(product("p", spread={"A": "0.5"})), app(risk_grade="B"))
    assert d.outcome == "declined" and d.reason_codes == ("GRADE_NOT_PRICED",)
    d = route(ladder(product("p")), app(risk_grade=None))
    assert d.reason_codes == ("GRADE_MISSING",)


def test_personal_limit_is_income_multiple_capped_by_product_max_rounded_down():
    lad = ladder(product("p", amount_max=300000, income_multiple="15"))
    assert route(lad, app(monthly_income="12345.67")).chosen.limit == Decimal("185100")
    assert route(lad, app(monthly_income="50000")).chosen.limit == Decimal("300000")
    offer = route(lad, app(monthly_income="10000", amount_requested="200000")).chosen
    assert (offer.limit, offer.amount) == (Decimal("150000"), Decimal("150000"))


def test_limit_below_product_minimum_declines():
    lad = ladder(product("p", amount_min=10000, income_multiple="2"))
    assert route(lad, app(monthly_income="5000")).chosen is not None  # 10,000 = minimum: boundary passes
    d = route(lad, app(monthly_income="4999.99"))
    assert d.outcome == "declined" and d.reason_codes == ("LIMIT_BELOW_MIN",)
    assert "低于产品最低额度10,000元" in trail_rows(d)[0]["message"]


def test_term_outside_range_is_quoted_at_nearest_allowed_term():
    lad = ladder(product("p", term=(6, 36)))
    assert route(lad, app(term_months=6)).chosen.term_months == 6
    assert route(lad, app(term_months=3)).chosen.term_months == 6
    assert route(lad, app(term_months=60)).chosen.term_months == 36


# ------------------------------------------------------------------------------ choosing the best


def test_lowest_apr_wins():
    d = route(ladder(product("dear", spread={"B": "2"}), product("cheap", spread={"B": "1"}, level=3)), app())
    assert d.chosen.product_id == "cheap" and [o.product_id for o in d.offers] == ["cheap", "dear"]
    assert d.outcome == "offer" and d.reason_codes == ("BEST_APR", "PRODUCT_CHEAP")


def test_tie_on_rate_goes_to_higher_limit():
    d = route(ladder(product("small", amount_max=50000), product("big", amount_max=80000)), app())
    assert d.chosen.product_id == "big"


def test_tie_on_rate_and_limit_goes_to_the_bank_before_the_subsidiary():
    d = route(ladder(product("sub", provider="subsidiary", level=1), product("own", provider="bank", level=3)),
              app())
    assert d.chosen.product_id == "own"


def test_all_declined_lists_every_failed_rule_of_every_product():
    lad = ladder(product("a", rules=[{"field": "age", "op": "le", "value": 30, "code": "AGE_OUT_OF_RANGE"}]),
                 product("b", rules=[{"field": "tags.payroll_customer", "op": "eq", "value": True,
                                      "code": "NOT_PAYROLL_CUSTOMER", "label": "本行代发工资客户"}]))
    d = route(lad, app(age=31))
    assert d.outcome == "declined" and d.chosen is None and d.offers == ()
    assert d.reason_codes == ("AGE_OUT_OF_RANGE", "NOT_PAYROLL_CUSTOMER")
    text = explain(d)
    assert "暂无符合条件的产品" in text and "年龄为31岁，要求不超过30岁" in text and "本行代发工资客户缺失" in text
    assert "人工复核" in text


def test_subsidiary_catches_what_the_bank_declines():
    """The cascade on the shipped ladder: a grade-E applicant with an old overdue is declined by every bank
    product and offered the subsidiary's loan at its higher price."""
    lad = compile_ladder(load_ladder_file(DEFAULT_LADDER))
    d = route(lad, app(risk_grade="E", overdue_count_24m=4, tags={"payroll_customer": True}, payroll_months=24))
    bank = [e for e in d.trail if e.provider == "bank"]
    assert bank and not any(e.eligible for e in bank)
    assert d.chosen.product_id == "sub_consumer_loan" and d.chosen.provider == "subsidiary"
    assert d.chosen.apr == Decimal("21.00")  # 3.10 + 17.90
    # the same applicant at grade B is kept by the bank at a far lower rate
    good = route(lad, app(risk_grade="B", tags={"payroll_customer": True}, payroll_months=24))
    assert good.chosen.provider == "bank" and good.chosen.product_id == "salary_loan"


def test_product_that_cannot_close_online_becomes_a_branch_lead():
    d = route(ladder(product("branch_only", online=False, spread={"B": "0.1"}), product("online")), app())
    assert d.chosen.product_id == "branch_only" and d.outcome == "lead"
    assert d.reason_codes[-1] == "BRANCH_LEAD" and "需到网点办理" in explain(d)


def test_trail_covers_every_rule_of_every_product():
    lad = compile_ladder(load_ladder_file(DEFAULT_LADDER))
    d = route(lad, app())
    assert len(d.trail) == 10
    for e, p in zip(d.trail, sorted(lad.spec.products, key=lambda p: p.level), strict=False):
        assert len(e.outcomes) >= len(p.rules) + 2  # declared rules + limit + term (+ pricing)
    assert all(r["message"] for r in trail_rows(d))


# -------------------------------------------------------------------------------------- properties

grades = st.sampled_from("ABCDE")
money = st.decimals(min_value=0, max_value=100000, places=2, allow_nan=False, allow_infinity=False)
applications = st.builds(
    lambda age, income, amount, term, grade, overdue, dpd, payroll, segs: app(
        age=age, monthly_income=income, amount_requested=amount, term_months=term, risk_grade=grade,
        overdue_count_24m=overdue, max_days_past_due=dpd, payroll_months=payroll, segments=segs,
        tags={"payroll_customer": payroll > 0}),
    st.integers(16, 80), money, st.decimals(min_value=1, max_value=500000, places=2), st.integers(1, 120), grades,
    st.integers(0, 8), st.integers(0, 60), st.integers(0, 48), st.lists(st.sampled_from(["vip", "x"]), max_size=2),
)
products = st.builds(
    lambda i, provider, level, spreads, max_, mult, lo_age, max_dpd, online: product(
        f"p{i}", provider=provider, level=level, spread=spreads, amount_max=max_, income_multiple=mult,
        online=online, promotions=[{"segment": "vip", "discount": "0.25", "label": "VIP"}],
        rules=[{"field": "age", "op": "ge", "value": lo_age}, {"field": "max_days_past_due", "op": "le",
                                                                 "value": max_dpd}]),
    st.integers(0, 10**6), st.sampled_from(["bank", "subsidiary"]), st.integers(1, 3),
    st.dictionaries(grades, st.sampled_from(["0.5", "1.0", "1.5", "3.0"]), min_size=1),
    st.sampled_from([50000, 100000, 200000]), st.sampled_from([None, "5", "10"]), st.integers(18, 30),
    st.sampled_from([0, 30]), st.booleans(),
)
ladders = st.lists(products, min_size=1, max_size=8, unique_by=lambda p: p["id"]).map(lambda ps: ladder(*ps))


def _not_worse(chosen, other) -> bool:
    if chosen.apr != other.apr:
        return chosen.apr < other.apr
    if chosen.limit != other.limit:
        return chosen.limit > other.limit
    return not (chosen.provider == "subsidiary" and other.provider == "bank")


@settings(max_examples=150, deadline=None)
@given(ladders, applications)
def test_chosen_offer_is_never_worse_for_the_customer(lad, application):
    d = route(lad, application)
    eligible = [e.offer for e in d.trail if e.eligible]
    assert len(eligible) == len(d.offers)
    if not eligible:
        assert d.outcome == "declined" and d.chosen is None
        return
    assert all(_not_worse(d.chosen, o) for o in eligible if o is not d.chosen)
    assert d.outcome == ("offer" if d.chosen.online_closable else "lead")


@settings(max_examples=80, deadline=None)
@given(ladders, applications)
def test_same_input_same_decision(lad, application):
    again = Application.model_validate_json(application.model_dump_json())
    d = route(lad, application)
    assert d == route(lad, again)
    assert Decision.from_record(json.loads(json.dumps(d.to_record()))) == d  # the log keeps it whole
    assert explain(route(lad, application)) == explain(route(lad, again))


def test_identical_rules_of_several_products_are_evaluated_once_with_the_same_outcomes():
    from kequn.routing.router import evaluate_product

    lad = compile_ladder(load_ladder_file(DEFAULT_LADDER))
    declared = [r for cp in lad.products for r in cp.spec.rules]
    assert len(lad.checks) == len({r.model_dump_json() for r in declared}) < len(declared)
    for i, over in enumerate([{}, {"age": 19}, {"risk_grade": "E", "overdue_count_24m": 5},
                              {"tags": {"payroll_customer": True}, "payroll_months": 12}]):
        a = app(application_id=f"D{i}", **over)
        # the shared evaluation gives exactly the trail of evaluating each product's own rules
        assert route(lad, a).trail == tuple(evaluate_product(cp, a) for cp in lad.products)
