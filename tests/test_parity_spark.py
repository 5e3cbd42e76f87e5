"""DuckDB ↔ Spark parity: one synthetic bank (400 customers × 3 months, generated once) computed on both
warehouses gives the same tag values, the same segment members and the same DQ results.

Spark runs in local mode, once per session (it takes 10–20 s to start). Skipped when pyspark or Java is
missing, unless KEQUN_REQUIRE_SERVICES=1 (then the missing piece is a failure).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import os
import shutil
from typing import Any

import pytest

AS_OF = dt.date(2026, 10, 31)  # the synthetic bank's last day (kequn.synth.DEFAULT_END)
ENTITIES = ("customer", "enterprise", "merchant")
FLOAT_TOL = 1e-9
#: tiny data: one shuffle partition, no adaptive re-planning, no whole-stage code generation (compiling
#: generated code costs more than it saves on a few thousand rows)
FAST = ("spark.sql.shuffle.partitions=1&spark.sql.adaptive.enabled=false"
        "&spark.sql.codegen.wholeStage=false")


def _spark_available() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'pyspark>=3.5,<4.1')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (Spark needs a JDK 17)"
    return None


_missing = _spark_available()
if _missing:
    if os.environ.get("KEQUN_REQUIRE_SERVICES") == "1":
        pytest.fail(f"KEQUN_REQUIRE_SERVICES=1 but {_missing}", pytrace=False)
    pytest.skip(_missing, allow_module_level=True)


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from kequn.synth import generate

    out = tmp_path_factory.mktemp("parity_bank")
    generate(out, customers=400, months=3, seed=7)
    return out


@pytest.fixture(scope="module")
def duck(bank: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from kequn.ingest import ensure_internal_tables, load_dir
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    wh = connect(f"duckdb:///{tmp_path_factory.mktemp('parity_duck') / 'wh.duckdb'}")
    create_tables(wh)
    ensure_internal_tables(wh)
    summary = load_dir(wh, bank)
    assert summary.quarantined == 0
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def spark(bank: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from kequn.warehouse import connect
    from kequn.warehouse.spark import load_parquet_dir

    wdir = tmp_path_factory.mktemp("parity_spark")
    wh = connect(f"spark+local://2?spark.sql.warehouse.dir={wdir}&{FAST}")
    assert wh.kind == "spark"
    load_parquet_dir(wh, bank, mode="view", validate=False, count=False)
    yield wh
    wh.con._session.stop()


def _specs() -> dict[str, Any]:
    from kequn.tags.approval import approved_ids
    from kequn.tags.catalog import default_catalog

    cat = default_catalog()
    return {i: cat[i] for i in approved_ids(cat)}


def _norm(v: Any) -> Any:
    """One comparable form per value: NULL/NaN → None, Decimal → float, timestamps → ISO text."""
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None).isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def _rows(expr: Any, key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: {c: _norm(x) for c, x in r.items()} for r in expr.to_pyarrow().to_pylist()}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=FLOAT_TOL, abs_tol=FLOAT_TOL)
    return a == b


def _diff(left: dict[Any, dict[str, Any]], right: dict[Any, dict[str, Any]]) -> list[str]:
    problems = [f"key {k} only on DuckDB" for k in sorted(set(left) - set(right))[:5]]
    problems += [f"key {k} only on Spark" for k in sorted(set(right) - set(left))[:5]]
    for k in sorted(set(left) & set(right)):
        for col, a in left[k].items():
            b = right[k].get(col)
            if not _same(a, b):
                problems.append(f"{k}.{col}: DuckDB {a!r} != Spark {b!r}")
    return problems


@pytest.fixture(scope="module")
def profiles(duck: Any, spark: Any) -> dict[str, Any]:
    """Tag profiles as of AS_OF on both engines through the same call (the tag store; on Spark it writes
    the latest profile tables only)."""
    from kequn.tags.model import ENTITY_KEYS
    from kequn.tags.store import compute, profile_table

    specs = _specs()
    d_runs, s_runs = compute(duck, AS_OF, specs), compute(spark, AS_OF, specs)
    assert [(r.entity, r.rows) for r in d_runs] == [(r.entity, r.rows) for r in s_runs]
    return {e: (duck.table(profile_table(e)), spark.table(profile_table(e)), ENTITY_KEYS[e]) for e in ENTITIES}


@pytest.mark.parametrize("entity", ENTITIES)
def test_tag_profiles_are_identical(profiles: dict[str, Any], entity: str) -> None:
    d, s, key = profiles[entity]
    assert sorted(d.columns) == sorted(s.columns)
    assert len(d.columns) > 2
    left, right = _rows(d, key), _rows(s, key)
    assert len(left) > 0
    problems = _diff(left, right)
    assert not problems, f"{len(problems)} difference(s), first: {problems[:10]}"


def test_ported_tags_have_values(profiles: dict[str, Any]) -> None:
    """The tags rewritten for Spark (bit_or day masks, top categories by rank) are really exercised."""
    _d, s, key = profiles["customer"]
    rows = list(_rows(s, key).values())
    assert sum(1 for r in rows if r["active_days_30d"]) > 0
    assert sum(1 for r in rows if r["login_days_30d"]) > 0
    tops = [r["top_spend_categories"] for r in rows if r["top_spend_categories"]]
    assert tops and all(1 <= len(t.split(",")) <= 3 for t in tops)
    assert any(len(t.split(",")) == 3 for t in tops)


def test_spark_urls() -> None:
    from kequn.errors import ConfigError
    from kequn.warehouse import backend_kind
    from kequn.warehouse.spark import parse_url

    assert parse_url("local[2]").master == "local[2]"
    assert parse_url("spark+local://2").master == "local[2]"
    t = parse_url("spark://m1:7077?database=dw&spark.executor.memory=4g")
    assert (t.master, t.database, dict(t.conf)) == ("spark://m1:7077", "dw", {"spark.executor.memory": "4g"})
    assert parse_url("sc://h:15002").remote == "sc://h:15002"
    assert {backend_kind(u) for u in ("local[2]", "spark+local://2", "spark://m:7077", "sc://h:15002")} == {"spark"}
    for bad in ("local[x]", "spark://", "spark+local://two", "spark://m:7077?foo=1"):
        with pytest.raises(ConfigError):
            parse_url(bad)


def test_segment_members_are_identical(profiles: dict[str, Any], duck: Any, spark: Any) -> None:
    from kequn.segments import catalogue as catalogue_mod
    from kequn.segments.definitions import load_shipped
    from kequn.segments.service import evaluate

    segs = [s for s in load_shipped().values() if not s.static]
    assert segs
    sizes = {}
    for seg in segs:
        d = sorted(r["entity_id"] for r in evaluate(duck, seg, AS_OF, catalogue_mod.load(duck)).to_pyarrow().to_pylist())
        s = sorted(r["entity_id"] for r in evaluate(spark, seg, AS_OF, catalogue_mod.load(spark)).to_pyarrow().to_pylist())
        assert d == s, f"segment {seg.id}: {len(d)} members on DuckDB, {len(s)} on Spark"
        sizes[seg.id] = len(d)
    assert any(n > 0 for n in sizes.values()), sizes


def test_dq_results_are_identical(duck: Any, spark: Any) -> None:
    from kequn.quality import evaluate, load_rules

    rules = [r for r in load_rules() if r.table != "_load_batch" and r.kind != "volume_change"]
    d = {r.rule_id: r for r in evaluate(duck, rules, AS_OF)}
    s = {r.rule_id: r for r in evaluate(spark, rules, AS_OF)}
    assert set(d) == set(s)
    problems = [f"{k}: DuckDB {d[k].status} {d[k].measured!r} != Spark {s[k].status} {s[k].measured!r}"
                for k in sorted(d)
                if d[k].status != s[k].status or not _same(_norm(d[k].measured), _norm(s[k].measured))]
    assert not problems, problems
    assert any(r.status != "skip" for r in d.values())


def test_spark_load_validation_lists_every_problem(spark: Any, tmp_path: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kequn.errors import ValidationError
    from kequn.warehouse.spark import load_parquet_dir

    ok = {"name": ["总行", "支行", "网点"], "level": ["hq", "branch", "sub_branch"], "city": ["长沙"] * 3}
    pq.write_table(pa.table({"branch_id": ["B1", "B1", None], **ok}), tmp_path / "branch.parquet")
    pq.write_table(pa.table({"product_id": ["P1"], "bogus": [1]}), tmp_path / "product.parquet")
    pq.write_table(pa.table({"x": [1]}), tmp_path / "not_a_table.parquet")
    with pytest.raises(ValidationError) as err:
        load_parquet_dir(spark, tmp_path, mode="view")
    messages = {p["file"] + ": " + p["message"] for p in err.value.details}
    assert "not_a_table.parquet: not a canonical table name" in messages
    assert "product.parquet: unknown column bogus" in messages
    assert "product.parquet: missing required column category" in messages
    assert "branch.parquet: 1 row(s) of column branch_id are not NULL-free" in messages
    assert "branch.parquet: 1 duplicate primary key(s) (branch_id)" in messages
    assert not spark.has_table("not_a_table")
