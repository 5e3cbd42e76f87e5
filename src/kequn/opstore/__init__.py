"""Ops store: the transactional store (SQLAlchemy 2 + Alembic). SQLite (WAL) by default, PostgreSQL in
production. Holds what must never be lost or doubled: ledger, campaigns, outbox, leads, registry, users,
audit, and the history of load batches and data-quality results.

- :func:`engine_for` opens an Engine for a URL (SQLite gets WAL and ``foreign_keys=ON`` on every
  connection; ``postgresql://`` is read as ``postgresql+psycopg://``).
- :func:`open_default` opens the ops store named by the settings.
- :func:`migrate` / :func:`downgrade` run the Alembic migrations packaged in ``opstore/migrations``,
  programmatically (no ``alembic.ini`` needed, any working directory, installed or not).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kequn.errors import ConfigError, StoreError

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """The SQLAlchemy URL Kequn uses for ``url`` (PostgreSQL always through psycopg 3)."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("sqlite://", "postgresql+psycopg://")):
        return url
    raise ConfigError(f"unsupported ops-store URL {url!r}: use sqlite:///file.sqlite or postgresql+psycopg://…")


def _sqlite_pragmas(synchronous: str) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
        finally:
            cursor.close()

    return on_connect


def engine_for(url: str, durability: str | None = None) -> Engine:
    """An Engine for the ops store at ``url``; creates the folder of a SQLite file when needed.

    ``durability`` (default: the ``opstore_durability`` setting) is ``full`` or ``normal`` — see
    docs/settings.md."""
    from sqlalchemy import create_engine, event

    if durability is None:
        from kequn.settings import get_settings

        durability = get_settings().opstore_durability
    if durability not in ("full", "normal"):
        raise ConfigError(f"ops-store durability must be 'full' or 'normal', got {durability!r}")
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas("FULL" if durability == "full" else "NORMAL"))
        return engine
    connect_args = {} if durability == "full" else {"options": "-c synchronous_commit=off"}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def open_default() -> Engine:
    """The ops store named by the settings (``opstore_url``, default ``data/ops.sqlite``)."""
    from kequn.settings import get_settings

    return engine_for(get_settings().resolved_opstore_url)


def _as_engine(url_or_engine: Any) -> tuple[Engine, bool]:
    if isinstance(url_or_engine, str):
        return engine_for(url_or_engine), True
    return url_or_engine, False


def alembic_config(connection: Any = None) -> Any:
    """An Alembic Config built in code, pointing at the packaged migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def _run(url_or_engine: Any, action: str, revision: str) -> None:
    from alembic import command

    engine, owned = _as_engine(url_or_engine)
    try:
        with engine.begin() as connection:
            cfg = alembic_config(connection)
            getattr(command, action)(cfg, revision)
    except ConfigError:
        raise
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StoreError(f"ops store {engine.url.render_as_string(hide_password=True)}: {action} to "
                         f"{revision!r} failed: {reason}") from exc
    finally:
        if owned:
            engine.dispose()


def migrate(url_or_engine: Any, revision: str = "head") -> None:
    """Upgrade the ops store to ``revision`` (default: the newest)."""
    _run(url_or_engine, "upgrade", revision)


def downgrade(url_or_engine: Any, revision: str) -> None:
    """Downgrade the ops store to ``revision`` (``"base"`` removes every Kequn table)."""
    _run(url_or_engine, "downgrade", revision)


def current_revision(url_or_engine: Any) -> str | None:
    """The revision the ops store is at (``None`` when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    engine, owned = _as_engine(url_or_engine)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if owned:
            engine.dispose()


def head_revision() -> str:
    """The newest revision shipped with this version of Kequn."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


__all__ = ["current_revision", "downgrade", "engine_for", "head_revision", "migrate", "normalise_url",
           "open_default"]
