"""Ops store: the transactional store (SQLAlchemy 2 + Alembic). SQLite (WAL) by default, PostgreSQL in
production. Holds what must never be lost or doubled: ledger, campaigns, outbox, leads, registry, users,
audit, and the history of load batches and data-quality results."""
