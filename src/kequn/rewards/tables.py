"""SQLAlchemy Core views of the rewards tables (the migration 0010_rewards owns the schema)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

point_account = sa.Table(
    "point_account", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("owner_type", sa.String), sa.Column("owner_id", sa.String), sa.Column("kind", sa.String),
    sa.Column("unit", sa.String), sa.Column("balance", sa.BigInteger), sa.Column("allow_negative", sa.Integer),
    sa.Column("created_at", sa.DateTime(timezone=True)),
)
point_txn = sa.Table(
    "point_txn", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("idempotency_key", sa.String), sa.Column("kind", sa.String), sa.Column("actor", sa.String),
    sa.Column("memo", sa.Text), sa.Column("request_hash", sa.String), sa.Column("response", sa.Text),
    sa.Column("reverses_txn_id", sa.BigInteger), sa.Column("created_at", sa.DateTime(timezone=True)),
)
point_lot = sa.Table(
    "point_lot", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("account_id", sa.BigInteger), sa.Column("txn_id", sa.BigInteger),
    sa.Column("original", sa.BigInteger), sa.Column("remaining", sa.BigInteger),
    sa.Column("earned_at", sa.DateTime(timezone=True)), sa.Column("expires_at", sa.DateTime(timezone=True)),
)
point_entry = sa.Table(
    "point_entry", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("txn_id", sa.BigInteger), sa.Column("from_account_id", sa.BigInteger),
    sa.Column("to_account_id", sa.BigInteger), sa.Column("amount", sa.BigInteger),
    sa.Column("lot_id", sa.BigInteger), sa.Column("created_at", sa.DateTime(timezone=True)),
)
reward = sa.Table(
    "reward", metadata,
    sa.Column("reward_id", sa.String, primary_key=True),
    sa.Column("name", sa.String), sa.Column("category", sa.String), sa.Column("points_price", sa.BigInteger),
    sa.Column("cost_fen", sa.BigInteger), sa.Column("stock", sa.BigInteger), sa.Column("valid_from", sa.Date),
    sa.Column("valid_to", sa.Date), sa.Column("min_tier", sa.Integer), sa.Column("segment_id", sa.String),
    sa.Column("active", sa.Integer),
)
redemption = sa.Table(
    "redemption", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("txn_id", sa.BigInteger), sa.Column("owner_id", sa.String), sa.Column("reward_id", sa.String),
    sa.Column("points", sa.BigInteger), sa.Column("cost_fen", sa.BigInteger), sa.Column("status", sa.String),
    sa.Column("reversal_txn_id", sa.BigInteger), sa.Column("created_at", sa.DateTime(timezone=True)),
)
membership = sa.Table(
    "membership", metadata,
    sa.Column("customer_id", sa.String, primary_key=True),
    sa.Column("growth_value", sa.BigInteger), sa.Column("tier", sa.Integer), sa.Column("tier_since", sa.Date),
    sa.Column("grace_until", sa.Date), sa.Column("updated_at", sa.DateTime(timezone=True)),
)
growth_event = sa.Table(
    "growth_event", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("event_key", sa.String), sa.Column("customer_id", sa.String), sa.Column("rule_id", sa.String),
    sa.Column("period", sa.String), sa.Column("growth", sa.BigInteger), sa.Column("at", sa.DateTime(timezone=True)),
)
blindbox_draw = sa.Table(
    "blindbox_draw", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("idempotency_key", sa.String), sa.Column("box_id", sa.String), sa.Column("customer_id", sa.String),
    sa.Column("seed", sa.BigInteger), sa.Column("reward_id", sa.String), sa.Column("cost_fen", sa.BigInteger),
    sa.Column("fallback", sa.Integer), sa.Column("txn_id", sa.BigInteger), sa.Column("at", sa.DateTime(timezone=True)),
)
