"""Loan routing (issue 8): the decision log (append-only, PIPL Art. 24), the human review queue and the
branch leads created by products that cannot close online.

Revision ID: 0008_loan_routing
Revises: 0005_console_auth
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_loan_routing"
down_revision = "0005_console_auth"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_table(
        "loan_decision",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("branch_id", sa.String(32), nullable=False),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("ladder_id", sa.String(64), nullable=False),
        sa.Column("ladder_version", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("arm", sa.String(16), nullable=False, server_default="champion"),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("risk_grade", sa.String(1)),
        sa.Column("product_id", sa.String(64)),
        sa.Column("apr", sa.Numeric(7, 4)),
        sa.Column("limit_amount", sa.Numeric(18, 2)),
        sa.Column("amount", sa.Numeric(18, 2)),
        sa.Column("term_months", sa.Integer()),
        sa.Column("reason_codes", sa.Text(), nullable=False),  # JSON list
        sa.Column("application", sa.Text(), nullable=False),  # JSON: the inputs as received
        # zlib-compressed compact JSON (kequn.domain.loans.Decision.to_record): every product, every rule, why
        sa.Column("trail", sa.LargeBinary(), nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.CheckConstraint("outcome IN ('offer', 'lead', 'declined')", name="ck_loan_decision_outcome"),
        sa.CheckConstraint("arm IN ('champion', 'challenger')", name="ck_loan_decision_arm"),
        sa.CheckConstraint("(outcome = 'declined') = (product_id IS NULL)", name="ck_loan_decision_product"),
    )
    op.create_index("ix_loan_decision_application", "loan_decision", ["application_id"])
    op.create_index("ix_loan_decision_customer", "loan_decision", ["customer_id"])
    op.create_index("ix_loan_decision_ladder", "loan_decision", ["ladder_id", "ladder_version"])
    _append_only("loan_decision")

    op.create_table(
        "loan_review",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("decision_id", ID, sa.ForeignKey("loan_decision.id"), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("request_reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("reviewer", sa.String(128)),
        sa.Column("reviewed_at", sa.DateTime(timezone=True)),
        sa.Column("review_note", sa.Text()),
        sa.CheckConstraint("status IN ('open', 'upheld', 'overturned')", name="ck_loan_review_status"),
        sa.CheckConstraint("status = 'open' OR (reviewer IS NOT NULL AND reviewed_at IS NOT NULL "
                           "AND review_note IS NOT NULL)", name="ck_loan_review_decided"),
        sa.CheckConstraint("reviewer IS NULL OR reviewer <> requested_by", name="ck_loan_review_person"),
    )
    op.create_index("ix_loan_review_status", "loan_review", ["status", "id"])

    op.create_table(
        "loan_lead",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("decision_id", ID, sa.ForeignKey("loan_decision.id"), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("branch_id", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("product_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.CheckConstraint("status IN ('open', 'contacted', 'closed')", name="ck_loan_lead_status"),
    )
    op.create_index("ix_loan_lead_branch", "loan_lead", ["branch_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_loan_lead_branch", table_name="loan_lead")
    op.drop_table("loan_lead")
    op.drop_index("ix_loan_review_status", table_name="loan_review")
    op.drop_table("loan_review")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS loan_decision_append_only ON loan_decision")
    else:
        op.execute("DROP TRIGGER IF EXISTS loan_decision_no_update")
        op.execute("DROP TRIGGER IF EXISTS loan_decision_no_delete")
    op.drop_index("ix_loan_decision_ladder", table_name="loan_decision")
    op.drop_index("ix_loan_decision_customer", table_name="loan_decision")
    op.drop_index("ix_loan_decision_application", table_name="loan_decision")
    op.drop_table("loan_decision")


def _append_only(table: str) -> None:
    """A stored decision is evidence: the database refuses UPDATE and DELETE on it."""
    if op.get_bind().dialect.name == "postgresql":
        # kequn_refuse_change() is created by 0001_initial for the audit log
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION kequn_refuse_change()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END")
