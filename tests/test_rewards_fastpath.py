"""The ledger's hot path (``Ledger.move``: earn, award, fund) — one round trip to the PL/pgSQL function
``kequn_ledger_move`` on PostgreSQL, prepared DBAPI statements on SQLite — must write what the general
path (``Ledger.post`` with a body of ``_move``) writes and refuse what it refuses: overdrafts, double
postings, a key reused for another request; under 8 concurrent processes and across a SIGKILL."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa

from kequn.errors import ConflictError, KequnError, ValidationError
from kequn.rewards.catalogue import redeem
from kequn.rewards.ledger import InsufficientBalance, Ledger, _aware
from rewards_helpers import Clock, ledger_for, migrated_engine, small_catalogue


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path}/ops.sqlite" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    eng = migrated_engine(url)
    small_catalogue(eng)
    yield eng
    eng.dispose()


# ------------------------------------------------------------------ the general path, as the reference
def general_earn(led: Ledger, key, owner_id, points, *, owner_type="customer", expires_at=None, memo=None):
    req = {"op": "earn", "owner": [owner_type, owner_id], "points": points, "expires_at": _aware(expires_at),
           "memo": memo}

    def body(conn, txn):
        dst = led.account_id(conn, owner_type, owner_id)
        lot = led._new_lot(conn, txn, dst, points, expires_at)
        return [led._move(conn, txn, led.account_id(conn, "system", "issuance"), dst, points, lot)], {"lot": lot}

    return led.post(key, "earn", req, "system", body)


def general_award(led: Ledger, key, campaign_id, customer_id, points, *, expires_at=None):
    req = {"op": "award", "campaign": campaign_id, "customer": customer_id, "points": points,
           "expires_at": _aware(expires_at)}

    def body(conn, txn):
        src = led.account_id(conn, "campaign", campaign_id, unit="point")
        dst = led.account_id(conn, "customer", customer_id)
        lot = led._new_lot(conn, txn, dst, points, expires_at)
        return [led._move(conn, txn, src, dst, points, lot)], {"lot": lot}

    return led.post(key, "award", req, "system", body)


def general_fund(led: Ledger, key, campaign_id, amount, *, unit="fen"):
    req = {"op": "fund", "campaign": campaign_id, "amount": amount, "unit": unit}
    source = {"fen": "funding", "point": "issuance"}[unit]

    def body(conn, txn):
        dst = led.account_id(conn, "campaign", campaign_id, unit=unit)
        return [led._move(conn, txn, led.account_id(conn, "system", source), dst, amount)], {}

    return led.post(key, "fund", req, "system", body)


def _owner_view(engine, prefix: str) -> dict:
    """Everything the ledger holds for the owners whose id starts with ``prefix``, ids replaced by names."""
    with engine.connect() as conn:
        names = {r.id: (r.owner_type, r.owner_id.removeprefix(prefix), r.kind, r.unit)
                 for r in conn.execute(sa.text("SELECT id, owner_type, owner_id, kind, unit FROM point_account"))}
        accounts = {names[r.id]: int(r.balance) for r in conn.execute(sa.text(
            "SELECT id, balance FROM point_account WHERE owner_id LIKE :p"), {"p": prefix + "%"})}
        lots = sorted((names[r.account_id], int(r.original), int(r.remaining), str(r.earned_at), str(r.expires_at))
                      for r in conn.execute(sa.text(
                          "SELECT l.* FROM point_lot l JOIN point_account a ON a.id = l.account_id "
                          "WHERE a.owner_id LIKE :p"), {"p": prefix + "%"}))
        txns = conn.execute(sa.text("SELECT * FROM point_txn WHERE idempotency_key LIKE :p ORDER BY id"),
                            {"p": prefix + "%"}).all()
        entries = []
        for t in txns:
            for e in conn.execute(sa.text("SELECT * FROM point_entry WHERE txn_id = :t ORDER BY id"), {"t": t.id}):
                entries.append((t.kind, names[e.from_account_id], names[e.to_account_id], int(e.amount),
                                e.lot_id is not None, str(e.created_at)))
        rows = [(t.kind, t.actor, t.memo, t.idempotency_key.removeprefix(prefix), str(t.created_at)) for t in txns]
        responses = [json.loads(t.response) for t in txns]
    return {"accounts": accounts, "lots": lots, "entries": entries, "txns": rows, "responses": responses}


def test_fast_path_writes_what_the_general_path_writes(engine):
    clock = Clock()
    fast, ref = ledger_for(engine, clock), ledger_for(engine, clock)
    exp = clock.now + dt.timedelta(days=30)
    for p, earn, award, fund in (("H", fast.earn, fast.award, fast.fund),
                                 ("R", lambda *a, **k: general_earn(ref, *a, **k),
                                  lambda *a, **k: general_award(ref, *a, **k),
                                  lambda *a, **k: general_fund(ref, *a, **k))):
        results = [
            earn(f"{p}e1", f"{p}C1", 300, expires_at=exp, memo="签到奖励"),
            earn(f"{p}e2", f"{p}C1", 5),
            earn(f"{p}e3", f"{p}E1", 1000, owner_type="enterprise"),
            fund(f"{p}f1", f"{p}CAMP", 500, unit="point"),
            fund(f"{p}f2", f"{p}CAMP", 12_000),
            award(f"{p}a1", f"{p}CAMP", f"{p}C2", 200, expires_at=exp),
            award(f"{p}a2", f"{p}CAMP", f"{p}C1", 300),
        ]
        with pytest.raises(InsufficientBalance, match=r"has 0, needs 1$"):
            award(f"{p}a3", f"{p}CAMP", f"{p}C3", 1)
        for r in results:  # what a posting returns is what its key replays
            with engine.connect() as conn:
                stored = conn.execute(sa.text("SELECT response FROM point_txn WHERE idempotency_key = :k"),
                                      {"k": r.key}).scalar_one()
            assert json.loads(stored) == {"txn_id": r.txn_id, "key": r.key, "kind": r.kind, "entries": r.entries,
                                          "details": r.details}
            assert not r.replayed
    fast_view, ref_view = _owner_view(engine, "H"), _owner_view(engine, "R")
    for part in ("accounts", "lots", "entries", "txns"):
        assert fast_view[part] == ref_view[part], part
    assert [sorted(r) for r in fast_view["responses"]] == [sorted(r) for r in ref_view["responses"]]
    assert fast_view["accounts"][("campaign", "CAMP", "budget", "point")] == 0
    assert fast.verify() == []
    # lots made by the hot path expire and are spent FIFO like any other
    clock.now = exp + dt.timedelta(days=1)
    assert fast.available("customer", "HC1") == 305 and fast.available("customer", "HC2") == 0
    assert fast.expire("sweep").details == {"lots_expired": 4, "points_expired": 1000}
    assert redeem(fast, "HR1", "HC1", "COFFEE").details["points"] == 100
    assert fast.verify() == []


def test_overdraft_and_double_posting_refused_like_the_general_path(engine):
    led = ledger_for(engine)
    led.fund("f", "CAMP", 100, unit="point")
    first = led.award("a1", "CAMP", "C1", 60)
    with pytest.raises(InsufficientBalance) as fast_err:
        led.award("a2", "CAMP", "C2", 50)
    with pytest.raises(InsufficientBalance) as ref_err:
        general_award(led, "a2-general", "CAMP", "C2", 50)
    assert str(fast_err.value) == str(ref_err.value) and "has 40, needs 50" in str(fast_err.value)
    assert led.balance("campaign", "CAMP", unit="point") == 40 and led.balance("customer", "C2") == 0
    with engine.connect() as conn:  # a refused posting leaves nothing behind, not even its key or account
        assert conn.execute(sa.text("SELECT count(*) FROM point_txn WHERE idempotency_key LIKE 'a2%'")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM point_account WHERE owner_id = 'C2'")).scalar() == 0
    led.fund("f2", "CAMP", 10, unit="point")
    assert led.award("a2", "CAMP", "C2", 50).details["lot"]  # the refused key is free for the retry
    # the budget is empty now, yet a retry of a posting that went through replays its first response
    again = led.award("a1", "CAMP", "C1", 60)
    assert again.replayed and (again.txn_id, again.entries, again.details) == (first.txn_id, first.entries,
                                                                                first.details)
    with pytest.raises(ConflictError, match="different request"):
        led.award("a1", "CAMP", "C1", 61)
    with pytest.raises(ConflictError, match="different request"):  # keys are shared with the general path
        led.earn("f", "C1", 100)
    led.earn("e-c1", "C1", 100)
    redeem(led, "r1", "C1", "COFFEE")
    with pytest.raises(ConflictError, match="different request"):
        led.fund("r1", "CAMP", 1)
    with pytest.raises(ValidationError, match="lots"):  # a lot-tracked account never pays through the hot path
        led.move("m", "adjust", {}, "t", led.account_spec("customer", "C1"), led.account_spec("system", "expiry"), 1)
    with pytest.raises(ValidationError, match="positive whole number"):
        led.move("m", "adjust", {}, "t", led.account_spec("system", "issuance"), led.account_spec("customer", "C1"), 0)
    with pytest.raises(ValidationError, match="units"):
        led.move("m", "adjust", {}, "t", led.account_spec("system", "funding"), led.account_spec("customer", "C1"), 1)
    assert led.balance("campaign", "CAMP", unit="point") == 0
    assert led.verify() == []


@pytest.mark.postgres
def test_the_function_itself_refuses_bad_postings(pg_url):
    import psycopg

    eng = migrated_engine(pg_url)
    call = ("SELECT * FROM kequn_ledger_move(%s, 'award', 'sql', 'h', NULL, now(), %s, %s, %s, false, "
            "'customer', 'C1', 'member', 'point', %s, true, NULL)")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="kequn:invalid: a member account spends"):
            conn.execute(call, ("k1", "customer", "C2", "member", 5))
        with pytest.raises(psycopg.errors.RaiseException, match="kequn:insufficient_balance: account .* has 0"):
            conn.execute(call, ("k1", "campaign", "CAMP", "budget", 5))
        with pytest.raises(psycopg.errors.RaiseException, match="amount must be positive"):
            conn.execute(call, ("k1", "system", "issuance", "issuance", 0))
        assert conn.execute("SELECT count(*) FROM point_txn").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM point_account").fetchone()[0] == 0  # rolled back whole
        conn.execute(call.replace("false", "true"), ("k1", "system", "issuance", "issuance", 5))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(call.replace("false", "true"), ("k1", "system", "issuance", "issuance", 5))
        # the database's own guards stay behind the function: entries append-only, no overdraft
        with pytest.raises(psycopg.Error):
            conn.execute("UPDATE point_entry SET amount = 1")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE point_account SET balance = -1 WHERE owner_id = 'C1'")
    assert Ledger(eng).verify() == []
    from kequn import opstore

    opstore.downgrade(eng, "0012_campaigns")
    with eng.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'kequn_%ledger%' "
                                    "OR proname = 'kequn_point_account'")).scalar() == 0
    opstore.migrate(eng)
    eng.dispose()


@pytest.mark.postgres
def test_a_held_connection_that_dies_is_replaced(pg_url):
    import psycopg

    eng = migrated_engine(pg_url)
    led = Ledger(eng)
    led.earn("e1", "C1", 10)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        killed = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
    assert killed
    time.sleep(0.2)
    led.earn("e2", "C1", 10)  # reconnects once and posts (a retry of a key that did commit would replay)
    assert led.earn("e1", "C1", 10).replayed
    assert led.balance("customer", "C1") == 20
    led.close()
    assert led._held == []
    led.earn("e4", "C1", 1)  # a closed Ledger takes a fresh connection, never the one it gave back
    assert len(led._held) == 1
    led.close()
    with Ledger(eng) as again:  # a closed Ledger's connections are back in the pool; a new one works
        again.earn("e3", "C1", 1)
    assert led.verify() == []
    eng.dispose()


# ------------------------------------------------------------------ 8 processes through the function
def _awarder(url: str, worker: int, attempts: int, out) -> None:
    from kequn.opstore import engine_for

    led = Ledger(engine_for(url))
    ok = 0
    for i in range(attempts):
        try:
            led.award(f"w{worker}-{i}", "BUDGET", f"M{worker}", 10)
            ok += 1
        except KequnError:
            pass
        try:  # every worker also posts a key the others use at the same moment
            led.award(f"shared-{i}", "BUDGET", "SHARED", 10)
        except KequnError:
            pass
        led.earn(f"earn-{worker}-{i}", "SHARED", 1)  # and credits the account the others credit
    led.close()
    out.put(ok)


@pytest.mark.postgres
def test_eight_processes_award_from_one_budget_without_overdraft_or_double_posting(pg_url):
    eng = migrated_engine(pg_url)
    led = Ledger(eng)
    led.fund("budget", "BUDGET", 10 * 45, unit="point")  # 45 awards' worth; 8 × 10 + 10 shared are tried
    led.close()
    eng.dispose()  # no connection of this process crosses the fork
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_awarder, args=(pg_url, w, 10, q)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    own = sum(q.get(timeout=5) for _ in procs)
    with eng.connect() as conn:
        shared = conn.execute(sa.text("SELECT count(*) FROM point_txn WHERE idempotency_key LIKE 'shared-%'")).scalar()
        awards = conn.execute(sa.text("SELECT count(*) FROM point_txn WHERE kind = 'award'")).scalar()
    assert shared <= 10 and own + shared == awards == 45  # the budget, exactly, and each shared key once
    assert led.balance("campaign", "BUDGET", unit="point") == 0
    assert led.balance("customer", "SHARED") == 10 * shared + 8 * 10
    assert led.verify() == []
    eng.dispose()


# ------------------------------------------------------------------ SIGKILL in the middle of fast postings
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_during_fast_postings_leaves_only_whole_postings(backend, tmp_path, request):
    url = f"sqlite:///{tmp_path}/ops.sqlite" if backend == "sqlite" else request.getfixturevalue("pg_url")
    eng = migrated_engine(url)
    Ledger(eng).fund("fund", "CAMP", 10_000_000, unit="point")
    child = textwrap.dedent(f"""
        from kequn.opstore import engine_for
        from kequn.rewards.ledger import Ledger
        led = Ledger(engine_for({url!r}))
        for i in range(1_000_000):
            led.earn(f"e{{i}}", f"M{{i % 50}}", 3)
            led.award(f"a{{i}}", "CAMP", f"M{{i % 50}}", 7)
            if i % 20 == 0:
                print(i, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert first.strip().isdigit(), first
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    with eng.connect() as conn:
        txns = conn.execute(sa.text("SELECT count(*) FROM point_txn WHERE kind IN ('earn', 'award')")).scalar()
        entries = conn.execute(sa.text("SELECT count(*) FROM point_entry e JOIN point_txn t ON t.id = e.txn_id "
                                       "WHERE t.kind IN ('earn', 'award')")).scalar()
        lots = conn.execute(sa.text("SELECT count(*) FROM point_lot")).scalar()
        unanswered = conn.execute(sa.text("SELECT count(*) FROM point_txn WHERE response IS NULL")).scalar()
        awarded = conn.execute(sa.text("SELECT count(*) FROM point_txn WHERE kind = 'award'")).scalar()
    assert txns >= 2 and txns == entries == lots and unanswered == 0  # every posting whole, with its response
    led = Ledger(eng)
    assert led.balance("campaign", "CAMP", unit="point") == 10_000_000 - 7 * awarded
    assert led.verify() == []
    assert led.earn("e0", "M0", 3).replayed  # retries after the crash replay
    led.close()
    eng.dispose()
