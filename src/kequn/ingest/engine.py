"""The small engine-specific part of loading: transactions, and how a file becomes a SQL relation.

DuckDB reads Parquet in place (``read_parquet`` with a 1-based ``_row``) and parses a (UTF-8) CSV once
into a temporary staging table of text columns (``_row`` = data record number). PostgreSQL gets a temporary staging table (every column TEXT, ``_row`` an identity column) filled by
``COPY … FROM STDIN`` streamed from the file (Parquet is streamed through pyarrow as CSV batches).
Everything else — the checks, quarantine, upsert — is the same generated SQL for both.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kequn.errors import LoadError, StoreError
from kequn.ingest.checks import Dialect, lit, q
from kequn.ingest.files import SourceFile, iter_utf8_bytes

_log = logging.getLogger("kequn.ingest")


class Engine:
    """A raw DB-API connection of the warehouse with explicit transaction control."""

    def __init__(self, wh: Any) -> None:
        if wh.kind not in ("duckdb", "postgres"):
            raise StoreError(f"kequn load does not support the {wh.kind} warehouse yet")
        self.kind: str = wh.kind
        self.dialect = Dialect(wh.kind)
        self.con = wh.con.con  # duckdb.DuckDBPyConnection or psycopg.Connection

    # ------------------------------------------------------------------ statements
    def execute(self, sql: str) -> None:
        if _log.isEnabledFor(logging.DEBUG):
            t0 = time.perf_counter()
            self._execute(sql)
            _log.debug("%.2fs %s", time.perf_counter() - t0, sql[:160])
            return
        self._execute(sql)

    def _execute(self, sql: str) -> None:
        if self.kind == "duckdb":
            self.con.execute(sql)
        else:
            with self.con.cursor() as cur:
                cur.execute(sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if _log.isEnabledFor(logging.DEBUG):
            t0 = time.perf_counter()
            got = self._rows(sql)
            _log.debug("%.2fs %s", time.perf_counter() - t0, sql[:160])
            return got
        return self._rows(sql)

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.kind == "duckdb":
            return list(self.con.execute(sql).fetchall())
        with self.con.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def scalar(self, sql: str) -> Any:
        got = self.rows(sql)
        return got[0][0] if got else None

    # ------------------------------------------------------------------ transactions
    def begin(self) -> None:
        if self.kind == "postgres" and not self.con.autocommit:
            self.con.commit()  # close any implicit transaction ibis left open
        self.execute("BEGIN TRANSACTION" if self.kind == "duckdb" else "BEGIN")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        try:
            self.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - nothing to roll back (already aborted by the engine)
            pass

    # ------------------------------------------------------------------ sources
    def source(self, src: SourceFile) -> tuple[str, dict[str, str] | None]:
        """(SQL relation with ``_row`` and the file's columns, {column: engine type} or None = all text)."""
        if self.kind == "duckdb":
            return self._duckdb_source(src)
        return self._pg_stage(src), None

    def row_count(self, src: SourceFile, source: str) -> int:
        if self.kind == "duckdb" and src.fmt == "parquet":  # from the file's metadata
            return int(self.scalar(f"SELECT count(*) FROM read_parquet({lit(str(src.path))})"))
        return int(self.scalar(f"SELECT count(*) FROM {source} s"))

    def stage_name(self, src: SourceFile) -> str:
        return _stage_name(src)

    def _duckdb_source(self, src: SourceFile) -> tuple[str, dict[str, str] | None]:
        path = lit(str(src.path))
        if src.fmt == "parquet":
            rel = f"(SELECT file_row_number + 1 AS _row, * FROM read_parquet({path}, file_row_number=true))"
            types = {r[0]: str(r[1]) for r in self.rows(f"DESCRIBE SELECT * FROM read_parquet({path})")}
            return rel, types
        columns = ", ".join(f"{lit(c)}: 'VARCHAR'" for c in src.columns)
        name = _stage_name(src)
        self.execute(f"CREATE TEMP TABLE {name} AS SELECT row_number() OVER () AS _row, * FROM read_csv({path}, "
                     f"header=true, delim=',', quote='\"', escape='\"', auto_detect=false, columns={{{columns}}})")
        return name, None

    def _pg_stage(self, src: SourceFile) -> str:
        name = _stage_name(src)
        cols = ", ".join(f"{q(c)} TEXT" for c in src.columns)
        self.execute(f"CREATE TEMP TABLE {name} (_row BIGINT GENERATED ALWAYS AS IDENTITY, {cols}) "
                     f"ON COMMIT DROP")
        col_list = ", ".join(q(c) for c in src.columns)
        sql = f"COPY {name} ({col_list}) FROM STDIN (FORMAT csv, HEADER {'false' if src.fmt == 'parquet' else 'true'})"
        with self.con.cursor() as cur, cur.copy(sql) as copy:
            chunks = _parquet_as_csv(src) if src.fmt == "parquet" else iter_utf8_bytes(src)
            for chunk in chunks:
                copy.write(chunk)
        return name


def _stage_name(src: SourceFile) -> str:
    return q(f"_kq_stage_{src.table.name}")


def _parquet_as_csv(src: SourceFile):  # noqa: ANN202 - generator of CSV bytes
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(src.path)
    for batch in pf.iter_batches(batch_size=65536):
        as_text = pa.RecordBatch.from_arrays(
            [_to_text(col) for col in batch.columns], names=batch.schema.names)
        buf = io.BytesIO()
        pacsv.write_csv(as_text, buf, write_options=pacsv.WriteOptions(include_header=False))
        yield buf.getvalue()


def _to_text(col: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(col.type):
        return pc.strftime(col, format="%Y-%m-%d %H:%M:%S")
    if pa.types.is_boolean(col.type):
        return pc.if_else(col, "true", "false")
    try:
        return col.cast(pa.string())
    except pa.ArrowNotImplementedError as exc:
        raise LoadError(f"cannot read a column of type {col.type} for PostgreSQL staging: {exc}") from None
