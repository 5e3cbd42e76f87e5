"""SQLAlchemy Core views of the ops-store tables the services use.

The migrations in ``opstore/migrations`` own the schema (constraints, triggers, indexes); these objects
only name the columns for queries, so they carry no constraints of their own.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("actor", sa.String),
    sa.Column("action", sa.String),
    sa.Column("target", sa.String),
    sa.Column("reason", sa.Text),
    sa.Column("details", sa.Text),
)

change_request = sa.Table(
    "change_request", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("kind", sa.String),
    sa.Column("item_id", sa.String),
    sa.Column("version", sa.Integer),
    sa.Column("payload", sa.Text),
    sa.Column("status", sa.String),
    sa.Column("maker", sa.String),
    sa.Column("checker", sa.String),
    sa.Column("reason", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
)

dq_run = sa.Table(
    "dq_run", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("as_of", sa.Date),
    sa.Column("rules_file", sa.String),
    sa.Column("warehouse", sa.String),
    sa.Column("status", sa.String),
    sa.Column("n_rules", sa.Integer),
    sa.Column("n_pass", sa.Integer),
    sa.Column("n_fail", sa.Integer),
    sa.Column("n_skip", sa.Integer),
    sa.Column("n_blocking_failed", sa.Integer),
)

dq_result = sa.Table(
    "dq_result", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("run_id", sa.BigInteger),
    sa.Column("rule_id", sa.String),
    sa.Column("table_name", sa.String),
    sa.Column("kind", sa.String),
    sa.Column("severity", sa.String),
    sa.Column("status", sa.String),
    sa.Column("measured", sa.Float),
    sa.Column("threshold", sa.String),
    sa.Column("message", sa.Text),
    sa.Column("details", sa.Text),
)
