"""Warehouse layer: the analytical store behind an Ibis connection.

Backends only connect, read and write; every transform is an Ibis expression written once elsewhere
(tags, segments, DQ, features). Supported URLs:

- ``duckdb:///path/to/warehouse.duckdb`` (default, embedded) or ``duckdb://:memory:``
- ``postgresql://user@host:port/dbname`` (``postgres://`` accepted)
- ``spark://host:7077``, ``sc://host:15002`` (Spark Connect), ``local[2]`` / ``spark+local://2`` (Spark local
  mode) — see ``kequn.warehouse.spark`` and docs/deploy-spark.md
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kequn.errors import ConfigError, KequnError, StoreError

BackendKind = Literal["duckdb", "postgres", "spark"]


@dataclass
class Warehouse:
    """An open warehouse: ``con`` is the Ibis backend; ``kind`` says which engine it is."""

    con: Any
    kind: BackendKind
    url: str

    def table(self, name: str) -> Any:
        return self.con.table(name)

    def has_table(self, name: str) -> bool:
        return name in set(self.con.list_tables())

    def sql(self, query: str) -> Any:
        """Run a statement in the engine's own SQL (for DDL and bulk moves); returns the raw cursor."""
        return self.con.raw_sql(query)

    def close(self) -> None:
        try:
            self.con.disconnect()
        except Exception:  # pragma: no cover - best effort
            pass


def backend_kind(url: str) -> BackendKind:
    scheme = url.split(":", 1)[0].lower()
    if scheme.startswith("local") or scheme.startswith("spark+"):
        return "spark"
    if scheme == "duckdb":
        return "duckdb"
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return "postgres"
    if scheme in ("spark", "sc", "local"):
        return "spark"
    raise ConfigError(f"unsupported warehouse URL {url!r}: use duckdb:///file.duckdb, postgresql://… or spark://…")


def connect(url: str, *, threads: int = 0, read_only: bool = False) -> Warehouse:
    """Open the warehouse at ``url`` (creating a DuckDB file and its folder when needed)."""
    import ibis

    kind = backend_kind(url)
    try:
        if kind == "duckdb":
            path = url.split("://", 1)[1]
            if path.startswith("/") and not path.startswith("//"):
                path = path[1:] if url.startswith("duckdb:///") else path
            if path not in ("", ":memory:"):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs: dict[str, Any] = {"read_only": read_only, **_duckdb_limits()}
            if threads:
                kwargs["threads"] = threads
            con = ibis.duckdb.connect(path or ":memory:", **kwargs)
        elif kind == "postgres":
            pg_url = url.replace("postgresql+psycopg://", "postgres://").replace("postgresql://", "postgres://")
            con = ibis.connect(pg_url)
        else:
            from kequn.warehouse.spark import connect as spark_connect

            con = spark_connect(url)
    except KequnError:
        raise
    except Exception as exc:
        raise StoreError(f"cannot open warehouse {url!r}: {exc}") from None
    return Warehouse(con=con, kind=kind, url=url)


def _duckdb_limits() -> dict[str, str]:
    """DuckDB config from the settings warehouse_memory_limit / warehouse_temp_dir (when set)."""
    from kequn.settings import get_settings

    s = get_settings()
    out = {}
    if s.warehouse_memory_limit:
        out["memory_limit"] = s.warehouse_memory_limit
    if s.warehouse_temp_dir:
        Path(s.warehouse_temp_dir).mkdir(parents=True, exist_ok=True)
        out["temp_directory"] = s.warehouse_temp_dir
    return out


def open_default(read_only: bool = False) -> Warehouse:
    """The warehouse named by the settings."""
    from kequn.settings import get_settings

    s = get_settings()
    return connect(s.resolved_warehouse_url, threads=s.threads, read_only=read_only)
