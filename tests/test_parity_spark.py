"""DuckDB ↔ Spark parity: one synthetic bank (400 customers × 3 months, generated once) computed on both
warehouses gives the same tag values, the same segment members and the same DQ results; the same dated
tag and segment snapshots, journeys, relationship-graph/panorama figures and model training features; and
the same model scores (batch scoring through ``mapInPandas`` on Spark vs the pandas path on DuckDB, one
model trained on DuckDB and approved by a second person).

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
SEP, AUG = dt.date(2026, 9, 30), dt.date(2026, 8, 31)  # earlier month ends (the bank starts in August)
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


def _rows(expr: Any, key: str | tuple[str, ...]) -> dict[Any, dict[str, Any]]:
    """Rows of an Ibis table (or a pandas frame) by ``key`` (a column or a tuple of columns)."""
    import pyarrow as pa

    table = pa.Table.from_pandas(expr, preserve_index=False) if hasattr(expr, "iloc") else expr.to_pyarrow()
    out = {}
    for r in table.to_pylist():
        k = tuple(r[c] for c in key) if isinstance(key, tuple) else r[key]
        assert k not in out, f"key {k} repeats"
        out[k] = {c: _norm(x) for c, x in r.items()}
    return out


def _assert_same(d: Any, s: Any, key: str | tuple[str, ...], what: str) -> dict[Any, dict[str, Any]]:
    cols_d = sorted(d.columns)
    assert cols_d == sorted(s.columns), f"{what}: columns differ"
    left, right = _rows(d, key), _rows(s, key)
    problems = _diff(left, right)
    assert not problems, f"{what}: {len(problems)} difference(s), first: {problems[:10]}"
    return left


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


# ------------------------------------------------------------------------------------------------------------
# dated snapshots, journeys, graph, model features and scoring on Spark


@pytest.fixture(scope="module")
def history(profiles: dict[str, Any], duck: Any, spark: Any) -> tuple[Any, Any]:
    """Tag snapshots as of the earlier month ends on both engines (same call: on Spark a partition per day of
    ``tag_snapshot_<entity>``): every entity as of September, customers also as of August."""
    from kequn.tags.store import compute_entity

    for wh in (duck, spark):
        for entity, day in (("customer", AUG), *((e, SEP) for e in ENTITIES)):
            compute_entity(wh, entity, day, _specs())
    return duck, spark


def test_dated_tag_snapshots(history: tuple[Any, Any]) -> None:
    from kequn.tags.store import compute_entity, computed_dates, profile_table, read_snapshot

    duck, spark = history
    assert computed_dates(spark, "customer") == computed_dates(duck, "customer") == [AUG, SEP, AS_OF]
    _assert_same(read_snapshot(duck, "customer", SEP), read_snapshot(spark, "customer", SEP), "customer_id",
                 "customer snapshot as of 2026-09-30")
    # the latest profile stays the latest day's, though earlier days were computed after it
    assert str(spark.table(profile_table("customer")).as_of.max().execute())[:10] == str(AS_OF)
    # re-computing a day replaces its partition: same rows, one run record
    snap = spark.table("tag_snapshot_enterprise")
    before = int(snap.filter(snap.as_of == AS_OF).count().execute())
    again = compute_entity(spark, "enterprise", AS_OF, _specs(), force=True)
    assert again.rows == before == int(snap.filter(snap.as_of == AS_OF).count().execute()) > 0
    runs = spark.table("_tag_run")
    assert int(runs.filter(runs.entity == "enterprise", runs.as_of == AS_OF).count().execute()) == 1
    assert compute_entity(spark, "enterprise", AS_OF, _specs()).skipped


def test_segment_snapshots(history: tuple[Any, Any]) -> None:
    from kequn.segments import catalogue as catalogue_mod
    from kequn.segments import store
    from kequn.segments.definitions import load_shipped
    from kequn.segments.service import changes, snapshot_many

    duck, spark = history
    segs = [s for s in load_shipped().values() if not s.static]
    sizes = {}
    for wh in (duck, spark):
        cat = catalogue_mod.load(wh)
        sizes[wh.kind] = [snapshot_many(wh, segs, day, cat) for day in (SEP, AS_OF)]
    again = snapshot_many(spark, segs[:2], AS_OF, catalogue_mod.load(spark))  # re-running a day replaces it
    assert sizes["duckdb"] == sizes["spark"] and again == {k: sizes["spark"][1][k] for k in again}
    assert any(sizes["spark"][1].values())
    m = {wh.kind: wh.table("segment_membership") for wh in (duck, spark)}
    _assert_same(m["duckdb"], m["spark"], ("segment_id", "as_of", "entity_id"), "segment_membership")
    seg = max(segs, key=lambda x: sizes["spark"][1][x.id]).id
    assert store.trend(spark, seg) == store.trend(duck, seg)
    ch_d, ch_s = changes(duck, seg, SEP, AS_OF), changes(spark, seg, SEP, AS_OF)
    assert (ch_d["entered"], ch_d["exited"]) == (ch_s["entered"], ch_s["exited"])


def test_journeys_are_identical(history: tuple[Any, Any]) -> None:
    from kequn.segments import catalogue as catalogue_mod
    from kequn.segments import journeys

    duck, spark = history
    tracks = journeys.load_tracks()
    cats = {wh.kind: catalogue_mod.load(wh) for wh in (duck, spark)}
    for t in tracks.values():  # stage assignment of every track (one expression each)
        _assert_same(journeys.assign(duck, t, AS_OF, cats["duckdb"]), journeys.assign(spark, t, AS_OF, cats["spark"]),
                     "customer_id", f"journey {t.id} stages")
    track = tracks["payroll"]  # stored days, transitions and the funnel of one track over two days
    runs = {wh.kind: [journeys.run(wh, track, day, cats[wh.kind]) for day in (SEP, AS_OF)] for wh in (duck, spark)}
    assert runs["duckdb"] == runs["spark"]
    assert runs["spark"][1]["customers"] > 0 and runs["spark"][1]["previous"] == SEP
    assert journeys.funnel(duck, track, AS_OF) == journeys.funnel(spark, track, AS_OF)
    tr = {wh.kind: wh.table("journey_transition") for wh in (duck, spark)}
    _assert_same(tr["duckdb"], tr["spark"], ("as_of", "customer_id"), "journey transitions")
    assert journeys.touchpoints(duck, track, AS_OF) == journeys.touchpoints(spark, track, AS_OF)
    assert journeys.dwell(duck, track) == journeys.dwell(spark, track)


def test_graph_and_panorama_are_identical(duck: Any, spark: Any) -> None:
    from kequn.graph import queries as G

    pano = _assert_same(G.panorama(duck, AS_OF), G.panorama(spark, AS_OF), "enterprise_id", "panorama")
    assert pano and any(r["penetration_credit_card"] for r in pano.values())
    _assert_same(G.headcount_change(duck, AS_OF), G.headcount_change(spark, AS_OF), "enterprise_id", "headcount")
    _assert_same(G.chains(duck, AS_OF), G.chains(spark, AS_OF), ("programme_id", "enterprise_id"), "G→B→C chains")
    _assert_same(G.employer_of(duck, AS_OF), G.employer_of(spark, AS_OF), "customer_id", "employer_of")


def test_training_features_are_identical(history: tuple[Any, Any]) -> None:
    from kequn.models import datasets as D

    duck, spark = history
    tgt = D.target("retail_churn")
    d, s = D.frame(duck, tgt, SEP), D.frame(spark, tgt, SEP)
    assert len(d) > 100 and any(c.endswith("_chg_1m") for c in d.columns)
    _assert_same(d, s, "customer_id", "retail_churn training rows as of 2026-09-30")
    # and the model sees the same kinds of columns (numbers as numbers, text as categories)
    cols = D.feature_columns(d)
    assert dict(D.prepare(d, cols).dtypes.astype(str)) == dict(D.prepare(s, cols).dtypes.astype(str))


@pytest.fixture(scope="module")
def churn_model(history: tuple[Any, Any], tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """A retail-churn model trained on DuckDB (train August, test September) and approved by a second
    person, in a SQLite ops store of its own."""
    from kequn.models import registry, train
    from kequn.opstore import engine_for, migrate

    folder = tmp_path_factory.mktemp("parity_models")
    url = f"sqlite:///{folder / 'ops.sqlite'}"
    migrate(url)
    engine = engine_for(url)
    mv, _ = train.train(history[0], engine, "retail_churn", user="maker", dates=[AUG, SEP], folder=folder,
                        n_estimators=40)
    registry.submit(engine, mv.name, mv.version, "maker")
    return engine, registry.approve(engine, mv.name, mv.version, "checker")


def test_spark_scores_equal_duckdb_scores(history: tuple[Any, Any], churn_model: tuple[Any, Any]) -> None:
    import json

    from kequn.models import scoring, spark_scoring

    duck, spark = history
    engine, mv = churn_model
    d = scoring.score(duck, engine, mv.name, mv.version, as_of=AS_OF)
    s = spark_scoring.score(spark, engine, mv.name, mv.version, as_of=AS_OF)
    assert (s.model, s.score_name, s.as_of, s.rows) == (d.model, d.score_name, d.as_of, d.rows) and s.rows > 100
    sel = {}
    for wh in (duck, spark):
        t = wh.table(scoring.SCORE_TABLE)
        sel[wh.kind] = t.filter(t.score_name == d.score_name, t.as_of == AS_OF)
    left = _assert_same(sel["duckdb"], sel["spark"], "customer_id", "model_score")
    assert sum(bool(json.loads(r["reasons"])) for r in left.values()) > len(left) // 2  # small run: all explained
    # a bigger run than reason_rows: reasons only for the highest scores; re-scoring replaces the partition
    small = spark_scoring.score(spark, engine, mv.name, mv.version, as_of=AS_OF, reason_rows=10)
    assert small.rows == s.rows
    got = sorted(_rows(sel["spark"], "customer_id").values(), key=lambda r: -r["score"])
    assert len(got) == s.rows
    explained = [bool(json.loads(r["reasons"])) for r in got]
    assert sum(explained) >= 10 and all(explained[:10]) and not any(explained[sum(explained):])
