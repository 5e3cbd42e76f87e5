"""Load a folder of canonical files into the warehouse: validate in the engine, quarantine, upsert.

A batch is every canonical file of one folder, loaded in ONE warehouse transaction: either every table
of the batch (good rows, quarantine rows and the ``_load_batch`` record) is committed, or nothing is.
The batch id defaults to a hash of the files' contents, so loading the same files again reports
``already_loaded`` and changes nothing.

Per table (in reference order, so foreign keys see the rows of this batch's earlier tables):

1. the file becomes a relation with a 1-based ``_row`` (``engine.Engine.source``);
2. narrow passes find the bad rows (``_find_bad_rows``): one for the row-local rules (types, required,
   enums, ranges, not in the future), one aggregate for duplicate keys, one scan left-joining every
   referenced table — each reads only the columns it checks; only the (few) bad rows are materialised;
3. each problem of a bad row goes to ``_quarantine``; rows whose key is already in the warehouse are
   replaced (upsert: the newer export wins); the good rows are inserted.

For a table with a time column (``transaction.ts``, ``event.ts``, …) the batch records the earliest and
latest time it touched (``_load_batch.time_min`` / ``time_max``: the rows it inserted and the rows it
replaced), and every batch gets the next ``load_seq`` as the last step before its commit (under a table
lock on PostgreSQL), so batches are ordered by when they became visible, whatever the clocks say.
Incremental tag runs read both: a batch committed after a snapshot's run that reaches back before the
snapshot's date forces that tag run to scan in full (see ``kequn.tags.store``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kequn.errors import LoadError
from kequn.ingest import checks
from kequn.ingest.checks import lit, q
from kequn.ingest.engine import Engine
from kequn.ingest.files import SourceFile, check_columns, discover, prepare
from kequn.warehouse.schema import create_tables

#: test hook: seconds to sleep after each table (inside the open transaction) — used to kill a load
PAUSE_ENV = "KEQUN_LOAD_PAUSE_AFTER_TABLE"

INTERNAL_DDL = (
    "CREATE TABLE IF NOT EXISTS _load_batch (batch_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, "
    "file_name VARCHAR, content_hash VARCHAR, rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, "
    "loaded_at TIMESTAMP, time_min TIMESTAMP, time_max TIMESTAMP, load_seq BIGINT)",
    # warehouses made before the time range and the sequence were recorded
    "ALTER TABLE _load_batch ADD COLUMN IF NOT EXISTS time_min TIMESTAMP",
    "ALTER TABLE _load_batch ADD COLUMN IF NOT EXISTS time_max TIMESTAMP",
    "ALTER TABLE _load_batch ADD COLUMN IF NOT EXISTS load_seq BIGINT",
    "CREATE TABLE IF NOT EXISTS _quarantine (batch_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, "
    "row_number BIGINT, row_key VARCHAR, column_name VARCHAR, rule VARCHAR, message VARCHAR, raw VARCHAR)",
)


@dataclass(frozen=True)
class TableLoad:
    table: str
    file: str
    read: int
    loaded: int
    quarantined: int
    #: earliest and latest value of the table's time column among the rows inserted or replaced
    time_min: dt.datetime | None = None
    time_max: dt.datetime | None = None


@dataclass
class LoadSummary:
    batch_id: str
    already_loaded: bool = False
    tables: list[TableLoad] = field(default_factory=list)

    @property
    def quarantined(self) -> int:
        return sum(t.quarantined for t in self.tables)

    @property
    def read(self) -> int:
        return sum(t.read for t in self.tables)

    @property
    def loaded(self) -> int:
        return sum(t.loaded for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "already_loaded": self.already_loaded, "read": self.read,
                "loaded": self.loaded, "quarantined": self.quarantined,
                "tables": [t.__dict__ for t in self.tables]}


def ensure_internal_tables(wh: Any) -> None:
    """Create the loader's own tables (``_load_batch``, ``_quarantine``) and PG helpers if missing."""
    eng = Engine(wh)
    for ddl in INTERNAL_DDL:
        eng.execute(ddl)
    if eng.kind == "postgres":
        for fn in checks.PG_TRY_FUNCTIONS:
            eng.execute(fn)
        if not eng.con.autocommit:
            eng.con.commit()


def load_dir(wh: Any, directory: Path, *, fmt: str | None = None, batch_id: str | None = None,
             progress: Callable[[str], None] | None = None) -> LoadSummary:
    """Validate and load every canonical file in ``directory`` as one all-or-nothing batch."""
    directory = Path(directory)
    found = discover(directory, fmt)
    create_tables(wh)  # the canonical tables, if `kequn init` has not made them yet
    ensure_internal_tables(wh)
    eng = Engine(wh)
    if batch_id is not None and (previous := _previous(eng, batch_id)) is not None:
        return previous  # a named batch already loaded: not even the files need reading
    with tempfile.TemporaryDirectory(prefix="kequn-load-") as tmp:
        sources = [prepare(t, p, f, Path(tmp)) for t, p, f in found]
        _check_headers(sources)
        bid = batch_id or _batch_hash(sources)
        if (previous := _previous(eng, bid)) is not None:
            return previous
        return _load_batch(eng, bid, sources, progress or (lambda _m: None))


