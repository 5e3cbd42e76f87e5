"""Property-based tests of the segment rule language (hypothesis).

1. Random *valid* rules — generated as a small tree in this file that both renders to text and evaluates
   itself in plain Python with SQL's three-valued logic — select exactly the members DuckDB selects when the
   rule is parsed, checked and compiled to Ibis by kequn.segments.
2. Random *invalid* input (random text, token soup, one-character mutations of valid rules) either raises
   SegmentError with a position inside the text, or is a valid rule that then runs on DuckDB without error:
   never a crash, never a database error.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kequn.errors import SegmentError
from kequn.segments.lang import parse
from kequn.segments.rules import Catalogue, TagSpec, band_levels, check, members

TIERS = ("mass", "gold", "wealth", "private")
CITIES = ("长沙", "株洲", "湘潭", "岳阳")
INDUSTRIES = ("制造业", "批发和零售业", "教育")
SPEND = ("餐饮", "超市", "加油", "旅游")

CATALOGUE = Catalogue.of([
    TagSpec("payroll_flag", "customer", "flag"),
    TagSpec("aum", "customer", "number"),
    TagSpec("products_held", "customer", "number"),
    TagSpec("city", "customer", "category"),
    TagSpec("aum_tier", "customer", "band", levels=TIERS),
    TagSpec("top_spend_categories", "customer", "list"),
    TagSpec("industry", "enterprise", "category"),
])


def _rows(seed: int = 7, n: int = 80) -> list[dict[str, Any]]:
    rng = random.Random(seed)

    def maybe(v: Any) -> Any:
        return None if rng.random() < 0.15 else v

    return [{
        "customer_id": f"C{i:03d}",
        "payroll_flag": maybe(rng.random() < 0.5),
        "aum": maybe(round(rng.choice([-1.0, 0.0, 0.5, 3.0, 100.25, rng.uniform(-10, 200)]), 2)),
        "products_held": maybe(rng.randint(0, 5)),
        "city": maybe(rng.choice(CITIES)),
        "aum_tier": maybe(rng.choice(TIERS)),
        "top_spend_categories": maybe(rng.sample(SPEND, rng.randint(0, 3))),
        "employer__industry": maybe(rng.choice(INDUSTRIES)),
    } for i in range(n)]


ROWS = _rows()


@pytest.fixture(scope="module")
def con():
    import pyarrow as pa

    c = ibis.duckdb.connect()
    schema = pa.schema([("customer_id", pa.string()), ("payroll_flag", pa.bool_()), ("aum", pa.float64()),
                        ("products_held", pa.int64()), ("city", pa.string()), ("aum_tier", pa.string()),
                        ("top_spend_categories", pa.list_(pa.string())), ("employer__industry", pa.string())])
    c.create_table("profile", ibis.memtable(pa.Table.from_pylist(ROWS, schema=schema)))
    yield c
    c.disconnect()


# ----------------------------------------------------------------------------------------- reference model
def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _not(a: bool | None) -> bool | None:
    return None if a is None else not a


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


@dataclass(frozen=True)
class R:
    """A reference rule: its text and its plain-Python evaluation."""

    text: str
    fn: Any

    def __call__(self, row: dict[str, Any]) -> bool | None:
        return self.fn(row)


_OPS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _cmp(op: str, a: Any, b: Any) -> bool | None:
    return None if a is None or b is None else _OPS[op](a, b)


numbers = st.sampled_from([-1, 0, 0.5, 2, 3, 3.5, 100.25, 150])
num_tags = st.sampled_from(["aum", "products_held"])
ops = st.sampled_from(list(_OPS))


def _flag() -> st.SearchStrategy[R]:
    return st.just(R("payroll_flag", lambda r: r["payroll_flag"]))


@st.composite
def _num_cmp(draw: Any) -> R:
    tag, op, v = draw(num_tags), draw(ops), draw(numbers)
    if draw(st.booleans()):
        return R(f"{tag} {op} {_num(v)}", lambda r: _cmp(op, r[tag], v))
    flipped = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
    return R(f"{_num(v)} {op} {tag}", lambda r: _cmp(flipped, r[tag], v))


@st.composite
def _ref_cmp(draw: Any) -> R:
    op = draw(ops)
    return R(f"aum {op} products_held", lambda r: _cmp(op, r["aum"], r["products_held"]))


@st.composite
def _cat_cmp(draw: Any) -> R:
    op, v = draw(st.sampled_from(["==", "!="])), draw(st.sampled_from(CITIES + ("北京",)))
    return R(f"city {op} {_q(v)}", lambda r: _cmp(op, r["city"], v))


@st.composite
def _in_list(draw: Any) -> R:
    neg = draw(st.booleans())
    kw = "not in" if neg else "in"
    if draw(st.booleans()):
        vs = draw(st.lists(st.sampled_from(CITIES), min_size=1, max_size=3))
        tag, text = "city", ", ".join(_q(v) for v in vs)
    else:
        vs = draw(st.lists(st.integers(0, 5), min_size=1, max_size=3))
        tag, text = "products_held", ", ".join(map(str, vs))

    def fn(r: dict[str, Any]) -> bool | None:
        if r[tag] is None:
            return None
        return (r[tag] in vs) != neg

    return R(f"{tag} {kw} [{text}]", fn)


@st.composite
def _band(draw: Any) -> R:
    op, v = draw(ops), draw(st.sampled_from(TIERS))

    def fn(r: dict[str, Any]) -> bool | None:
        x = r["aum_tier"]
        if x is None:
            return None
        if op in ("==", "!="):
            return _OPS[op](x, v)
        return _OPS[op](TIERS.index(x), TIERS.index(v))

    return R(f"aum_tier {op} {_q(v)}", fn)


@st.composite
def _contains(draw: Any) -> R:
    v = draw(st.sampled_from(SPEND))
    return R(f"top_spend_categories contains {_q(v)}",
             lambda r: None if r["top_spend_categories"] is None else v in r["top_spend_categories"])


@st.composite
def _null(draw: Any) -> R:
    tag = draw(st.sampled_from(["aum", "city", "payroll_flag", "aum_tier", "employer.industry"]))
    col = tag.replace(".", "__")
    neg = draw(st.booleans())
    return R(f"{tag} is {'not ' if neg else ''}null", lambda r: (r[col] is not None) if neg else (r[col] is None))


@st.composite
def _relation(draw: Any) -> R:
    op, v = draw(st.sampled_from(["==", "!="])), draw(st.sampled_from(INDUSTRIES))
    return R(f"employer.industry {op} {_q(v)}", lambda r: _cmp(op, r["employer__industry"], v))


atoms = st.one_of(_flag(), _num_cmp(), _ref_cmp(), _cat_cmp(), _in_list(), _band(), _contains(), _null(),
                  _relation())


def _extend(children: st.SearchStrategy[R]) -> st.SearchStrategy[R]:
    both = st.tuples(children, children)
    return st.one_of(
        both.map(lambda p: R(f"({p[0].text}) and ({p[1].text})", lambda r: _and(p[0](r), p[1](r)))),
        both.map(lambda p: R(f"({p[0].text}) or ({p[1].text})", lambda r: _or(p[0](r), p[1](r)))),
        both.map(lambda p: R(f"{p[0].text} AND {p[1].text}" if " or " not in p[0].text + p[1].text
                             and " OR " not in p[0].text + p[1].text else f"({p[0].text}) and ({p[1].text})",
                             lambda r: _and(p[0](r), p[1](r)))),
        children.map(lambda c: R(f"not ({c.text})", lambda r: _not(c(r)))),
    )


rules = st.recursive(atoms, _extend, max_leaves=8)


def _duckdb_members(con: Any, text: str) -> set[str]:
    node = parse(text)
    check(node, CATALOGUE, "customer")
    expr = members(node, con.table("profile"), "customer_id", band_levels(node, CATALOGUE, "customer"))
    return set(expr.to_pyarrow().column("customer_id").to_pylist())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=rules)
def test_random_valid_rules_match_the_reference(con: Any, rule: R) -> None:
    expected = {r["customer_id"] for r in ROWS if rule(r) is True}
    assert _duckdb_members(con, rule.text) == expected, rule.text


def test_reference_data_exercises_nulls_and_both_outcomes(con: Any) -> None:
    # the fixed data must make the property meaningful: some members, some not, some NULL
    assert 0 < len(_duckdb_members(con, "payroll_flag")) < len(ROWS)
    assert len(_duckdb_members(con, "aum is null")) > 0
    assert len(_duckdb_members(con, "employer.industry == \"制造业\"")) > 0


# ----------------------------------------------------------------------------------------- invalid input
VOCAB = ["payroll_flag", "aum", "city", "aum_tier", "top_spend_categories", "employer", "industry", "foo", ".",
         "and", "or", "not", "in", "is", "null", "contains", "true", "false", "(", ")", "[", "]", ",", "==", "!=",
         "<", "<=", ">", ">=", "=", "-", "3", "0.5", "1e5", '"长沙"', "'gold'", '"', "制造业", "!", "&&", "\\"]


def _never_crashes(con: Any, text: str) -> None:
    try:
        node = parse(text)
        check(node, CATALOGUE, "customer")
    except SegmentError as exc:
        assert exc.position is not None and 0 <= exc.position <= len(text), (text, exc.position)
        assert str(exc.position) in str(exc)
        return
    # a valid rule must run on the database without error
    members(node, con.table("profile"), "customer_id", band_levels(node, CATALOGUE, "customer")).count().execute()


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60))
def test_random_text_gives_segment_error_with_position(con: Any, text: str) -> None:
    _never_crashes(con, text)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(VOCAB), min_size=1, max_size=12), sep=st.sampled_from([" ", ""]))
def test_token_soup_gives_segment_error_with_position(con: Any, words: list[str], sep: str) -> None:
    _never_crashes(con, sep.join(words))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=rules, data=st.data())
def test_mutated_valid_rules_never_crash(con: Any, rule: R, data: Any) -> None:
    text = rule.text
    i = data.draw(st.integers(0, len(text)))
    action = data.draw(st.sampled_from(["delete", "insert", "replace"]))
    ch = data.draw(st.sampled_from(list("()[],.\"'=<>!- aZ9_") + ["and", "or", "not", "null"]))
    if action == "delete":
        mutated = text[:i] + text[i + 1:]
    elif action == "insert":
        mutated = text[:i] + ch + text[i:]
    else:
        mutated = text[:i] + ch + text[i + 1:]
    _never_crashes(con, mutated)
