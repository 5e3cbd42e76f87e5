"""The router (最优利率路由): one application → every product at every level evaluated → eligible offers
with a personal rate, limit and term → the best for the customer → a :class:`Decision` with its trail.

Routing rule (total order, so the same input always gives the same decision):
  1. lowest APR; 2. higher personal limit; 3. the bank's own before the subsidiary;
  4. lower ladder level; 5. product id.
Pure: values in, values out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from kequn.domain.loans import (
    Application,
    Decision,
    LadderSpec,
    Offer,
    ProductEvaluation,
    ProductSpec,
    RuleOutcome,
)
from kequn.routing.rules import MEMO_SIZE, Check, compile_rule, fmt

_CENT = Decimal("0.01")
_HUNDRED = Decimal("100")
_PROVIDER_RANK = {"bank": 0, "subsidiary": 1}
BASE_LABELS = {"lpr_1y": "1年期LPR", "lpr_5y": "5年期以上LPR"}


@dataclass(frozen=True, slots=True)
class CompiledProduct:
    spec: ProductSpec
    checks: tuple[Check, ...]
    base_rate: Decimal
    #: memo of pure per-product steps (limit and term by income and term; price by grade and segments)
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    #: positions of this product's rules in the ladder's distinct checks (``CompiledLadder.checks``)
    check_idx: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CompiledLadder:
    spec: LadderSpec
    products: tuple[CompiledProduct, ...]
    #: the ladder's distinct rules, compiled once: identical rules of several products (age, overdue
    #: history, region … — 35 distinct of 60 in the shipped ladder) are evaluated once per application
    checks: tuple[Check, ...] = ()

    @property
    def ladder_id(self) -> str:
        return self.spec.ladder_id

    @property
    def version(self) -> int:
        return self.spec.version


def compile_ladder(spec: LadderSpec) -> CompiledLadder:
    """Compile every distinct rule once; products keep their declared order (level, then position)."""
    ordered = sorted(enumerate(spec.products), key=lambda ip: (ip[1].level, ip[0]))
    position: dict[str, int] = {}
    checks: list[Check] = []
    products = []
    for _, p in ordered:
        idx = []
        for r in p.rules:
            key = r.model_dump_json()  # equal declarations give equal outcomes: one compiled check
            if key not in position:
                position[key] = len(checks)
                checks.append(compile_rule(r))
            idx.append(position[key])
        products.append(CompiledProduct(p, tuple(checks[i] for i in idx), spec.lpr[p.pricing.base],
                                        check_idx=tuple(idx)))
    return CompiledLadder(spec, tuple(products), tuple(checks))


def personal_limit(p: ProductSpec, app: Application) -> Decimal:
    """min(product maximum, income multiple × monthly income), rounded down to 100 yuan."""
    limit = p.limits.amount_max
    if p.limits.income_multiple is not None:
        limit = min(limit, p.limits.income_multiple * app.monthly_income)
    return (limit / _HUNDRED).to_integral_value(ROUND_DOWN) * _HUNDRED


def _limit_outcome(p: ProductSpec, app: Application, limit: Decimal) -> RuleOutcome:
    basis = f"产品上限{fmt(p.limits.amount_max)}元"
    if p.limits.income_multiple is not None:
        basis += f"、月收入{fmt(app.monthly_income)}元的{fmt(p.limits.income_multiple)}倍"
    ok = limit >= p.limits.amount_min
    verdict = "符合" if ok else f"低于产品最低额度{fmt(p.limits.amount_min)}元：不符合"
    return RuleOutcome("limit >= amount_min", ok, "LIMIT_BELOW_MIN" if not ok else "LIMIT_OK",
                       f"个人额度{fmt(limit)}元（按{basis}取低者），{verdict}")


def _term(p: ProductSpec, app: Application) -> tuple[int, RuleOutcome]:
    lo, hi = p.limits.term_min, p.limits.term_max
    term = min(max(app.term_months, lo), hi)
    if term == app.term_months:
        return term, RuleOutcome("term in range", True, "TERM_OK",
                                 f"申请期限{term}个月，在产品期限{lo}至{hi}个月之内：符合")
    return term, RuleOutcome("term in range", True, "TERM_ADJUSTED",
                             f"申请期限{app.term_months}个月超出产品期限{lo}至{hi}个月，按{term}个月报价")


def price(p: ProductSpec, base_rate: Decimal, grade: str, segments: tuple[str, ...]) -> tuple[Decimal, tuple[str, ...]]:
    """APR in percent and the steps that produced it (in Chinese)."""
    pr = p.pricing
    spread = pr.spread_by_grade[grade]  # type: ignore[index]
    rate = base_rate + spread
    steps = [f"{BASE_LABELS[pr.base]} {base_rate}%", f"风险等级{grade}加点 {spread:+}%"]
    for promo in pr.promotions:
        if promo.segment in segments:
            rate -= promo.discount
            steps.append(f"{promo.label} -{promo.discount}%")
    clamped = min(max(rate, pr.floor), pr.ceiling)
    if clamped != rate:
        steps.append(f"按利率{'下限' if clamped == pr.floor else '上限'} {clamped}% 执行")
    apr = clamped.quantize(_CENT, ROUND_HALF_UP)
    steps.append(f"年利率(APR) {apr}%")
    return apr, tuple(steps)


def _pricing_outcome(p: ProductSpec, grade: str | None) -> RuleOutcome | None:
    if grade is None:
        return RuleOutcome("risk_grade present", False, "GRADE_MISSING", "缺少风险等级，无法定价：不符合")
    if grade not in p.pricing.spread_by_grade:
        priced = "、".join(sorted(p.pricing.spread_by_grade))
        return RuleOutcome("risk_grade priced", False, "GRADE_NOT_PRICED",
                           f"风险等级{grade}不在本产品定价范围（{priced}）内：不符合")
    return None


def _memo(cp: CompiledProduct, key: Any, make: Any) -> Any:
    hit = cp.memo.get(key)
    if hit is None:
        hit = make()
        if len(cp.memo) < MEMO_SIZE:
            cp.memo[key] = hit
    return hit


def _limit_and_term(cp: CompiledProduct, app: Application) -> tuple[Decimal, RuleOutcome, int, RuleOutcome]:
    limit = personal_limit(cp.spec, app)
    term, term_outcome = _term(cp.spec, app)
    return limit, _limit_outcome(cp.spec, app, limit), term, term_outcome


def evaluate_product(cp: CompiledProduct, app: Application,
                     results: list[RuleOutcome] | None = None) -> ProductEvaluation:
    """Every rule of one product, then limit, term and price; an offer when all passed. ``results``: the
    outcomes of the ladder's distinct checks for ``app`` (as :func:`route` computes them once)."""
    p = cp.spec
    outcomes = ([results[i] for i in cp.check_idx] if results is not None
                else [check(app) for check in cp.checks])
    limit, limit_outcome, term, term_outcome = _memo(
        cp, ("limit", app.monthly_income, app.term_months), lambda: _limit_and_term(cp, app))
    outcomes.append(limit_outcome)
    outcomes.append(term_outcome)
    priced = _pricing_outcome(p, app.risk_grade)
    if priced is not None:
        outcomes.append(priced)
    eligible = all(o.passed for o in outcomes)
    offer = None
    if eligible:
        apr, steps = _memo(cp, ("price", app.risk_grade, app.segments),
                           lambda: price(p, cp.base_rate, app.risk_grade, app.segments))  # type: ignore[arg-type]
        offer = Offer(p.id, p.name, p.provider, p.level, apr, limit, min(app.amount_requested, limit),
                      term, p.online_closable, p.channels, steps)
    return ProductEvaluation(p.id, p.name, p.provider, p.level, eligible, tuple(outcomes), offer)


