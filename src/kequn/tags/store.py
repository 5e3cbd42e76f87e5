"""Computing profiles into the warehouse and keeping dated snapshots.

Tables written (per entity ``e`` in customer / enterprise / merchant):

- ``tag_snapshot_<e>``: one row per entity per as-of date (column ``as_of``), every snapshot kept;
- ``profile_<e>``: the latest snapshot (one wide row per entity), what segments and the 360 view read;
- ``_tag_run``: one row per computed (entity, as-of): when, which tag versions, how many rows.

Re-computing a date already in ``_tag_run`` is skipped unless ``force`` (then that date's snapshot is
replaced). Only approved tags are computed (drafts are left out).

On Spark the same tables exist, with ``tag_snapshot_<e>`` partitioned by ``as_of`` and ``_tag_run`` by
(``entity``, ``as_of``): a day is replaced with ``INSERT OVERWRITE … PARTITION`` (see
:func:`kequn.warehouse.spark.replace_partition`), so the point-in-time history works there too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import ibis

from kequn.tags.build import profile_expr
from kequn.tags.catalog import TagSpec
from kequn.tags.model import ENTITY_KEYS, Tables

ENTITIES = ("customer", "enterprise", "merchant")
RUN_TABLE = "_tag_run"


def snapshot_table(entity: str) -> str:
    return f"tag_snapshot_{entity}"


def profile_table(entity: str) -> str:
    return f"profile_{entity}"


@dataclass(frozen=True)
class RunResult:
    entity: str
    as_of: dt.date
    rows: int
    tags: int
    skipped: bool
    seconds: float


def _ensure_run_table(wh: Any) -> None:
    if not wh.has_table(RUN_TABLE):
        wh.con.create_table(RUN_TABLE, schema=ibis.schema({
            "entity": "string", "as_of": "date", "computed_at": "timestamp", "tag_versions": "string",
            "rows": "int64",
        }))


def computed_dates(wh: Any, entity: str) -> list[dt.date]:
    """As-of dates already computed for ``entity`` (oldest first)."""
    if not wh.has_table(RUN_TABLE):
        return []
    r = wh.table(RUN_TABLE)
    df = r.filter(r.entity == entity).select("as_of").distinct().order_by("as_of").execute()
    return [d.date() if isinstance(d, dt.datetime) else d for d in df["as_of"]]


def _sql_type(wh: Any, dtype: Any) -> str:
    return wh.con.compiler.type_mapper.from_ibis(dtype).sql(dialect=wh.con.dialect)


def _add_missing_columns(wh: Any, table: str, schema: Any) -> None:
    have = set(wh.table(table).columns)
    for name, dtype in schema.items():
        if name not in have:
            wh.sql(f'ALTER TABLE {table} ADD COLUMN "{name}" {_sql_type(wh, dtype)}')


def drop_table(wh: Any, name: str) -> None:
    wh.sql(f'DROP TABLE IF EXISTS "{name}"')


def replace_table(wh: Any, name: str, select_sql: str) -> None:
    """``CREATE TABLE name AS <select_sql>``, replacing any table of that name.

    (Raw SQL: with sqlglot 30.30 Ibis 12's ``drop_table`` and ``create_table(overwrite=True)`` render
    ``DROP TABLE IF EXISTS`` without the table name; compiling once also halves Ibis's overhead.)
    """
    drop_table(wh, name)
    wh.sql(f'CREATE TABLE "{name}" AS {select_sql}')


def _write_snapshot(wh: Any, entity: str, as_of: dt.date, tmp: str) -> None:
    snap = snapshot_table(entity)
    if not wh.has_table(snap):
        wh.sql(f'CREATE TABLE "{snap}" AS SELECT * FROM "{tmp}"')
    else:
        _add_missing_columns(wh, snap, wh.table(tmp).schema())
        cols = ", ".join(f'"{c}"' for c in wh.table(tmp).columns)
        wh.sql(f"DELETE FROM \"{snap}\" WHERE as_of = DATE '{as_of.isoformat()}'")
        wh.sql(f'INSERT INTO "{snap}" ({cols}) SELECT {cols} FROM "{tmp}"')
    latest = max(computed_dates(wh, entity) + [as_of])
    if as_of >= latest:
        replace_table(wh, profile_table(entity), f'SELECT * FROM "{tmp}"')


def _record_run(wh: Any, entity: str, as_of: dt.date, versions: Mapping[str, int], rows: int) -> None:
    _ensure_run_table(wh)
    wh.sql(f"DELETE FROM {RUN_TABLE} WHERE entity = '{entity}' AND as_of = DATE '{as_of.isoformat()}'")
    wh.con.insert(RUN_TABLE, ibis.memtable({
        "entity": [entity], "as_of": [as_of], "computed_at": [dt.datetime.now(dt.UTC).replace(tzinfo=None)],
        "tag_versions": [json.dumps(dict(versions), sort_keys=True)], "rows": [rows],
    }, schema={"entity": "string", "as_of": "date", "computed_at": "timestamp", "tag_versions": "string",
               "rows": "int64"}))


def compute_entity(wh: Any, entity: str, as_of: dt.date, specs: Mapping[str, TagSpec], *,
                   force: bool = False) -> RunResult:
    """Compute the approved tags ``specs`` of ``entity`` as of ``as_of`` into the snapshot tables."""
    import time

    start = time.perf_counter()
    ids = [i for i, s in specs.items() if s.entity == entity]
    if not force and as_of in computed_dates(wh, entity):
        return RunResult(entity, as_of, 0, len(ids), True, 0.0)
    if getattr(wh, "kind", None) == "spark":
        rows = _compute_entity_spark(wh, entity, as_of, ids, {i: specs[i].version for i in ids})
        return RunResult(entity, as_of, rows, len(ids), False, round(time.perf_counter() - start, 3))
    expr = profile_expr(entity, Tables(wh), as_of, ids)  # type: ignore[arg-type]
    expr = expr.select(as_of=ibis.date(as_of), **{c: expr[c] for c in expr.columns})
    tmp = f"_tag_tmp_{entity}"
    replace_table(wh, tmp, wh.con.compile(expr))
    try:
        rows = int(wh.table(tmp).count().execute())
        _write_snapshot(wh, entity, as_of, tmp)
        _record_run(wh, entity, as_of, {i: specs[i].version for i in ids}, rows)
    finally:
        drop_table(wh, tmp)
    return RunResult(entity, as_of, rows, len(ids), False, round(time.perf_counter() - start, 3))


RUN_SCHEMA = {"entity": "string", "as_of": "date", "computed_at": "timestamp", "tag_versions": "string",
              "rows": "int64"}


def _compute_entity_spark(wh: Any, entity: str, as_of: dt.date, ids: list[str], versions: Mapping[str, int]) -> int:
    """The Spark form of one snapshot: ``tag_snapshot_<e>`` and ``_tag_run`` are Parquet tables partitioned by
    ``as_of`` (and ``entity``); the day's partition is replaced with ``INSERT OVERWRITE … PARTITION`` (plain
    Spark tables cannot DELETE). ``profile_<e>`` is rewritten from the snapshot when the day is the latest."""
    from kequn.warehouse.spark import replace_partition, sql_string, write_table

    expr = profile_expr(entity, Tables(wh), as_of, ids)  # type: ignore[arg-type]
    expr = expr.select(as_of=ibis.date(as_of), **{c: expr[c] for c in expr.columns})
    snap = snapshot_table(entity)
    replace_partition(wh, snap, {"as_of": as_of}, expr, schema=expr.schema())
    day = wh.table(snap)
    day = day.filter(day.as_of == ibis.date(as_of)).select(*expr.columns)
    if as_of >= max(computed_dates(wh, entity) + [as_of]):
        rows = int(write_table(wh, profile_table(entity), day) or 0)
    else:
        rows = int(day.count().execute())
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    replace_partition(wh, RUN_TABLE, {"entity": entity, "as_of": as_of},
                      f"SELECT TIMESTAMP'{now}' AS computed_at, "
                      f"{sql_string(json.dumps(dict(versions), sort_keys=True))} AS tag_versions, "
                      f"CAST({rows} AS BIGINT) AS rows", schema=RUN_SCHEMA)
    return rows


def compute(wh: Any, as_of: dt.date, specs: Mapping[str, TagSpec], *, force: bool = False,
            entities: Iterable[str] = ENTITIES) -> list[RunResult]:
    """Compute every entity's profile as of ``as_of`` from the approved tags in ``specs``."""
    from kequn.warehouse.schema import create_tables

    if getattr(wh, "kind", None) != "spark":  # on Spark the canonical tables are the bank's (or loaded views)
        create_tables(wh)  # a warehouse without canonical tables gets empty ones (profiles are then empty)
    return [compute_entity(wh, e, as_of, specs, force=force) for e in entities]


def read_snapshot(wh: Any, entity: str, as_of: dt.date | None = None) -> Any:
    """The Ibis table of ``entity``'s snapshot as of ``as_of`` (default: the latest profile)."""
    from kequn.errors import NotFoundError

    if as_of is None:
        if not wh.has_table(profile_table(entity)):
            raise NotFoundError(f"no {entity} profile yet: run `kequn tags compute --as-of DATE`")
        return wh.table(profile_table(entity))
    if as_of not in computed_dates(wh, entity):
        raise NotFoundError(f"no {entity} snapshot as of {as_of}: run `kequn tags compute --as-of {as_of}`")
    s = wh.table(snapshot_table(entity))
    return s.filter(s.as_of == ibis.date(as_of))


__all__ = ["ENTITIES", "ENTITY_KEYS", "RunResult", "compute", "compute_entity", "computed_dates", "read_snapshot"]
