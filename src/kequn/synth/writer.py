"""Writing canonical tables incrementally: Arrow schemas from the data model, exact decimals from cents,
one Parquet (or CSV) file per table written row group by row group, and file hashes for the manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from kequn.domain.datamodel import Table
from kequn.domain.datamodel import table as table_def
from kequn.errors import ValidationError

ROW_GROUP = 1_000_000


def arrow_type(column_type: str) -> Any:
    import pyarrow as pa

    return {
        "string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "decimal": pa.decimal128(18, 2),
        "date": pa.date32(), "timestamp": pa.timestamp("us"), "boolean": pa.bool_(),
    }[column_type]


def arrow_schema(t: Table) -> Any:
    import pyarrow as pa

    return pa.schema([pa.field(c.name, arrow_type(c.type), nullable=c.nullable) for c in t.columns])


def decimal_from_cents(cents: np.ndarray, valid: np.ndarray | None = None) -> Any:
    """int64 cents → exact decimal128(18, 2) Arrow array (16-byte two's complement, no float rounding)."""
    import pyarrow as pa

    cents = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    mask = None if valid is None else pa.array(valid, type=pa.bool_())
    arr = pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words.tobytes())])
    if mask is not None:
        arr = pa.compute.if_else(mask, arr, pa.scalar(None, pa.decimal128(18, 2)))
    return arr


def ids(prefix: str, numbers: np.ndarray, width: int) -> Any:
    """Ids like ``C000000042``: ASCII prefix + zero-padded number, built as one Arrow buffer (fast)."""
    import pyarrow as pa

    num = np.asarray(numbers, dtype=np.int64)
    n, p = len(num), len(prefix)
    w = p + width
    chars = np.empty((n, w), dtype=np.uint8)
    chars[:, :p] = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    rest = num.copy()
    for j in range(w - 1, p - 1, -1):
        chars[:, j] = 48 + rest % 10
        rest //= 10
    big = (n + 1) * w >= 2**31
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int64 if big else np.int32)
    arr = pa.Array.from_buffers(pa.large_string() if big else pa.string(), n,
                                [None, pa.py_buffer(offsets), pa.py_buffer(chars)])
    return arr.cast(pa.string()) if big else arr


def take(values: np.ndarray | list[str], codes: np.ndarray, valid: np.ndarray | None = None) -> Any:
    """Strings by code from a small dictionary (null where ``valid`` is False or the code is negative)."""
    import pyarrow as pa

    codes = np.asarray(codes, dtype=np.int64)
    ok = codes >= 0 if valid is None else (valid & (codes >= 0))
    idx = pa.array(np.where(ok, codes, 0), mask=~ok)
    return pa.array(list(values), type=pa.string()).take(idx)


def dates(days: np.ndarray, valid: np.ndarray | None = None) -> Any:
    import pyarrow as pa

    d = np.ascontiguousarray(days, dtype=np.int32)
    if valid is None:
        return pa.Array.from_buffers(pa.date32(), len(d), [None, pa.py_buffer(d)])
    return pa.array(d, type=pa.date32(), mask=~np.asarray(valid))


def timestamps(us: np.ndarray) -> Any:
    import pyarrow as pa

    t = np.ascontiguousarray(us, dtype=np.int64)
    return pa.Array.from_buffers(pa.timestamp("us"), len(t), [None, pa.py_buffer(t)])


class BackgroundWriter:
    """One worker thread that encodes and writes row groups while the next month is being drawn
    (pyarrow releases the GIL while writing). FIFO with a single worker keeps files byte-identical."""

    def __init__(self, max_pending: int = 4) -> None:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kequn-synth-writer")
        self._pending: Any = deque()
        self._max = max_pending

    def submit(self, fn: Any, *args: Any) -> None:
        while len(self._pending) >= self._max:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, *args))

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        self.drain()
        self._pool.shutdown()


class TableSink:
    """One canonical table's file, appended to batch by batch (Parquet row groups or CSV chunks)."""

    def __init__(self, directory: Path, name: str, fmt: str, *, t: Table | None = None,
                 background: BackgroundWriter | None = None) -> None:
        import pyarrow as pa

        self._bg = background
        if fmt not in ("parquet", "csv"):
            raise ValidationError(f"unknown output format {fmt!r}; use parquet or csv")
        self.table = t or table_def(name)
        self.name = name
        self.fmt = fmt
        self.path = directory / f"{name}.{fmt}"
        self.schema = arrow_schema(self.table)
        self.rows = 0
        self._writer: Any = None
        if fmt == "csv":  # timestamps as 'YYYY-MM-DD HH:MM:SS' text, per the loader contract
            self._csv_schema = pa.schema([
                pa.field(f.name, pa.string() if pa.types.is_timestamp(f.type) else f.type) for f in self.schema
            ])

    def write(self, columns: dict[str, Any]) -> None:
        """Append rows; ``columns`` maps column name → Arrow array or numpy array; missing columns are null."""
        import pyarrow as pa

        n = len(next(iter(columns.values())))
        if n == 0:
            return
        unknown = set(columns) - set(self.schema.names)
        if unknown:
            raise ValidationError(f"{self.name}: unknown columns {sorted(unknown)}")
        arrays = []
        for f in self.schema:
            v = columns.get(f.name)
            if v is None:
                arrays.append(pa.nulls(n, f.type))
            else:
                a = v if isinstance(v, (pa.Array, pa.ChunkedArray)) else pa.array(v)
                arrays.append(a.cast(f.type) if a.type != f.type else a)
        tbl = pa.Table.from_arrays(arrays, schema=self.schema)
        self.rows += n
        fn = self._write_parquet if self.fmt == "parquet" else self._write_csv
        if self._bg is None:
            fn(tbl)
        else:
            self._bg.submit(fn, tbl)

    def _write_parquet(self, tbl: Any) -> None:
        import pyarrow.parquet as pq

        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="snappy")
        self._writer.write_table(tbl, row_group_size=ROW_GROUP)

    def _write_csv(self, tbl: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pcsv

        cols = []
        for f, col in zip(self.schema, tbl.columns, strict=True):
            cols.append(pc.strftime(col.cast(pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
                        if pa.types.is_timestamp(f.type) else col)
        out = pa.Table.from_arrays(cols, schema=self._csv_schema)
        if self._writer is None:
            self._writer = pcsv.CSVWriter(self.path, self._csv_schema)
        self._writer.write_table(out)

    def close(self) -> None:
        """Close the file; a table that received no rows still gets a file (header / empty Parquet)."""
        if self._bg is not None:
            self._bg.drain()
        if self._writer is None:
            import pyarrow as pa

            self.rows = 0
            empty = pa.Table.from_arrays([pa.array([], f.type) for f in self.schema], schema=self.schema)
            (self._write_parquet if self.fmt == "parquet" else self._write_csv)(empty)
        self._writer.close()
        self._writer = None


def write_arrow(path: Path, tbl: Any) -> None:
    """A truth table: plain Parquet, written once."""
    import pyarrow.parquet as pq

    pq.write_table(tbl, path, compression="snappy")


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()
