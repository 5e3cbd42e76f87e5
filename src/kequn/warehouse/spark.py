"""The Spark warehouse backend: an Ibis ``pyspark`` backend over a SparkSession.

URLs (``kequn.warehouse.connect``):

- ``spark://host:7077`` — a standalone Spark master (``yarn`` / ``k8s://…`` masters: ``spark+yarn://`` and
  ``spark+k8s://host:port``);
- ``sc://host:15002`` — Spark Connect (the session runs on the cluster; needs ``pyspark[connect]``);
- ``local``, ``local[2]``, ``local[*]`` or ``spark+local://2`` — local mode inside this process (tests,
  laptops).

Every session gets the bank's time zone (``spark.sql.session.timeZone``, from the settings), so timestamps
mean the same wall-clock time as on DuckDB. Local sessions also get few shuffle partitions, no UI and a
warehouse folder of their own (``spark.sql.warehouse.dir``).

Canonical tables are either the bank's existing Hive/catalog tables with the canonical names (point
``database`` at them) or loaded from canonical Parquet files with :func:`load_parquet_dir`. Derived tables
(latest profiles) are written with :func:`write_table`; dated history (tag and segment snapshots, journey
days, model scores) with :func:`replace_partition` into Parquet tables partitioned by their day and key, so
re-running a day replaces exactly that partition (``INSERT OVERWRITE … PARTITION``) instead of the
``DELETE`` + ``INSERT`` used on DuckDB/PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from kequn.errors import ConfigError, KequnError, ValidationError

#: settings for a small local session (tests, laptops); a cluster keeps its own defaults
LOCAL_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.driver.memory": "1g",
    "spark.sql.ansi.enabled": "false",
}


@dataclass(frozen=True)
class SparkTarget:
    """Where a Spark URL points: ``master`` (classic session) or ``remote`` (Spark Connect)."""

    master: str | None = None
    remote: str | None = None
    conf: Mapping[str, str] = field(default_factory=dict)
    database: str | None = None

    @property
    def local(self) -> bool:
        return bool(self.master and self.master.startswith("local"))


def parse_url(url: str) -> SparkTarget:
    """Read a Spark warehouse URL. Query parameters become Spark settings (``?spark.executor.memory=4g``),
    except ``database`` (the catalog database holding the canonical tables)."""
    raw = url.strip()
    if raw.startswith("local"):
        master, _, query = raw.partition("?")
        if master not in ("local", "local[*]") and not (master.startswith("local[") and master.endswith("]")
                                                         and master[6:-1].isdigit()):
            raise ConfigError(f"bad Spark local URL {url!r}: use local, local[2], local[*] or spark+local://2")
        return _with_query(SparkTarget(master=master), query)
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    query = parts.query
    if scheme == "sc":
        return _with_query(SparkTarget(remote=raw.split("?", 1)[0]), query)
    if scheme == "spark":
        if not parts.netloc:
            raise ConfigError(f"bad Spark URL {url!r}: use spark://host:7077")
        return _with_query(SparkTarget(master=f"spark://{parts.netloc}"), query)
    if scheme == "spark+local":
        n = parts.netloc or "*"
        if n != "*" and not n.isdigit():
            raise ConfigError(f"bad Spark URL {url!r}: use spark+local://2 (cores) or spark+local://*")
        return _with_query(SparkTarget(master=f"local[{n}]"), query)
    if scheme == "spark+yarn":
        return _with_query(SparkTarget(master="yarn"), query)
    if scheme == "spark+k8s":
        return _with_query(SparkTarget(master=f"k8s://https://{parts.netloc}"), query)
    raise ConfigError(f"unsupported Spark URL {url!r}: use spark://host:7077, sc://host:15002, local[2] "
                      "or spark+local://2")


def _with_query(t: SparkTarget, query: str) -> SparkTarget:
    conf = dict(parse_qsl(query, keep_blank_values=False))
    database = conf.pop("database", None)
    bad = [k for k in conf if not k.startswith("spark.")]
    if bad:
        raise ConfigError(f"Spark URL parameters must be spark.* settings or database; not {', '.join(bad)}")
    return SparkTarget(master=t.master, remote=t.remote, conf=conf, database=database)


def session(url: str, *, timezone: str | None = None, warehouse_dir: str | Path | None = None,
            app_name: str = "kequn") -> Any:
    """A SparkSession for ``url`` (created, or the active one with the same master reused)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("the Spark warehouse needs pyspark: pip install 'pyspark>=3.5,<4.1'") from None
    target = parse_url(url)
    if target.local:
        # Python workers (mapInPandas, UDFs) run the driver's interpreter, which has kequn installed; Spark's
        # default is whatever ``python3`` is first on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if timezone is None:
        from kequn.settings import get_settings

        timezone = get_settings().timezone
    builder = SparkSession.builder.appName(app_name)
    if target.remote:
        builder = builder.remote(target.remote)
    else:
        builder = builder.master(target.master or "local[*]")
        if target.local:
            for k, v in LOCAL_CONF.items():
                builder = builder.config(k, v)
            wdir = Path(warehouse_dir) if warehouse_dir else Path(tempfile.mkdtemp(prefix="kequn-spark-"))
            builder = builder.config("spark.sql.warehouse.dir", str(wdir.resolve()))
            builder = builder.config("spark.driver.extraJavaOptions", f"-Duser.timezone={timezone}")
    builder = builder.config("spark.sql.session.timeZone", timezone)
    for k, v in target.conf.items():
        builder = builder.config(k, v)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # Java missing, cluster unreachable, …
        raise KequnError(f"cannot start Spark for {url!r}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    spark.conf.set("spark.sql.session.timeZone", timezone)
    if target.database:
        spark.sql(f"USE `{target.database}`")
    return spark


def _register_bit_aggregates() -> None:
    """Teach Ibis 12's PySpark compiler the bitwise aggregates (``bit_or`` / ``bit_and`` / ``bit_xor``).

    Spark SQL has had them since 3.0 and the DuckDB/PostgreSQL compilers map them, but Ibis's PySpark
    compiler leaves ``ops.BitOr`` undefined; the tag ``day_mask`` helper (distinct active days) uses it.
    Idempotent; removes nothing Ibis already defines.
    """
    import ibis.expr.operations as ops
    from ibis.backends.sql.compilers.base import SQLGlotCompiler
    from ibis.backends.sql.compilers.pyspark import PySparkCompiler

    for op, fn in ((ops.BitOr, "bit_or"), (ops.BitAnd, "bit_and"), (ops.BitXor, "bit_xor")):
        name = f"visit_{op.__name__}"
        if getattr(PySparkCompiler, name) is not SQLGlotCompiler.visit_Undefined:
            continue

        def impl(self: Any, _op: Any, *, arg: Any, where: Any, _fn: str = fn, **_: Any) -> Any:
            return self.agg[_fn](arg, where=where)

        setattr(PySparkCompiler, name, impl)


def _register_float_round() -> None:
    """Round doubles on Spark as DuckDB does: ``ROUND(x * 10^d) / 10^d``.

    DuckDB (the reference engine) rounds ``round(x, d)`` of a DOUBLE by scaling, rounding half away from
    zero and scaling back; Spark rounds the double's shortest decimal text. The two disagree by one unit in
    the last place when ``x`` sits within a rounding error of a half (``1700.7749999999999`` → DuckDB
    1700.78, Spark 1700.77), which the parity suite caught on ``contribution_estimate``. Scaling first
    makes Spark round the same double DuckDB rounds. Decimal rounding is left alone (exact on both).
    """
    import ibis.expr.datatypes as dt_
    import ibis.expr.operations as ops
    import sqlglot.expressions as sge
    from ibis.backends.sql.compilers.pyspark import PySparkCompiler

    if getattr(PySparkCompiler.visit_Round, "_kequn", False):
        return
    original = PySparkCompiler.visit_Round

    def visit_Round(self: Any, op: Any, *, arg: Any, digits: Any) -> Any:
        d = op.digits.value if isinstance(op.digits, ops.Literal) else None
        if not op.arg.dtype.is_floating() or not isinstance(d, int) or d <= 0:
            return original(self, op, arg=arg, digits=digits)
        scale = self.cast(sge.convert(10 ** d), dt_.float64)
        scaled = self.f.round(sge.Mul(this=sge.Paren(this=arg), expression=scale), 0)
        return self.cast(sge.Div(this=sge.Paren(this=scaled), expression=scale), op.dtype)

    visit_Round._kequn = True  # type: ignore[attr-defined]
    PySparkCompiler.visit_Round = visit_Round  # type: ignore[method-assign]


def _register_decimal_mean() -> None:
    """Average DECIMALs into a DOUBLE on Spark, as DuckDB does.

    DuckDB's ``AVG(DECIMAL)`` is a DOUBLE; Spark's is a DECIMAL with four more digits of scale. Ibis types
    both as the input decimal and drops a cast to it as a no-op (``_money(x.mean())``), so the stored column
    was DOUBLE on DuckDB and DECIMAL(22,6) on Spark: equal numbers, but pandas sees float64 on one engine
    and ``Decimal`` objects on the other, and a model reads them differently (the parity suite caught it on
    ``salary_avg_90d``). Averaging ``CAST(x AS DOUBLE)`` on Spark gives the same type as DuckDB.
    """
    import ibis.expr.datatypes as dt_
    from ibis.backends.sql.compilers.pyspark import PySparkCompiler

    if getattr(PySparkCompiler.visit_Mean, "_kequn", False):
        return
    original = PySparkCompiler.visit_Mean

    def visit_Mean(self: Any, op: Any, *, arg: Any, where: Any) -> Any:
        if op.arg.dtype.is_decimal():
            return self.agg.avg(self.cast(arg, dt_.float64), where=where)
        return original(self, op, arg=arg, where=where)

    visit_Mean._kequn = True  # type: ignore[attr-defined]
    PySparkCompiler.visit_Mean = visit_Mean  # type: ignore[method-assign]


def connect(url: str, *, spark_session: Any = None, **kwargs: Any) -> Any:
    """The Ibis pyspark backend over ``spark_session`` (or a new session for ``url``)."""
    import ibis

    _register_bit_aggregates()
    _register_float_round()
    _register_decimal_mean()
    spark = spark_session if spark_session is not None else session(url, **kwargs)
    return ibis.pyspark.connect(spark)


def _spark(wh: Any) -> Any:
    return wh.con._session


def spark_type(column_type: str) -> str:
    """The Spark SQL type of a canonical column type (money stays DECIMAL(18,2))."""
    from kequn.domain.datamodel import DECIMAL_PRECISION

    p, s = DECIMAL_PRECISION
    return {"string": "STRING", "int64": "BIGINT", "float64": "DOUBLE", "decimal": f"DECIMAL({p},{s})",
            "date": "DATE", "timestamp": "TIMESTAMP", "boolean": "BOOLEAN"}[column_type]


def create_tables(wh: Any) -> list[str]:
    """Create the missing canonical tables as managed Parquet tables (the Spark form of
    ``kequn.warehouse.schema.create_tables``)."""
    from kequn.domain.datamodel import load_order

    spark = _spark(wh)
    existing = set(wh.con.list_tables())
    created = []
    for t in load_order():
        if t.name not in existing:
            cols = ", ".join(f"`{c.name}` {spark_type(c.type)}" for c in t.columns)
            spark.sql(f"CREATE TABLE `{t.name}` ({cols}) USING parquet")
            created.append(t.name)
    return created


def load_parquet_dir(wh: Any, directory: Path | str, *, mode: str = "table", validate: bool = True,
                     count: bool = True) -> dict[str, int | None]:
    """Load canonical ``<table>.parquet`` files of ``directory`` into Spark; table → rows.

    Validation (all files checked before anything is written; every problem listed at once): the file
    name is a canonical table, every non-nullable canonical column is present, no unknown columns, each
    column casts to its canonical type, non-nullable columns hold no NULLs, and the primary key is
    unique (rows with a NULL key part are not counted as keys). Row-level quarantine is the loader's job
    on DuckDB/PostgreSQL and does NOT run here: the
    files are expected to be clean canonical exports (for example ``kequn synth`` output, or files the
    loader already accepted). ``mode="table"`` writes managed tables (replacing them); ``mode="view"``
    registers temporary views over the files (nothing copied). ``validate=False`` keeps only the
    file-name and column checks (no Spark job per table: value checks cost about a second per table in
    local mode); ``count=False`` returns None instead of row counts.
    """
    from pyspark.sql import functions as F

    from kequn.domain.datamodel import TABLES_BY_NAME as TABLES

    spark = _spark(wh)
    directory = Path(directory)
    if not directory.is_dir():
        raise ValidationError(f"no such folder {directory}")
    problems: list[dict[str, str]] = []
    frames: dict[str, Any] = {}
    for path in sorted(directory.glob("*.parquet")):
        name = path.stem
        if name not in TABLES:
            problems.append({"file": path.name, "message": "not a canonical table name"})
            continue
        tdef = TABLES[name]
        df = _read_parquet(spark, path)
        have = set(df.columns)
        known = {c.name for c in tdef.columns}
        missing = [c.name for c in tdef.columns if c.name not in have and not c.nullable]
        extra = sorted(have - known)
        if missing or extra:
            problems += [{"file": path.name, "message": f"missing required column {c}"} for c in missing]
            problems += [{"file": path.name, "message": f"unknown column {c}"} for c in extra]
            continue
        cols = [(F.col(f"`{c.name}`") if c.name in have else F.lit(None)).cast(spark_type(c.type)).alias(c.name)
                for c in tdef.columns]
        frames[name] = df.select(*cols)
        if validate:
            problems += [{"file": path.name, "message": m} for m in _bad_values(df, tdef)]
    if problems:
        raise ValidationError(f"{len(problems)} problem(s) in the Parquet files of {directory}", details=problems)
    counts: dict[str, int | None] = {}
    for name, frame in frames.items():
        if mode == "view":
            frame.createOrReplaceTempView(name)
        else:
            frame.write.mode("overwrite").format("parquet").saveAsTable(name)
        counts[name] = int(spark.table(name).count()) if count else None
    return counts


def _read_parquet(spark: Any, path: Path) -> Any:
    """A DataFrame over one local Parquet file. Its schema is read here with pyarrow (the same types Spark
    infers: timestamps without zone → TIMESTAMP_NTZ), which spares Spark a schema-inference job per file."""
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import StructField, StructType

    try:
        inferred = from_arrow_schema(pq.read_schema(path), prefer_timestamp_ntz=True)
    except Exception:  # a type pyspark cannot map: let Spark infer it
        return spark.read.parquet(str(path.resolve()))
    schema = StructType([StructField(f.name, f.dataType, True) for f in inferred.fields])
    return spark.read.schema(schema).parquet(str(path.resolve()))


def _bad_values(raw: Any, tdef: Any) -> list[str]:
    """Cast failures, NULLs in required columns and duplicate keys, counted in one pass each."""
    from pyspark.sql import functions as F

    aggs = []
    for c in tdef.columns:
        if c.name in raw.columns:
            aggs.append(F.sum((F.col(f"`{c.name}`").isNotNull() & F.col(f"c_{c.name}").isNull()).cast("int"))
                        .alias(f"cast:{c.name}"))
        if not c.nullable:
            aggs.append(F.sum(F.col(f"c_{c.name}").isNull().cast("int")).alias(f"null:{c.name}"))
    both = raw.select(*[F.col(f"`{c}`") for c in raw.columns],
                      *[(F.col(f"`{c.name}`") if c.name in raw.columns else F.lit(None))
                        .cast(spark_type(c.type)).alias(f"c_{c.name}") for c in tdef.columns])
    pk = [F.col(f"c_{k}") for k in tdef.primary_key]
    keyed = F.lit(True)
    for c in pk:
        keyed = keyed & c.isNotNull()
    row = both.agg(*aggs, F.sum(keyed.cast("int")).alias("_rows"),
                   (F.countDistinct(*pk) if pk else F.sum(keyed.cast("int"))).alias("_keys")).first()
    out = [f"{n} row(s) of column {k.split(':', 1)[1]} are not {('NULL-free' if k.startswith('null') else 'castable')}"
           for k, n in row.asDict().items() if ":" in k and n]
    if row["_rows"] and row["_keys"] != row["_rows"]:
        out.append(f"{row['_rows'] - row['_keys']} duplicate primary key(s) ({', '.join(tdef.primary_key)})")
    return out


def write_table(wh: Any, name: str, expr: Any, *, mode: str = "table") -> int | None:
    """Materialise the Ibis expression ``expr`` as ``name``, replacing it.

    ``mode="table"``: a managed Parquet table (written, then renamed into place); returns its rows.
    ``mode="view"``: a temporary view over the cached result (computed once, on first use, kept in memory
    for the session — for short pipelines and tests); returns None (no job is run here).
    """
    spark = _spark(wh)
    df = spark.sql(str(wh.con.compile(expr)))
    if mode == "view":
        df.cache().createOrReplaceTempView(name)
        return None
    tmp = f"_kequn_tmp_{name}"
    df.write.mode("overwrite").format("parquet").saveAsTable(tmp)
    spark.sql(f"DROP TABLE IF EXISTS `{name}`")
    spark.sql(f"ALTER TABLE `{tmp}` RENAME TO `{name}`")
    return int(spark.table(name).count())


_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _type_sql(wh: Any, dtype: Any) -> str:
    """Spark SQL text of an Ibis type (or type name such as ``"int64"``)."""
    import ibis

    d = ibis.dtype(dtype) if isinstance(dtype, str) else dtype
    return wh.con.compiler.type_mapper.from_ibis(d).sql(dialect=wh.con.dialect)


def ensure_partitioned_table(wh: Any, name: str, schema: Mapping[str, Any], partition_by: Sequence[str]) -> None:
    """Create ``name`` as a Parquet table partitioned by ``partition_by`` (columns and Ibis types from
    ``schema``) when missing; add the columns of ``schema`` it lacks (new tags) when it exists."""
    _ensure_table(wh, name, {c: _type_sql(wh, t) for c, t in schema.items()}, partition_by)


def _ensure_table(wh: Any, name: str, columns: Mapping[str, str], partition_by: Sequence[str]) -> None:
    """``ensure_partitioned_table`` with Spark SQL types."""
    spark = _spark(wh)
    missing = [p for p in partition_by if p not in columns]
    if missing:
        raise ValidationError(f"table {name}: partition column(s) {', '.join(missing)} not in its schema")
    if not wh.has_table(name):
        data = [c for c in columns if c not in partition_by]
        cols = ", ".join(f"`{c}` {columns[c]}" for c in [*data, *partition_by])
        parts = ", ".join(f"`{p}`" for p in partition_by)
        spark.sql(f"CREATE TABLE `{name}` ({cols}) USING parquet PARTITIONED BY ({parts})")
        return
    have = set(spark.table(name).columns)
    new = [c for c in columns if c not in have]
    if new:
        spark.sql(f"ALTER TABLE `{name}` ADD COLUMNS ({', '.join(f'`{c}` {columns[c]}' for c in new)})")


def _partition_value(column: str, v: Any) -> str:
    if isinstance(v, dt.datetime):
        raise ValidationError(f"partition {column}: a timestamp cannot be a partition value ({v!r})")
    if isinstance(v, dt.date):
        return f"DATE'{v.isoformat()}'"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if not _SAFE_VALUE.match(str(v)):
        raise ValidationError(f"partition {column}: unsafe value {v!r} (letters, digits, _ . - only)")
    return f"'{v}'"


def replace_partition(wh: Any, name: str, values: Mapping[str, Any], rows: Any,
                      schema: Mapping[str, Any] | None = None) -> None:
    """Replace the partition ``values`` (partition column → value, e.g. ``{"as_of": day}``) of ``name`` with
    ``rows`` — an Ibis expression, a Spark DataFrame or SQL text — in one ``INSERT OVERWRITE … PARTITION``.

    With ``schema`` (every column → Ibis type) the table is created partitioned by ``values``' columns
    when missing, and gains the columns it lacks; a column ``rows`` holds keeps the type Spark computed for
    it (``schema`` gives the types of the others: partition columns, columns absent from ``rows``). Columns of ``rows`` the table does not have are refused;
    table columns ``rows`` lacks are written as NULL. When ``rows`` carries a partition column, only its rows
    with that partition's value are written. Zero rows empty the partition. Other partitions are untouched.
    """
    spark = _spark(wh)
    if isinstance(rows, str):
        df = spark.sql(rows)
    elif hasattr(rows, "createOrReplaceTempView"):
        df = rows
    else:
        df = spark.sql(str(wh.con.compile(rows)))
    if schema is not None:
        computed = {f.name: f.dataType.simpleString() for f in df.schema.fields
                    if f.name not in values and f.dataType.simpleString() != "void"}
        columns = {c: computed.get(c) or _type_sql(wh, t) for c, t in schema.items()}
        _ensure_table(wh, name, {**columns, **{c: t for c, t in computed.items() if c not in columns}}, list(values))
    fields = spark.table(name).schema.fields
    unknown = [c for c in df.columns if c not in {f.name for f in fields}]
    if unknown:
        raise ValidationError(f"cannot write {', '.join(unknown)} into {name}: no such column(s)")
    have = set(df.columns)
    select = ", ".join(f"CAST(`{f.name}` AS {f.dataType.simpleString()}) AS `{f.name}`" if f.name in have
                       else f"CAST(NULL AS {f.dataType.simpleString()}) AS `{f.name}`"
                       for f in fields if f.name not in values)
    part = {k: _partition_value(k, v) for k, v in values.items()}
    where = " AND ".join(f"`{k}` = {part[k]}" for k in values if k in have) or "TRUE"
    view = f"_kequn_src_{name}"
    df.createOrReplaceTempView(view)
    try:
        spark.sql(f"INSERT OVERWRITE TABLE `{name}` PARTITION ({', '.join(f'`{k}` = {v}' for k, v in part.items())}) "
                  f"SELECT {select} FROM `{view}` WHERE {where}")
    finally:
        spark.catalog.dropTempView(view)


def sql_string(value: str) -> str:
    """A Spark SQL string literal."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


__all__ = ["LOCAL_CONF", "SparkTarget", "connect", "create_tables", "ensure_partitioned_table", "load_parquet_dir",
           "parse_url", "replace_partition", "session", "spark_type", "sql_string", "write_table"]
