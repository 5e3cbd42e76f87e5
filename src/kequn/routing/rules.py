"""Eligibility rules compiled once per ladder into small closures that say, in Chinese, why they passed or
failed. Compiling keeps routing fast (the hot loop only compares and formats one line per rule)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from kequn.domain.loans import APPLICATION_FIELDS, Application, RuleOutcome, RuleSpec

Check = Callable[[Application], RuleOutcome]
_MISSING = object()
MEMO_SIZE = 256  # outcomes remembered per rule (bounded: ~30 products × 9 rules × 256 small tuples)

#: enumerated values as a customer reads them
VALUE_LABELS = {"individual": "个人客户", "sme_owner": "小微企业主", "app": "手机银行", "wechat": "微信银行",
                "web": "网上银行", "branch": "网点", "call_centre": "客服中心"}


def fmt(v: Any) -> str:
    """A value as a customer reads it: 是/否, thousands separators for money, plain text otherwise."""
    t = type(v)
    if t is int:
        return str(v)
    if t is str:
        return VALUE_LABELS.get(v, v)
    if t is bool:
        return "是" if v else "否"
    if t is Decimal:
        return f"{v:,.2f}".rstrip("0").rstrip(".") if v % 1 else f"{v:,.0f}"
    if t is float:
        return f"{v:g}"
    if t is list or t is tuple:
        return "、".join(fmt(x) for x in v)
    return str(v)


def _label(spec: RuleSpec) -> tuple[str, str]:
    if spec.field in APPLICATION_FIELDS:
        label, unit = APPLICATION_FIELDS[spec.field]
        return spec.label or label, unit
    return spec.label or f"标签「{spec.field.removeprefix('tags.')}」", ""


def _number(v: Any) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(str(v))


def _requirement(spec: RuleSpec, unit: str) -> str:
    v = spec.value
    match spec.op:
        case "ge":
            return f"不低于{fmt(v)}{unit}"
        case "gt":
            return f"高于{fmt(v)}{unit}"
        case "le":
            return f"不超过{fmt(v)}{unit}"
        case "lt":
            return f"低于{fmt(v)}{unit}"
        case "eq":
            return f"为{fmt(v)}{unit}"
        case "ne":
            return f"不为{fmt(v)}{unit}"
        case "between":
            return f"在{fmt(v[0])}至{fmt(v[1])}{unit}之间"  # type: ignore[index]
        case "in":
            return f"属于{fmt(v)}"
        case "starts_with":
            return f"以{fmt(v)}开头"
        case _:
            return f"不属于{fmt(v)}"


def _predicate(spec: RuleSpec) -> Callable[[Any], bool]:
    """The comparison itself; raises TypeError when the actual value has the wrong type."""
    v = spec.value
    if spec.op in ("ge", "gt", "le", "lt", "between"):
        bounds = [_number(x) for x in (v if isinstance(v, list) else [v])]

        def num(a: Any) -> Any:  # int, float and Decimal compare exactly with a Decimal bound
            if a.__class__ is bool or not isinstance(a, (int, float, Decimal)):
                raise TypeError
            return a

        ops: dict[str, Callable[[Any], bool]] = {
            "ge": lambda a: num(a) >= bounds[0], "gt": lambda a: num(a) > bounds[0],
            "le": lambda a: num(a) <= bounds[0], "lt": lambda a: num(a) < bounds[0],
            "between": lambda a: bounds[0] <= num(a) <= bounds[1],
        }
        return ops[spec.op]
    if spec.op == "starts_with":
        prefixes = tuple(v)  # type: ignore[arg-type]
        return lambda a: isinstance(a, str) and a.startswith(prefixes)
    if spec.op in ("in", "not_in"):
        members = frozenset(v) if isinstance(v, list) else frozenset([v])
        return (lambda a: a in members) if spec.op == "in" else (lambda a: a not in members)
    want_bool = isinstance(v, bool)

    def same(a: Any) -> bool:  # a boolean rule wants a real boolean, a number rule never takes one
        return (a is v) if want_bool else (not isinstance(a, bool) and a == v)

    return same if spec.op == "eq" else (lambda a: not same(a))


def _getter(field: str) -> Callable[[Application], Any]:
    if field.startswith("tags."):
        name = field[5:]
        return lambda app: app.tags.get(name, _MISSING)
    return lambda app: getattr(app, field)


def compile_rule(spec: RuleSpec) -> Check:
    """A closure ``application -> RuleOutcome`` for one declared rule."""
    label, unit = _label(spec)
    requirement = _requirement(spec, unit)
    code = spec.reason_code
    text = f"{spec.field} {spec.op} {spec.value}"
    get, pred = _getter(spec.field), _predicate(spec)

    pre, ok_post, fail_post = f"{label}为", f"{unit}，要求{requirement}：符合", f"{unit}，要求{requirement}：不符合"
    missing = RuleOutcome(text, False, code, f"{label}缺失，要求{requirement}：不符合")

    def evaluate(actual: Any) -> RuleOutcome:
        try:
            ok = pred(actual)
        except TypeError:
            return RuleOutcome(text, False, code, f"{pre}{fmt(actual)}（类型不符），要求{requirement}：不符合")
        return RuleOutcome(text, ok, code, pre + fmt(actual) + (ok_post if ok else fail_post))

    # Memo of a pure function: most rules test low-cardinality values (grade, age, flags, region), so the
    # same outcome is built once and shared. Keyed by type too, because True == 1 and Decimal(5) == 5.
    memo: dict[tuple[type, Any], RuleOutcome] = {}

    def check(app: Application) -> RuleOutcome:
        actual = get(app)
        if actual is _MISSING or actual is None:
            return missing
        key = (actual.__class__, actual)
        out = memo.get(key)
        if out is None:
            out = evaluate(actual)
            if len(memo) < MEMO_SIZE:
                memo[key] = out
        return out

    return check


__all__ = ["Check", "compile_rule", "fmt"]
