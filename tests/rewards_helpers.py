"""Shared set-up for the rewards tests: a migrated ops store on SQLite or PostgreSQL."""

from __future__ import annotations

import datetime as dt

from kequn import opstore
from kequn.rewards.catalogue import RewardSpec, sync_catalogue
from kequn.rewards.ledger import Ledger

T0 = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


def migrated_engine(url: str):
    engine = opstore.engine_for(url)
    opstore.migrate(engine)
    return engine


def small_catalogue(engine) -> None:
    sync_catalogue(engine, [
        RewardSpec(reward_id="COFFEE", name="咖啡券", category="coupon", points_price=100, cost_fen=500),
        RewardSpec(reward_id="VIDEO", name="视频月卡", category="video", points_price=300, cost_fen=1500, stock=2),
        RewardSpec(reward_id="LOUNGE", name="贵宾厅", category="travel", points_price=500, cost_fen=12000, min_tier=2),
        RewardSpec(reward_id="CHEAP", name="流量包", category="telecom", points_price=0, cost_fen=300),
    ])


def ledger_for(engine, clock: Clock | None = None) -> Ledger:
    return Ledger(engine, clock or Clock())
