"""Warehouse tables of segments and journeys (big daily snapshots belong in the warehouse).

- ``segment_static``      (segment_id, version, entity_id)            uploaded static lists
- ``segment_membership``  (segment_id, version, as_of, entity_id)      one row per member per snapshot day
- ``segment_snapshot``    (segment_id, version, as_of, size, computed_at)  one row per snapshot (size trend)
- ``journey_stage_daily`` (track_id, as_of, customer_id, stage, stage_index)
- ``journey_transition``  (track_id, as_of, customer_id, from_stage, to_stage)  first day in a new stage

A snapshot is replaced whole (delete the day, insert the day), so re-running a day is idempotent. On Spark
the tables are Parquet tables partitioned by :data:`PARTITIONS` and a day is replaced with
``INSERT OVERWRITE … PARTITION`` (kequn.warehouse.spark.replace_partition) instead of DELETE + INSERT.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import ibis

SCHEMAS: dict[str, dict[str, str]] = {
    "segment_static": {"segment_id": "string", "version": "int64", "entity_id": "string"},
    "segment_membership": {"segment_id": "string", "version": "int64", "as_of": "date", "entity_id": "string"},
    "segment_snapshot": {"segment_id": "string", "version": "int64", "as_of": "date", "size": "int64",
                         "computed_at": "timestamp"},
    "journey_stage_daily": {"track_id": "string", "as_of": "date", "customer_id": "string", "stage": "string",
                            "stage_index": "int64"},
    "journey_transition": {"track_id": "string", "as_of": "date", "customer_id": "string",
                           "from_stage": "string", "to_stage": "string"},
}

#: Spark: the partition columns of each table (the keys a snapshot is replaced by)
PARTITIONS: dict[str, tuple[str, ...]] = {
    "segment_static": ("segment_id", "version"),
    "segment_membership": ("as_of", "segment_id"),
    "segment_snapshot": ("segment_id", "as_of"),
    "journey_stage_daily": ("track_id", "as_of"),
    "journey_transition": ("track_id", "as_of"),
}

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")


def ensure_tables(wh: Any) -> None:
    """Create the segment/journey tables that are missing."""
    existing = set(wh.con.list_tables())
    for name, schema in SCHEMAS.items():
        if name not in existing:
            if _spark(wh):
                from kequn.warehouse.spark import ensure_partitioned_table

                ensure_partitioned_table(wh, name, schema, PARTITIONS[name])
            else:
                wh.con.create_table(name, schema=ibis.schema(schema))


def _spark(wh: Any) -> bool:
    return getattr(wh, "kind", None) == "spark"


def _replace_partitions(wh: Any, table: str, key_col: str, keys: list[Any], fixed: dict[str, Any], rows: Any) -> None:
    """Spark: replace the partition of each key (``fixed`` holds the other partition values)."""
    from kequn.warehouse.spark import replace_partition

    for k in keys:
        replace_partition(wh, table, {key_col: k, **fixed}, rows, schema=SCHEMAS[table])


def _quote(value: str) -> str:
    if not _SAFE_ID.match(value):
        raise ValueError(f"unsafe identifier {value!r}")
    return f"'{value}'"


def replace_day(wh: Any, table: str, key_col: str, key: str, as_of: dt.date, rows: Any) -> None:
    """Replace the rows of (``key``, ``as_of``) in ``table`` with the Ibis table ``rows``."""
    if _spark(wh):
        _quote(key)
        _replace_partitions(wh, table, key_col, [key], {"as_of": as_of}, rows.select(*SCHEMAS[table]))
        return
    wh.sql(f"DELETE FROM {table} WHERE {key_col} = {_quote(key)} AND as_of = DATE '{as_of.isoformat()}'")
    wh.con.insert(table, rows.select(*SCHEMAS[table]))


def replace_days(wh: Any, table: str, key_col: str, keys: list[str], as_of: dt.date, rows: Any) -> None:
    """Replace the rows of several keys on ``as_of`` at once (one DELETE, one INSERT)."""
    in_list = ", ".join(_quote(k) for k in keys)
    if _spark(wh):
        _replace_partitions(wh, table, key_col, keys, {"as_of": as_of}, rows.select(*SCHEMAS[table]))
        return
    wh.sql(f"DELETE FROM {table} WHERE {key_col} IN ({in_list}) AND as_of = DATE '{as_of.isoformat()}'")
    wh.con.insert(table, rows.select(*SCHEMAS[table]))


def replace_static(wh: Any, segment_id: str, version: int, ids: list[str]) -> int:
    """Store the uploaded ids of a static segment version; the number of distinct ids stored."""
    import pyarrow as pa

    unique = sorted({str(i).strip() for i in ids if str(i).strip()})
    if _spark(wh):
        _quote(segment_id)
        spark = wh.con._session
        frame = spark.createDataFrame([(i,) for i in unique], "entity_id string")
        _replace_partitions(wh, "segment_static", "segment_id", [segment_id], {"version": int(version)}, frame)
        return len(unique)
    wh.sql(f"DELETE FROM segment_static WHERE segment_id = {_quote(segment_id)} AND version = {int(version)}")
    if unique:
        data = pa.table({"segment_id": [segment_id] * len(unique), "version": [int(version)] * len(unique),
                         "entity_id": unique})
        wh.con.insert("segment_static", data)
    return len(unique)


def static_members(wh: Any, segment_id: str, version: int) -> Any:
    t = wh.table("segment_static")
    return t.filter(t.segment_id == segment_id, t.version == version).select("entity_id").distinct()


def membership(wh: Any, segment_id: str, as_of: dt.date) -> Any:
    t = wh.table("segment_membership")
    return t.filter(t.segment_id == segment_id, t.as_of == ibis.date(as_of)).select("entity_id")


def record_size(wh: Any, segment_id: str, version: int, as_of: dt.date, size: int) -> None:
    import pyarrow as pa

    if _spark(wh):
        _quote(segment_id)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
        _replace_partitions(wh, "segment_snapshot", "segment_id", [segment_id], {"as_of": as_of},
                            f"SELECT CAST({int(version)} AS BIGINT) AS version, CAST({int(size)} AS BIGINT) AS size, "
                            f"TIMESTAMP'{now}' AS computed_at")
        return
    wh.sql(f"DELETE FROM segment_snapshot WHERE segment_id = {_quote(segment_id)} "
           f"AND as_of = DATE '{as_of.isoformat()}'")
    row = pa.table({"segment_id": [segment_id], "version": [int(version)], "as_of": [as_of], "size": [int(size)],
                    "computed_at": [dt.datetime.now(dt.UTC).replace(tzinfo=None)]})
    wh.con.insert("segment_snapshot", row)


def trend(wh: Any, segment_id: str) -> list[dict[str, Any]]:
    """The size of each stored snapshot of the segment, oldest first."""
    t = wh.table("segment_snapshot")
    rows = t.filter(t.segment_id == segment_id).select("as_of", "version", "size").order_by("as_of")
    return rows.to_pyarrow().to_pylist()


def latest_sizes(wh: Any, as_of: dt.date) -> dict[str, dict[str, Any]]:
    """segment id → the latest stored snapshot on or before ``as_of``: ``{version, as_of, size}`` (one small
    query over ``segment_snapshot``; empty before any snapshot)."""
    if not wh.has_table("segment_snapshot"):
        return {}
    t = wh.table("segment_snapshot")
    t = t.filter(t.as_of <= ibis.date(as_of))
    w = ibis.window(group_by="segment_id", order_by=[ibis.desc("as_of"), ibis.desc("computed_at")])
    r = t.mutate(_rn=ibis.row_number().over(w))
    rows = r.filter(r._rn == 0).select("segment_id", "version", "as_of", "size").to_pyarrow().to_pylist()
    return {row.pop("segment_id"): row for row in rows}