def customer_order(o: Offer) -> tuple[Decimal, Decimal, int, int, str]:
    """Sort key: best for the customer first (lowest APR, higher limit, the bank's own, lower level)."""
    return (o.apr, -o.limit, _PROVIDER_RANK[o.provider], o.level, o.product_id)


def route(ladder: CompiledLadder, app: Application, *, model_version: str = "declared") -> Decision:
    """Evaluate every product and choose the best eligible offer for the customer."""
    results = [check(app) for check in ladder.checks]  # each distinct rule once
    trail = tuple(evaluate_product(cp, app, results) for cp in ladder.products)
    offers = tuple(sorted((e.offer for e in trail if e.offer is not None), key=customer_order))
    chosen = offers[0] if offers else None
    if chosen is None:
        outcome = "declined"
        codes = tuple(sorted({o.reason_code for e in trail for o in e.outcomes if not o.passed}))
    else:
        outcome = "offer" if chosen.online_closable else "lead"
        codes = ("BEST_APR", f"PRODUCT_{chosen.product_id.upper()}") + (
            ("BRANCH_LEAD",) if outcome == "lead" else ())
    return Decision(app.application_id, ladder.ladder_id, ladder.version, model_version, app.risk_grade,
                    outcome, chosen, offers, trail, codes)


__all__ = ["CompiledLadder", "CompiledProduct", "compile_ladder", "customer_order", "evaluate_product",
           "personal_limit", "price", "route"]
