"""Initial ops store: append-only audit log, generic maker-checker change requests, DQ run history.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

#: integer primary keys: BIGINT on PostgreSQL, INTEGER (= rowid alias, autoincrement) on SQLite
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("details", sa.Text()),  # JSON text
    )
    op.create_index("ix_audit_log_target", "audit_log", ["target"])
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"])
    _append_only_audit()

    op.create_table(
        "change_request",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),  # JSON text
        sa.Column("status", sa.String(16), nullable=False, server_default="draft"),
        sa.Column("maker", sa.String(128), nullable=False),
        sa.Column("checker", sa.String(128)),
        sa.Column("reason", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("kind", "item_id", "version", name="uq_change_request_version"),
        sa.CheckConstraint("status IN ('draft', 'approved', 'rejected')", name="ck_change_request_status"),
        sa.CheckConstraint("checker IS NULL OR checker <> maker", name="ck_change_request_four_eyes"),
        sa.CheckConstraint("status = 'draft' OR (checker IS NOT NULL AND decided_at IS NOT NULL)",
                           name="ck_change_request_decided"),
        sa.CheckConstraint("version >= 1", name="ck_change_request_version"),
    )
    op.create_index("ix_change_request_item", "change_request", ["kind", "item_id", "status"])

    op.create_table(
        "dq_run",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("rules_file", sa.String(1024), nullable=False),
        sa.Column("warehouse", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n_rules", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("n_pass", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("n_fail", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("n_skip", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("n_blocking_failed", sa.Integer(), nullable=False, server_default="0"),
        sa.CheckConstraint("status IN ('running', 'passed', 'failed')", name="ck_dq_run_status"),
    )
    op.create_table(
        "dq_result",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", ID, sa.ForeignKey("dq_run.id", ondelete="CASCADE"), nullable=False),
        sa.Column("rule_id", sa.String(256), nullable=False),
        sa.Column("table_name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("measured", sa.Float()),
        sa.Column("threshold", sa.String(256)),
        sa.Column("message", sa.Text()),
        sa.Column("details", sa.Text()),  # JSON text: e.g. the histogram of a distribution-shift rule
        sa.CheckConstraint("status IN ('pass', 'fail', 'skip')", name="ck_dq_result_status"),
        sa.CheckConstraint("severity IN ('blocking', 'warning')", name="ck_dq_result_severity"),
    )
    op.create_index("ix_dq_result_rule", "dq_result", ["rule_id", "run_id"])
    op.create_index("ix_dq_result_run", "dq_result", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_dq_result_run", table_name="dq_result")
    op.drop_index("ix_dq_result_rule", table_name="dq_result")
    op.drop_table("dq_result")
    op.drop_table("dq_run")
    op.drop_index("ix_change_request_item", table_name="change_request")
    op.drop_table("change_request")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS kequn_refuse_change()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    op.drop_index("ix_audit_log_actor_at", table_name="audit_log")
    op.drop_index("ix_audit_log_target", table_name="audit_log")
    op.drop_table("audit_log")


def _append_only_audit() -> None:
    """The database itself refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) on ``audit_log``."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION kequn_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION kequn_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION kequn_refuse_change()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {verb} refused'); END"
            )
