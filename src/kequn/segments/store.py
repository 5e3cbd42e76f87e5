"""Warehouse tables of segments and journeys (big daily snapshots belong in the warehouse).

- ``segment_static``      (segment_id, version, entity_id)            uploaded static lists
- ``segment_membership``  (segment_id, version, as_of, entity_id)      one row per member per snapshot day
- ``segment_snapshot``    (segment_id, version, as_of, size, computed_at)  one row per snapshot (size trend)
- ``journey_stage_daily`` (track_id, as_of, customer_id, stage, stage_index)
- ``journey_transition``  (track_id, as_of, customer_id, from_stage, to_stage)  first day in a new stage

A snapshot is replaced whole (delete the day, insert the day), so re-running a day is idempotent.
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

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")


def ensure_tables(wh: Any) -> None:
    """Create the segment/journey tables that are missing."""
    existing = set(wh.con.list_tables())
    for name, schema in SCHEMAS.items():
        if name not in existing:
            wh.con.create_table(name, schema=ibis.schema(schema))


def _quote(value: str) -> str:
    if not _SAFE_ID.match(value):
        raise ValueError(f"unsafe identifier {value!r}")
    return f"'{value}'"


def replace_day(wh: Any, table: str, key_col: str, key: str, as_of: dt.date, rows: Any) -> None:
    """Replace the rows of (``key``, ``as_of``) in ``table`` with the Ibis table ``rows``."""
    wh.sql(f"DELETE FROM {table} WHERE {key_col} = {_quote(key)} AND as_of = DATE '{as_of.isoformat()}'")
    wh.con.insert(table, rows.select(*SCHEMAS[table]))


def replace_days(wh: Any, table: str, key_col: str, keys: list[str], as_of: dt.date, rows: Any) -> None:
    """Replace the rows of several keys on ``as_of`` at once (one DELETE, one INSERT)."""
    in_list = ", ".join(_quote(k) for k in keys)
    wh.sql(f"DELETE FROM {table} WHERE {key_col} IN ({in_list}) AND as_of = DATE '{as_of.isoformat()}'")
    wh.con.insert(table, rows.select(*SCHEMAS[table]))


def replace_static(wh: Any, segment_id: str, version: int, ids: list[str]) -> int:
    """Store the uploaded ids of a static segment version; the number of distinct ids stored."""
    import pyarrow as pa

    unique = sorted({str(i).strip() for i in ids if str(i).strip()})
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
