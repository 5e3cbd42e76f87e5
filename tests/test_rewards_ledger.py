"""Worked stories of the points ledger (earn, redeem, refund, expire, corporate transfer), idempotency and
the no-overdraft rule — on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from kequn.errors import ConflictError, PermissionDenied, ValidationError
from kequn.rewards.catalogue import hot_rewards, redeem, reverse_redemption
from kequn.rewards.ledger import InsufficientBalance
from rewards_helpers import Clock, ledger_for, migrated_engine, small_catalogue


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path}/ops.sqlite" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    eng = migrated_engine(url)
    small_catalogue(eng)
    yield eng
    eng.dispose()


def test_earn_redeem_refund_expire_story(engine):
    """A customer earns 300 points in January (expiring end of June) and 200 in March (expiring end of
    September), redeems a coffee coupon (100, taken from the January lot), is refunded, redeems a video
    card (300: 300 from January), then on 1 July the rest of January's lot is gone (0 left) and March's
    200 remain."""
    clock = Clock()
    led = ledger_for(engine, clock)
    jan = led.earn("e1", "C1", 300, expires_at=dt.datetime(2026, 6, 30, 23, 59, tzinfo=dt.UTC))
    clock.advance(days=60)
    led.earn("e2", "C1", 200, expires_at=dt.datetime(2026, 9, 30, 23, 59, tzinfo=dt.UTC))
    coffee = redeem(led, "r1", "C1", "COFFEE")
    assert coffee.entries[0]["lot"] == jan.details["lot"]  # FIFO: the lot expiring first pays
    assert led.balance("customer", "C1") == 400
    reverse_redemption(led, "rev1", coffee.details["redemption_id"], reason="客户投诉")
    assert led.balance("customer", "C1") == 500
    redeem(led, "r2", "C1", "VIDEO")
    assert led.balance("customer", "C1") == 200 and led.available("customer", "C1") == 200
    clock.now = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    exp = led.expire("expire-2026-07-01")
    assert exp.details == {"lots_expired": 0, "points_expired": 0}  # January's lot was used up
    clock.now = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    exp = led.expire("expire-2026-10-01")
    assert exp.details["points_expired"] == 200
    assert led.balance("customer", "C1") == 0
    assert led.balance("system", "expiry") == 200
    statement = led.statement("customer", "C1")
    assert [s["change"] for s in statement] == [300, 200, -100, 100, -300, -200]
    assert statement[-1]["balance"] == 0
    assert led.verify() == []


def test_expired_points_cannot_be_spent_before_the_sweep(engine):
    clock = Clock()
    led = ledger_for(engine, clock)
    led.earn("e1", "C2", 150, expires_at=clock.now + dt.timedelta(days=1))
    clock.advance(days=2)
    assert led.balance("customer", "C2") == 150 and led.available("customer", "C2") == 0
    with pytest.raises(InsufficientBalance):
        redeem(led, "r1", "C2", "COFFEE")
    assert led.balance("customer", "C2") == 150  # nothing half-applied
    assert led.verify() == []


def test_retry_returns_first_response_and_posts_once(engine):
    led = ledger_for(engine)
    first = led.earn("same-key", "C3", 120)
    again = led.earn("same-key", "C3", 120)
    assert again.replayed and again.txn_id == first.txn_id and again.entries == first.entries
    assert led.balance("customer", "C3") == 120
    with pytest.raises(ConflictError, match="different request"):
        led.earn("same-key", "C3", 999)


def test_overdraft_refused_by_code_and_by_database(engine):
    led = ledger_for(engine)
    led.earn("e", "C4", 50)
    with pytest.raises(InsufficientBalance):
        redeem(led, "r", "C4", "COFFEE")
    with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.text("UPDATE point_account SET balance = -1 WHERE owner_id = 'C4'"))
        conn.commit()
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError):
        conn.execute(sa.text("DELETE FROM point_entry"))  # entries are append-only
        conn.commit()
    assert led.verify() == []


def test_stock_tier_and_budget_rules(engine):
    led = ledger_for(engine)
    for i in range(3):
        led.earn(f"e{i}", f"V{i}", 1000)
    redeem(led, "v0", "V0", "VIDEO")
    redeem(led, "v1", "V1", "VIDEO")
    with pytest.raises(ConflictError, match="out of stock"):
        redeem(led, "v2", "V2", "VIDEO")
    with pytest.raises(PermissionDenied, match="tier 2"):
        redeem(led, "l0", "V0", "LOUNGE")
    led.fund("fund", "CAMP", 600)  # 6 yuan budget
    redeem(led, "c0", "V0", "COFFEE", budget_campaign="CAMP")  # costs 5 yuan
    with pytest.raises(InsufficientBalance):
        redeem(led, "c1", "V1", "COFFEE", budget_campaign="CAMP")  # 1 yuan left: refused whole
    assert led.balance("customer", "V1") == 700  # the failed redemption took no points
    assert led.balance("campaign", "CAMP", unit="fen") == 100
    assert [r["reward_id"] for r in hot_rewards(engine, now=led.clock())] == ["VIDEO", "COFFEE"]
    assert led.verify() == []


def test_corporate_points_transfer(engine):
    led = ledger_for(engine)
    led.earn("corp", "E1", 1000, owner_type="enterprise")  # 乐豆 bought by the enterprise
    led.transfer("t1", "E1", "C9", 400)
    led.transfer("t2", "E1", "C8", 600)
    with pytest.raises(InsufficientBalance):
        led.transfer("t3", "E1", "C7", 1)
    assert led.balance("enterprise", "E1") == 0
    assert led.balance("customer", "C9") == 400 and led.available("customer", "C8") == 600
    assert led.verify() == []


def test_bad_requests_are_refused_clearly(engine):
    led = ledger_for(engine)
    with pytest.raises(ValidationError, match="positive whole number"):
        led.earn("k", "C1", -5)
    with pytest.raises(ValidationError, match="idempotency key"):
        led.earn("", "C1", 5)
    with pytest.raises(ValidationError, match="owner type"):
        led.earn("k2", "C1", 5, owner_type="alien")
