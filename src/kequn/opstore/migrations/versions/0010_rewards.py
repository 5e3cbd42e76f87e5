"""e+ membership and rewards: double-entry points ledger with lots, reward catalogue, redemptions,
memberships and growth value, blind boxes.

Ledger invariants held by the database as well as by the code:
- every entry moves a positive amount between two different accounts of the same unit (so each posting
  balances by construction, and the sum of all balances is always zero);
- an account that may not go negative has a CHECK on its balance (no overdraft, even under concurrency);
- a lot's remaining amount stays between 0 and its original amount;
- entries are append-only (UPDATE/DELETE refused); a request's idempotency key is unique.

Revision ID: 0010_rewards
Revises: 0008_loan_routing
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_rewards"
down_revision = "0008_loan_routing"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_table(
        "point_account",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("owner_type", sa.String(16), nullable=False),
        sa.Column("owner_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("allow_negative", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.UniqueConstraint("owner_type", "owner_id", "kind", "unit", name="uq_point_account_owner"),
        sa.CheckConstraint("owner_type IN ('customer', 'enterprise', 'campaign', 'system')",
                           name="ck_point_account_owner_type"),
        sa.CheckConstraint("unit IN ('point', 'fen')", name="ck_point_account_unit"),
        sa.CheckConstraint("allow_negative IN (0, 1)", name="ck_point_account_allow_negative"),
        sa.CheckConstraint("allow_negative = 1 OR balance >= 0", name="ck_point_account_no_overdraft"),
    )
    op.create_table(
        "point_txn",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("memo", sa.Text()),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response", sa.Text()),
        sa.Column("reverses_txn_id", ID, sa.ForeignKey("point_txn.id"), unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("kind IN ('earn', 'redeem', 'reverse', 'expire', 'transfer', 'fund', 'award', "
                           "'adjust', 'draw')", name="ck_point_txn_kind"),
    )
    op.create_table(
        "point_lot",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", ID, sa.ForeignKey("point_account.id"), nullable=False),
        sa.Column("txn_id", ID, sa.ForeignKey("point_txn.id"), nullable=False),
        sa.Column("original", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("earned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("original > 0", name="ck_point_lot_original"),
        sa.CheckConstraint("remaining >= 0 AND remaining <= original", name="ck_point_lot_remaining"),
    )
    op.create_index("ix_point_lot_fifo", "point_lot", ["account_id", "remaining", "expires_at", "id"])
    op.create_table(
        "point_entry",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("txn_id", ID, sa.ForeignKey("point_txn.id"), nullable=False),
        sa.Column("from_account_id", ID, sa.ForeignKey("point_account.id"), nullable=False),
        sa.Column("to_account_id", ID, sa.ForeignKey("point_account.id"), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("lot_id", ID, sa.ForeignKey("point_lot.id")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("amount > 0", name="ck_point_entry_amount"),
        sa.CheckConstraint("from_account_id <> to_account_id", name="ck_point_entry_two_accounts"),
    )
    op.create_index("ix_point_entry_txn", "point_entry", ["txn_id"])
    op.create_index("ix_point_entry_from", "point_entry", ["from_account_id"])
    op.create_index("ix_point_entry_to", "point_entry", ["to_account_id"])
    _entry_guards()

    op.create_table(
        "reward",
        sa.Column("reward_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("points_price", sa.BigInteger(), nullable=False),
        sa.Column("cost_fen", sa.BigInteger(), nullable=False),
        sa.Column("stock", sa.BigInteger()),
        sa.Column("valid_from", sa.Date()),
        sa.Column("valid_to", sa.Date()),
        sa.Column("min_tier", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("segment_id", sa.String(128)),
        sa.Column("active", sa.Integer(), nullable=False, server_default="1"),
        sa.CheckConstraint("points_price >= 0 AND cost_fen >= 0", name="ck_reward_prices"),
        sa.CheckConstraint("stock IS NULL OR stock >= 0", name="ck_reward_stock"),
    )
    op.create_table(
        "redemption",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("txn_id", ID, sa.ForeignKey("point_txn.id"), nullable=False, unique=True),
        sa.Column("owner_id", sa.String(128), nullable=False),
        sa.Column("reward_id", sa.String(64), sa.ForeignKey("reward.reward_id"), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("cost_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="redeemed"),
        sa.Column("reversal_txn_id", ID, sa.ForeignKey("point_txn.id"), unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("status IN ('redeemed', 'reversed')", name="ck_redemption_status"),
        sa.CheckConstraint("(status = 'reversed') = (reversal_txn_id IS NOT NULL)", name="ck_redemption_reversal"),
    )
    op.create_index("ix_redemption_reward_time", "redemption", ["reward_id", "created_at"])
    op.create_table(
        "membership",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("growth_value", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("tier", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("tier_since", sa.Date(), nullable=False),
        sa.Column("grace_until", sa.Date()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("growth_value >= 0", name="ck_membership_growth"),
        sa.CheckConstraint("tier >= 0", name="ck_membership_tier"),
    )
    op.create_table(
        "growth_event",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("event_key", sa.String(200), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("growth", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("growth >= 0", name="ck_growth_event_growth"),
    )
    op.create_index("ix_growth_event_cap", "growth_event", ["customer_id", "rule_id", "period"])
    op.create_table(
        "blindbox_draw",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("box_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("reward_id", sa.String(64), sa.ForeignKey("reward.reward_id"), nullable=False),
        sa.Column("cost_fen", sa.BigInteger(), nullable=False),
        sa.Column("fallback", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("txn_id", ID, sa.ForeignKey("point_txn.id")),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )


def _entry_guards() -> None:
    """Entries are append-only and move value only between accounts of the same unit."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER point_entry_append_only BEFORE UPDATE OR DELETE ON point_entry "
            "FOR EACH ROW EXECUTE FUNCTION kequn_refuse_change()"
        )
        op.execute(
            """
            CREATE FUNCTION kequn_point_entry_same_unit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF (SELECT unit FROM point_account WHERE id = NEW.from_account_id)
                   IS DISTINCT FROM (SELECT unit FROM point_account WHERE id = NEW.to_account_id) THEN
                    RAISE EXCEPTION 'point_entry between accounts of different units refused';
                END IF;
                RETURN NEW;
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER point_entry_same_unit BEFORE INSERT ON point_entry "
            "FOR EACH ROW EXECUTE FUNCTION kequn_point_entry_same_unit()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER point_entry_no_{verb.lower()} BEFORE {verb} ON point_entry "
                f"BEGIN SELECT RAISE(ABORT, 'point_entry is append-only: {verb} refused'); END"
            )
        op.execute(
            "CREATE TRIGGER point_entry_same_unit BEFORE INSERT ON point_entry "
            "WHEN (SELECT unit FROM point_account WHERE id = NEW.from_account_id) IS NOT "
            "(SELECT unit FROM point_account WHERE id = NEW.to_account_id) "
            "BEGIN SELECT RAISE(ABORT, 'point_entry between accounts of different units refused'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS point_entry_same_unit ON point_entry")
        op.execute("DROP FUNCTION IF EXISTS kequn_point_entry_same_unit()")
        op.execute("DROP TRIGGER IF EXISTS point_entry_append_only ON point_entry")
    for table in ("blindbox_draw", "growth_event", "membership", "redemption", "reward", "point_entry",
                  "point_lot", "point_txn", "point_account"):
        op.drop_table(table)
