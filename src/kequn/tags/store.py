"""Computing profiles into the warehouse and keeping dated snapshots.

Tables written (per entity ``e`` in customer / enterprise / merchant):

- ``tag_snapshot_<e>``: one row per entity per as-of date (column ``as_of``), every snapshot kept;
- ``profile_<e>``: the latest snapshot (one wide row per entity), what segments and the 360 view read;
- ``_tag_run``: one row per computed (entity, as-of): when, which tag versions, how many rows.

Re-computing a date already in ``_tag_run`` is skipped unless ``force`` (then that date's snapshot is
replaced). Only approved tags are computed (drafts are left out).
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


def _compute_spark(wh: Any, as_of: dt.date, specs: Mapping[str, TagSpec], entities: Iterable[str]) -> list[RunResult]:
    """On Spark only the latest profile is written (``profile_<entity>`` with its ``as_of`` column): no dated
    snapshots and no ``_tag_run`` rows, since plain Spark tables cannot DELETE one day (docs/deploy-spark.md)."""
    import time

    from kequn.warehouse.spark import write_table

    out = []
    for e in entities:
        start = time.perf_counter()
        ids = [i for i, s in specs.items() if s.entity == e]
        expr = profile_expr(e, Tables(wh), as_of, ids)  # type: ignore[arg-type]
        rows = write_table(wh, profile_table(e), expr.select(as_of=ibis.date(as_of), **{c: expr[c] for c in expr.columns}))
        out.append(RunResult(e, as_of, rows or 0, len(ids), False, round(time.perf_counter() - start, 3)))
    return out


def compute(wh: Any, as_of: dt.date, specs: Mapping[str, TagSpec], *, force: bool = False,
            entities: Iterable[str] = ENTITIES) -> list[RunResult]:
    """Compute every entity's profile as of ``as_of`` from the approved tags in ``specs``."""
    from kequn.warehouse.schema import create_tables

    if getattr(wh, "kind", None) == "spark":
        return _compute_spark(wh, as_of, specs, entities)

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