def _check_headers(sources: list[SourceFile]) -> None:
    problems = [p for s in sources for p in check_columns(s.table, s.original.name, list(s.columns))]
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise LoadError(f"{first['file']}: {first['message']}: {first['column']}{more}", details=problems)


def _batch_hash(sources: list[SourceFile]) -> str:
    h = hashlib.sha256()
    for s in sorted(sources, key=lambda s: s.table.name):
        h.update(f"{s.table.name}:{s.content_hash}\n".encode())
    return h.hexdigest()[:16]


def _previous(eng: Engine, batch_id: str) -> LoadSummary | None:
    rows = eng.rows(f"SELECT table_name, file_name, rows_read, rows_loaded, rows_quarantined FROM _load_batch "
                    f"WHERE batch_id = {lit(batch_id)} ORDER BY loaded_at, table_name")
    if not rows:
        return None
    return LoadSummary(batch_id, True, [TableLoad(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in rows])


def _load_batch(eng: Engine, batch_id: str, sources: list[SourceFile],
                progress: Callable[[str], None]) -> LoadSummary:
    by_table = {s.table.name: s for s in sources}
    ordered = [by_table[t.name] for t in checks.load_sequence([s.table for s in sources])]
    summary = LoadSummary(batch_id)
    now = _bank_now()
    pause = float(os.environ.get(PAUSE_ENV, "0") or 0)
    eng.begin()
    try:
        if eng.kind == "postgres":  # two processes loading the same batch: the second waits, then skips it
            eng.execute(f"SELECT pg_advisory_xact_lock(hashtext({lit('kequn-load:' + batch_id)}))")
            previous = _previous(eng, batch_id)
            if previous is not None:
                eng.rollback()
                return previous
        for src in ordered:
            result = _load_table(eng, batch_id, src, now.date())
            summary.tables.append(result)
            eng.execute(
                "INSERT INTO _load_batch (batch_id, table_name, file_name, content_hash, rows_read, rows_loaded, "
                "rows_quarantined, loaded_at, time_min, time_max) VALUES ("
                f"{lit(batch_id)}, {lit(src.table.name)}, {lit(src.original.name)}, {lit(src.content_hash)}, "
                f"{result.read}, {result.loaded}, {result.quarantined}, {_ts(now)}, {_ts(result.time_min)}, "
                f"{_ts(result.time_max)})")
            progress(f"{src.table.name}: read {result.read}, loaded {result.loaded}, "
                     f"quarantined {result.quarantined}")
            if pause:
                time.sleep(pause)
        _number_batch(eng, batch_id)
        eng.commit()
    except BaseException:
        eng.rollback()
        raise
    return summary


def _number_batch(eng: Engine, batch_id: str) -> None:
    """Give the batch the next ``load_seq``, last thing before the commit: the lock (PostgreSQL; DuckDB has one
    writer) makes the numbers follow the order in which batches become visible to readers."""
    if eng.kind == "postgres":
        eng.execute("LOCK TABLE _load_batch IN EXCLUSIVE MODE")
    eng.execute("UPDATE _load_batch SET load_seq = (SELECT coalesce(max(load_seq), 0) + 1 FROM _load_batch) "
                f"WHERE batch_id = {lit(batch_id)}")


def _load_table(eng: Engine, batch_id: str, src: SourceFile, today: dt.date) -> TableLoad:
    table, d = src.table, eng.dialect
    bad = q(f"_kq_bad_{table.name}")
    try:
        source, types = eng.source(src)
        _refuse_c3_contents(eng, src, source, types)
        typed = checks.typed_relation(table, source, types, d)
        _find_bad_rows(eng, table, source, types, typed, bad, today)
        read = eng.row_count(src, source)
        quarantined = int(eng.scalar(f"SELECT count(DISTINCT _row) FROM {bad}"))
        if quarantined:
            eng.execute(f"INSERT INTO _quarantine {checks.quarantine_select(table, bad, source, d, batch_id, types)}")
        span = _time_span(eng, table, typed, bad, bool(quarantined))
        if eng.scalar(checks.upsert_probe(table, typed)):
            span = _widen(span, _replaced_span(eng, table, typed, bad))
            eng.execute(checks.upsert_delete(table, typed, bad))
        eng.execute(checks.insert_good(table, typed, bad, bool(quarantined)))
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(f"{src.original.name}: cannot be read or loaded: {_first_line(exc)}",
                        details=[{"file": src.original.name, "message": str(exc)}]) from None
    finally:
        _drop_quietly(eng, bad)
        _drop_quietly(eng, eng.stage_name(src))
    return TableLoad(table.name, src.original.name, read, read - quarantined, quarantined, *span)


Span = tuple[dt.datetime | None, dt.datetime | None]


def _time_span(eng: Engine, table: Any, typed: str, bad: str, any_bad: bool) -> Span:
    """(min, max) of the time column over the good rows of the batch; (None, None) without one."""
    if table.time_column is None:
        return None, None
    tc = q(table.time_column)
    where = f" WHERE NOT EXISTS (SELECT 1 FROM {bad} b WHERE b._row = t._row)" if any_bad else ""
    row = eng.rows(f"SELECT min(t.{tc}), max(t.{tc}) FROM {typed} t{where}")[0]
    return _as_ts(row[0]), _as_ts(row[1])


def _replaced_span(eng: Engine, table: Any, typed: str, bad: str) -> Span:
    """(min, max) of the time column over the warehouse rows this batch replaces (before they go)."""
    if table.time_column is None:
        return None, None
    row = eng.rows(checks.replaced_time_span(table, typed, bad))[0]
    return _as_ts(row[0]), _as_ts(row[1])


def _widen(a: Span, b: Span) -> Span:
    lo = [v for v in (a[0], b[0]) if v is not None]
    hi = [v for v in (a[1], b[1]) if v is not None]
    return (min(lo) if lo else None), (max(hi) if hi else None)


def _as_ts(v: Any) -> dt.datetime | None:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime.combine(v, dt.time())
    return dt.datetime.fromisoformat(str(v))


def _ts(v: dt.datetime | None) -> str:
    """A timestamp literal to the microsecond (two batches in one second stay ordered), or NULL."""
    return "NULL" if v is None else f"TIMESTAMP '{v:%Y-%m-%d %H:%M:%S.%f}'"


def _refuse_c3_contents(eng: Engine, src: SourceFile, source: str, types: dict[str, str] | None) -> None:
    """COMPLIANCE rule 2: a column whose values look like authentication data refuses the whole batch."""
    sql = checks.c3_content_counts(src.table, source, types, eng.dialect)
    if sql is None:
        return
    counts = eng.rows(sql)[0]
    names = [c.name for c in src.table.columns
             if c.type == "string" and (types or {}).get(c.name, "VARCHAR").upper() in ("VARCHAR", "TEXT")]
    hits = [f"{n} ({int(k)} values)" for n, k in zip(names, counts, strict=True) if k]
    if hits:
        raise LoadError(f"{src.original.name}: column {', '.join(hits)} looks like authentication data "
                        f"(C3: card track data or password hashes); C3 data never enters Kequn "
                        f"(COMPLIANCE rule 2) — remove it from the export",
                        details=[{"file": src.original.name, "column": h} for h in hits])


def _find_bad_rows(eng: Engine, table: Any, source: str, types: dict[str, str] | None, typed: str, bad: str,
                   today: dt.date) -> None:
    """Fill ``bad`` with (``_row``, ``code``) — narrow passes, each reading only the columns it checks."""
    d = eng.dialect
    eng.execute(f"CREATE TEMP TABLE {bad} (_row BIGINT, code {d.sql_type('string')})")
    local = checks.local_problems(table, source, types, d, today)
    if local:
        eng.execute(f"INSERT INTO {bad} {local}")
    _duplicate_rows(eng, table, typed, bad)
    refs = checks.reference_problems(table, typed)
    if refs:
        eng.execute(f"INSERT INTO {bad} {refs}")


def _duplicate_rows(eng: Engine, table: Any, typed: str, bad: str) -> None:
    """Add every occurrence but the first of a repeated key; on DuckDB hashes narrow the search first."""
    d = eng.dialect
    keys, cand = q(f"_kq_dupkeys_{table.name}"), q(f"_kq_duphash_{table.name}")
    try:
        hashed = checks.duplicate_hash_candidates(table, typed, d)
        if hashed is not None:
            eng.execute(f"CREATE TEMP TABLE {cand} AS {hashed}")
            if not eng.scalar(f"SELECT count(*) FROM {cand}"):
                return
        among = None if hashed is None else cand
        eng.execute(f"CREATE TEMP TABLE {keys} AS {checks.duplicate_keys(table, typed, among, d)}")
        if eng.scalar(f"SELECT count(*) FROM {keys}"):
            eng.execute(f"INSERT INTO {bad} {checks.duplicate_problems(table, typed, keys)}")
    finally:
        _drop_quietly(eng, keys)
        _drop_quietly(eng, cand)


def _drop_quietly(eng: Engine, name: str) -> None:
    try:
        eng.execute(f"DROP TABLE IF EXISTS {name}")
    except Exception:  # noqa: BLE001 - an aborted PG transaction refuses; the rollback drops it anyway
        pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _bank_now() -> dt.datetime:
    from zoneinfo import ZoneInfo

    from kequn.settings import get_settings

    try:
        tz = ZoneInfo(get_settings().timezone)
    except Exception:  # noqa: BLE001 - settings unreadable here: fall back to the bank's usual zone
        tz = ZoneInfo("Asia/Shanghai")
    return dt.datetime.now(tz).replace(tzinfo=None)
