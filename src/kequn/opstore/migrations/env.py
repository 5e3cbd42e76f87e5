"""Alembic environment for the Kequn ops store.

Kequn runs Alembic programmatically (``kequn.opstore.migrate``): the caller passes an open connection in
``config.attributes["connection"]``. Running the ``alembic`` command by hand works too when
``sqlalchemy.url`` is set in the config.
"""

from __future__ import annotations

from alembic import context

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=None, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    from kequn.opstore import engine_for

    engine = engine_for(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=None, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():  # pragma: no cover - Kequn always migrates online
    raise SystemExit("offline (SQL script) migrations are not supported; use kequn init")
run_migrations_online()
