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
(profiles, segment snapshots) are written with :func:`write_table`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
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


def connect(url: str, *, spark_session: Any = None, **kwargs: Any) -> Any:
    """The Ibis pyspark backend over ``spark_session`` (or a new session for ``url``)."""
    import ibis

    _register_bit_aggregates()
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


__all__ = ["LOCAL_CONF", "SparkTarget", "connect", "create_tables", "load_parquet_dir", "parse_url", "session",
           "spark_type", "write_table"]
