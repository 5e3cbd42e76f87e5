"""Console security: users, sessions, API tokens and login attempts (issue 5).

Secrets are never stored: passwords as Argon2id hashes, session and API tokens as keyed SHA-256 hashes.

Revision ID: 0005_console_auth
Revises: 0001_initial
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_console_auth"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW = sa.text("CURRENT_TIMESTAMP")
ROLES = ("hq_admin", "hq_analyst", "marketer", "branch_manager", "relationship_manager", "auditor")


def upgrade() -> None:
    roles = ", ".join(f"'{r}'" for r in ROLES)
    op.create_table(
        "console_user",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(128), nullable=False, unique=True),
        sa.Column("display_name", sa.String(256)),
        sa.Column("password_hash", sa.String(512)),  # NULL = SSO-only account
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("branch_id", sa.String(64)),  # NULL = head office (whole bank)
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("sso_subject", sa.String(256), unique=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint(f"role IN ({roles})", name="ck_console_user_role"),
        sa.CheckConstraint("role NOT IN ('branch_manager', 'relationship_manager') OR branch_id IS NOT NULL",
                           name="ck_console_user_branch_role"),
        sa.CheckConstraint("failed_logins >= 0", name="ck_console_user_failed"),
    )
    op.create_table(
        "user_session",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", ID, sa.ForeignKey("console_user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf_token", sa.String(128), nullable=False),
        sa.Column("via", sa.String(16), nullable=False, server_default="password"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_user_session_user", "user_session", ["user_id"])
    op.create_table(
        "api_token",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", ID, sa.ForeignKey("console_user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "login_attempt",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("client", sa.String(128)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(64)),
    )
    op.create_index("ix_login_attempt_user_at", "login_attempt", ["username", "at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempt_user_at", table_name="login_attempt")
    op.drop_table("login_attempt")
    op.drop_table("api_token")
    op.drop_index("ix_user_session_user", table_name="user_session")
    op.drop_table("user_session")
    op.drop_table("console_user")
