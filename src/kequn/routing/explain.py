"""Explanations in words (PIPL Art. 24): what was decided, why, and how to ask a person to re-examine it."""

from __future__ import annotations

from typing import Any

from kequn.domain.loans import OUTCOME_LABELS, PROVIDER_LABELS, Decision
from kequn.routing.rules import fmt

REVIEW_NOTICE = ("如您对本次自动化决策结果有异议，可通过手机银行、客服热线或任一网点申请人工复核，"
                 "我们将由专人重新审查并答复您。")


def _offer_line(o: Any) -> str:
    where = "可在线上直接办理" if o.online_closable else "需到网点办理，客户经理将与您联系"
    return (f"「{o.product_name}」（{PROVIDER_LABELS[o.provider]}）：年利率{o.apr}%，额度{fmt(o.limit)}元，"
            f"期限{o.term_months}个月，{where}")


def failed_reasons(d: Decision) -> list[str]:
    """One line per declined product: its name and every rule it failed."""
    lines = []
    for e in d.trail:
        if not e.eligible:
            why = "；".join(o.message for o in e.outcomes if not o.passed)
            lines.append(f"「{e.product_name}」未通过：{why}")
    return lines


def explain(d: Decision) -> str:
    """The decision for the customer, in Chinese."""
    n_ok = len(d.offers)
    grade = f"（风险等级{d.risk_grade}）" if d.risk_grade else ""
    head = (f"您的申请 {d.application_id}{grade}已按贷款产品阶梯 {d.ladder_id} 第{d.ladder_version}版"
            f"逐一评估了 {len(d.trail)} 个产品，其中 {n_ok} 个符合条件。")
    parts = [head]
    if d.chosen is None:
        parts.append("很抱歉，目前暂无符合条件的产品。主要原因如下：")
        parts += [f"- {line}" for line in failed_reasons(d)]
    else:
        parts.append("按“年利率最低优先；利率相同时额度高者优先；再相同时本行产品优先”的规则，为您推荐：")
        parts.append(f"- {_offer_line(d.chosen)}")
        parts.append(f"  定价过程：{' → '.join(d.chosen.pricing_steps)}")
        others = d.offers[1:]
        if others:
            parts.append("其他符合条件的产品：")
            parts += [f"- {_offer_line(o)}" for o in others]
        declined = failed_reasons(d)
        if declined:
            parts.append("未通过的产品及原因：")
            parts += [f"- {line}" for line in declined]
    parts.append(f"结论：{OUTCOME_LABELS[d.outcome]}。原因代码：{', '.join(d.reason_codes)}。"
                 f"依据版本：产品阶梯 v{d.ladder_version}，风险模型 {d.model_version}。")
    parts.append(REVIEW_NOTICE)
    return "\n".join(parts)


def trail_rows(d: Decision) -> list[dict[str, Any]]:
    """The complete trail as flat rows: product × rule, passed or not, code and words."""
    return [
        {"product_id": e.product_id, "product": e.product_name, "provider": PROVIDER_LABELS[e.provider],
         "level": e.level, "passed": o.passed, "reason_code": o.reason_code, "rule": o.rule,
         "message": o.message}
        for e in d.trail for o in e.outcomes
    ]


__all__ = ["REVIEW_NOTICE", "explain", "failed_reasons", "trail_rows"]
