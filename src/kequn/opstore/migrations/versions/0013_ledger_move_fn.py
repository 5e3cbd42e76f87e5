"""Points ledger fast path on PostgreSQL: a whole simple posting (earn, award, fund — one move between two
accounts, optionally creating a lot) in ONE round trip, as a server-side PL/pgSQL function.

``kequn_ledger_move`` does inside the caller's statement what the Python path does in ~7 round trips:
resolve (get or create, race-safe) both accounts, insert the transaction row *with* its idempotency
response (ids come from the sequences first, so no second UPDATE), insert the lot, debit the source with
``… WHERE balance >= amount`` (refusing an overdraft with ``kequn:insufficient_balance``), credit the
destination, insert the entry. Called as a single autocommit statement it is one durable commit. System
accounts keep derived balances (never updated). A lot-tracked account (member, corporate) is never the
source: spending from it goes through the FIFO path in Python. Every constraint and trigger of
0010_rewards still applies (CHECK no overdraft, unique idempotency key, append-only and same-unit entries).

SQLite has no server-side functions: there the same posting runs as prepared DBAPI statements (see
kequn.rewards.ledger). On SQLite this migration does nothing.

Revision ID: 0013_ledger_move_fn
Revises: 0012_campaigns
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0013_ledger_move_fn"
down_revision = "0012_campaigns"
branch_labels = None
depends_on = None

ACCOUNT_FN = """
CREATE FUNCTION kequn_point_account(p_owner_type text, p_owner_id text, p_kind text, p_unit text,
                                    p_allow_negative boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT id INTO v_id FROM point_account
     WHERE owner_type = p_owner_type AND owner_id = p_owner_id AND kind = p_kind AND unit = p_unit;
    IF v_id IS NULL THEN
        INSERT INTO point_account (owner_type, owner_id, kind, unit, balance, allow_negative)
        VALUES (p_owner_type, p_owner_id, p_kind, p_unit, 0, CASE WHEN p_allow_negative THEN 1 ELSE 0 END)
        ON CONFLICT ON CONSTRAINT uq_point_account_owner DO NOTHING
        RETURNING id INTO v_id;
        IF v_id IS NULL THEN  -- a concurrent posting created it first
            SELECT id INTO v_id FROM point_account
             WHERE owner_type = p_owner_type AND owner_id = p_owner_id AND kind = p_kind AND unit = p_unit;
        END IF;
    END IF;
    RETURN v_id;
END
$$
"""

MOVE_FN = """
CREATE FUNCTION kequn_ledger_move(
    p_key text, p_kind text, p_actor text, p_request_hash text, p_memo text, p_now timestamptz,
    p_src_type text, p_src_owner text, p_src_kind text, p_src_negative boolean,
    p_dst_type text, p_dst_owner text, p_dst_kind text,
    p_unit text, p_amount bigint, p_make_lot boolean, p_expires_at timestamptz,
    OUT txn_id bigint, OUT src_id bigint, OUT dst_id bigint, OUT lot_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_have bigint;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'kequn:invalid: amount must be positive, got %', p_amount;
    END IF;
    IF p_src_kind IN ('member', 'corporate') THEN
        RAISE EXCEPTION 'kequn:invalid: a % account spends through its lots (FIFO), not kequn_ledger_move', p_src_kind;
    END IF;
    src_id := kequn_point_account(p_src_type, p_src_owner, p_src_kind, p_unit, p_src_negative);
    dst_id := kequn_point_account(p_dst_type, p_dst_owner, p_dst_kind, p_unit, false);
    txn_id := nextval('point_txn_id_seq');
    IF p_make_lot THEN
        lot_id := nextval('point_lot_id_seq');
    END IF;
    -- the transaction row carries its idempotency response from the start: a duplicate key raises
    -- unique_violation and the whole posting (accounts created above included) is rolled back
    INSERT INTO point_txn (id, idempotency_key, kind, actor, memo, request_hash, response, created_at)
    VALUES (txn_id, p_key, p_kind, p_actor, p_memo, p_request_hash,
            json_build_object(
                'details', CASE WHEN p_make_lot THEN json_build_object('lot', lot_id) ELSE '{}'::json END,
                'entries', json_build_array(json_build_object('amount', p_amount, 'from', src_id,
                                                              'lot', lot_id, 'to', dst_id)),
                'key', p_key, 'kind', p_kind, 'txn_id', txn_id)::text,
            p_now);
    IF p_make_lot THEN
        INSERT INTO point_lot (id, account_id, txn_id, original, remaining, earned_at, expires_at)
        VALUES (lot_id, dst_id, txn_id, p_amount, p_amount, p_now, p_expires_at);
    END IF;
    IF p_src_type <> 'system' THEN  -- system balances are derived from entries
        UPDATE point_account SET balance = balance - p_amount
         WHERE id = src_id AND (allow_negative = 1 OR balance >= p_amount);
        IF NOT FOUND THEN
            SELECT balance INTO v_have FROM point_account WHERE id = src_id;
            RAISE EXCEPTION 'kequn:insufficient_balance: account % has %, needs %', src_id, v_have, p_amount;
        END IF;
    END IF;
    IF p_dst_type <> 'system' THEN
        UPDATE point_account SET balance = balance + p_amount WHERE id = dst_id;
    END IF;
    INSERT INTO point_entry (txn_id, from_account_id, to_account_id, amount, lot_id, created_at)
    VALUES (txn_id, src_id, dst_id, p_amount, lot_id, p_now);
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(ACCOUNT_FN)
    op.execute(MOVE_FN)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS kequn_ledger_move(text, text, text, text, text, timestamptz, text, text, "
               "text, boolean, text, text, text, text, bigint, boolean, timestamptz)")
    op.execute("DROP FUNCTION IF EXISTS kequn_point_account(text, text, text, text, boolean)")
