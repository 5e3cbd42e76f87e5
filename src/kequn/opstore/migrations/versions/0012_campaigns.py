"""Campaigns (issue 10): campaigns, arm assignments, suppressed contacts, the outbox with delivery receipts,
observed responses, opt-outs, touchpoint events (deduplicated by event id), trigger firings, unified branch
leads (商机: from campaigns and from loan routing) and the playbook PDCA history.

Revision ID: 0012_campaigns
Revises: 0011_model_registry
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_campaigns"
down_revision = "0011_model_registry"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW = sa.text("CURRENT_TIMESTAMP")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaign",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="draft"),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=NOW),
        sa.Column("launched_at", TS),
        sa.CheckConstraint("status IN ('draft', 'approved', 'live', 'stopped', 'finished')", name="ck_campaign_status"),
    )
    op.create_table(
        "campaign_run",
        sa.Column("run_id", sa.String(80), primary_key=True),
        sa.Column("campaign_id", sa.String(64), sa.ForeignKey("campaign.campaign_id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False, server_default="{}"),
    )
    op.create_table(
        "campaign_assignment",
        sa.Column("run_id", sa.String(80), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("branch_id", sa.String(32)),
        sa.Column("eligible", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "customer_id", name="pk_campaign_assignment"),
        sa.CheckConstraint("arm IN ('treatment', 'control', 'holdout')", name="ck_assignment_arm"),
        sqlite_with_rowid=False,  # one B-tree keyed by (run, customer): half the work of a bulk insert
    )
    op.create_table(
        "contact_suppression",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(80), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_suppression_campaign", "contact_suppression", ["campaign_id", "reason"])
    op.create_table(
        "outbox",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("send_key", sa.String(200), nullable=False, unique=True),
        sa.Column("run_id", sa.String(80), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("transactional", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("not_before", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("sent_at", TS),
        sa.Column("delivered_at", TS),
        sa.Column("provider_id", sa.String(128)),
        sa.Column("last_error", sa.Text()),
        sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'dead', 'suppressed')",
                           name="ck_outbox_status"),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "not_before"])
    op.create_index("ix_outbox_customer", "outbox", ["customer_id", "channel", "created_at"])
    op.create_table(
        "send_attempt",  # one row per call to a channel (the proof that nothing is sent twice)
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("send_key", sa.String(200), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text()),
    )
    op.create_table(
        "campaign_response",
        sa.Column("run_id", sa.String(80), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("converted", sa.Integer(), nullable=False),
        sa.Column("redeemed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False, server_default="0"),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("observed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "customer_id", "source", name="pk_campaign_response"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "opt_out",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("campaign_id", sa.String(64)),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_opt_out_customer", "opt_out", ["customer_id", "channel"])
    op.create_table(
        "touch_event",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("touchpoint_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_index("ix_touch_event_customer", "touch_event", ["customer_id", "touchpoint_id", "ts"])
    op.create_table(
        "trigger_fire",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("fired_at", TS, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.UniqueConstraint("campaign_id", "event_id", name="uq_trigger_fire"),
    )
    op.create_table(
        "lead",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_ref", sa.String(128), nullable=False),
        sa.Column("campaign_id", sa.String(64)),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("branch_id", sa.String(32), nullable=False),
        sa.Column("rm_id", sa.String(64)),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="new"),
        sa.Column("reason", sa.Text()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("contacted_at", TS),
        sa.Column("closed_at", TS),
        sa.Column("escalated_at", TS),
        sa.Column("escalated_to", sa.String(64)),
        sa.UniqueConstraint("source", "source_ref", name="uq_lead_source"),
        sa.CheckConstraint("source IN ('campaign', 'loan_routing', 'manual')", name="ck_lead_source"),
        sa.CheckConstraint("status IN ('new', 'contacted', 'won', 'lost')", name="ck_lead_status"),
        sa.CheckConstraint("status != 'lost' OR reason IS NOT NULL", name="ck_lead_lost_reason"),
    )
    op.create_index("ix_lead_branch", "lead", ["branch_id", "status"])
    op.create_index("ix_lead_rm", "lead", ["rm_id", "status"])
    op.create_table(
        "playbook_history",  # PDCA: plan / do (pilot, rollout) / check (review) / act (change), append-only
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("playbook_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(8), nullable=False),
        sa.Column("branches", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("campaign_id", sa.String(64)),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.CheckConstraint("stage IN ('plan', 'do', 'check', 'act')", name="ck_playbook_stage"),
    )


def downgrade() -> None:
    for t in ("playbook_history", "lead", "trigger_fire", "touch_event", "opt_out", "campaign_response",
              "send_attempt", "outbox", "contact_suppression", "campaign_assignment", "campaign_run", "campaign"):
        op.drop_table(t)
