"""SQLAlchemy views of the campaign tables (created by migration 0012_campaigns)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

campaign = sa.Table(
    "campaign", metadata,
    sa.Column("campaign_id", sa.String, primary_key=True), sa.Column("version", sa.Integer),
    sa.Column("name", sa.Text), sa.Column("spec", sa.Text), sa.Column("status", sa.String),
    sa.Column("priority", sa.Integer), sa.Column("created_by", sa.String), sa.Column("created_at", TS),
    sa.Column("launched_at", TS),
)
campaign_run = sa.Table(
    "campaign_run", metadata,
    sa.Column("run_id", sa.String, primary_key=True), sa.Column("campaign_id", sa.String),
    sa.Column("version", sa.Integer), sa.Column("started_at", TS), sa.Column("as_of", sa.Date),
    sa.Column("counts", sa.Text),
)
assignment = sa.Table(
    "campaign_assignment", metadata,
    sa.Column("run_id", sa.String, primary_key=True), sa.Column("campaign_id", sa.String),
    sa.Column("customer_id", sa.String, primary_key=True), sa.Column("arm", sa.String),
    sa.Column("branch_id", sa.String), sa.Column("eligible", sa.Integer),
)
suppression = sa.Table(
    "contact_suppression", metadata,
    sa.Column("id", _ID, primary_key=True), sa.Column("run_id", sa.String), sa.Column("campaign_id", sa.String),
    sa.Column("customer_id", sa.String), sa.Column("channel", sa.String), sa.Column("reason", sa.String),
    sa.Column("at", TS),
)
outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", _ID, primary_key=True), sa.Column("send_key", sa.String), sa.Column("run_id", sa.String),
    sa.Column("campaign_id", sa.String), sa.Column("customer_id", sa.String), sa.Column("channel", sa.String),
    sa.Column("transactional", sa.Integer), sa.Column("status", sa.String), sa.Column("attempts", sa.Integer),
    sa.Column("not_before", TS), sa.Column("created_at", TS), sa.Column("claimed_by", sa.String),
    sa.Column("sent_at", TS), sa.Column("delivered_at", TS), sa.Column("provider_id", sa.String),
    sa.Column("last_error", sa.Text),
)
send_attempt = sa.Table(
    "send_attempt", metadata,
    sa.Column("id", _ID, primary_key=True), sa.Column("send_key", sa.String), sa.Column("attempt", sa.Integer),
    sa.Column("at", TS), sa.Column("outcome", sa.String), sa.Column("detail", sa.Text),
)
response = sa.Table(
    "campaign_response", metadata,
    sa.Column("run_id", sa.String, primary_key=True), sa.Column("campaign_id", sa.String),
    sa.Column("customer_id", sa.String, primary_key=True), sa.Column("arm", sa.String),
    sa.Column("converted", sa.Integer), sa.Column("redeemed", sa.Integer), sa.Column("amount", sa.Numeric(18, 2)),
    sa.Column("source", sa.String, primary_key=True), sa.Column("observed_at", TS),
)
opt_out = sa.Table(
    "opt_out", metadata,
    sa.Column("id", _ID, primary_key=True), sa.Column("customer_id", sa.String), sa.Column("channel", sa.String),
    sa.Column("campaign_id", sa.String), sa.Column("source", sa.String), sa.Column("at", TS),
)
touch_event = sa.Table(
    "touch_event", metadata,
    sa.Column("event_id", sa.String, primary_key=True), sa.Column("customer_id", sa.String),
    sa.Column("touchpoint_id", sa.String), sa.Column("channel", sa.String), sa.Column("ts", TS),
    sa.Column("received_at", TS),
)
trigger_fire = sa.Table(
    "trigger_fire", metadata,
    sa.Column("id", _ID, primary_key=True), sa.Column("campaign_id", sa.String), sa.Column("event_id", sa.String),
    sa.Column("customer_id", sa.String), sa.Column("received_at", TS), sa.Column("fired_at", TS),
    sa.Column("outcome", sa.String),
)
lead = sa.Table(
    "lead", metadata,
    sa.Column("id", _ID, primary_key=True), sa.Column("source", sa.String), sa.Column("source_ref", sa.String),
    sa.Column("campaign_id", sa.String), sa.Column("customer_id", sa.String), sa.Column("branch_id", sa.String),
    sa.Column("rm_id", sa.String), sa.Column("product", sa.String), sa.Column("status", sa.String),
    sa.Column("reason", sa.Text), sa.Column("created_at", TS), sa.Column("due_on", sa.Date),
    sa.Column("contacted_at", TS), sa.Column("closed_at", TS), sa.Column("escalated_at", TS),
    sa.Column("escalated_to", sa.String),
)
playbook_history = sa.Table(
    "playbook_history", metadata,
    sa.Column("id", _ID, primary_key=True), sa.Column("playbook_id", sa.String), sa.Column("version", sa.Integer),
    sa.Column("stage", sa.String), sa.Column("branches", sa.Text), sa.Column("campaign_id", sa.String),
    sa.Column("note", sa.Text), sa.Column("details", sa.Text), sa.Column("actor", sa.String), sa.Column("at", TS),
)
