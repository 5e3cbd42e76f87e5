"""Model registry (issue 7): one row per trained model version with its training-data fingerprint and
dates, features, parameters, metrics and artifact hash; status draft → approved → champion → retired.

Revision ID: 0011_model_registry
Revises: 0010_rewards
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_model_registry"
down_revision = "0010_rewards"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_table(
        "model_version",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),  # the model family, e.g. retail_churn
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),  # lightgbm | logistic | uplift-…
        sa.Column("status", sa.String(16), nullable=False, server_default="draft"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("train_dates", sa.Text(), nullable=False),  # JSON list of as-of dates
        sa.Column("test_dates", sa.Text(), nullable=False),
        sa.Column("data_fingerprint", sa.String(64), nullable=False),
        sa.Column("features", sa.Text(), nullable=False),  # JSON list
        sa.Column("params", sa.Text(), nullable=False),  # JSON
        sa.Column("metrics", sa.Text(), nullable=False),  # JSON
        sa.Column("artifact_path", sa.Text(), nullable=False),
        sa.Column("artifact_hash", sa.String(64), nullable=False),
        sa.Column("change_request_id", ID),
        sa.Column("approved_by", sa.String(64)),
        sa.Column("approved_at", sa.DateTime(timezone=True)),
        sa.Column("promoted_at", sa.DateTime(timezone=True)),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("name", "version", name="uq_model_version"),
        sa.CheckConstraint("status IN ('draft', 'approved', 'champion', 'retired')", name="ck_model_version_status"),
        sa.CheckConstraint("(status = 'draft') OR (approved_by IS NOT NULL)", name="ck_model_version_approved"),
    )
    op.create_index("ix_model_version_status", "model_version", ["name", "status"])


def downgrade() -> None:
    op.drop_index("ix_model_version_status", table_name="model_version")
    op.drop_table("model_version")
