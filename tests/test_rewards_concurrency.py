"""The ledger under attack: random operation sequences (hypothesis state machine), 8 processes redeeming
from the same accounts and budget at once on PostgreSQL, and a process killed (SIGKILL) mid-batch."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from kequn.errors import ConflictError, KequnError
from kequn.rewards.catalogue import redeem, reverse_redemption
from kequn.rewards.ledger import Ledger
from rewards_helpers import Clock, migrated_engine, small_catalogue

CUSTOMERS = ("A", "B", "C")


class LedgerMachine(RuleBasedStateMachine):
    """Random sequences of earn / award / redeem / reverse / transfer / expire / retry on a fresh SQLite store
    (earn, fund and award take the hot path; the rest the general one)."""

    @initialize()
    def setup(self):
        import tempfile

        self.dir = tempfile.mkdtemp(prefix="kequn-ledger-")
        self.engine = migrated_engine(f"sqlite:///{self.dir}/ops.sqlite")
        small_catalogue(self.engine)
        self.clock = Clock()
        self.led = Ledger(self.engine, self.clock)
        self.n = 0
        self.redemptions: list[int] = []
        self.issued = 0

    def _key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    @rule(c=st.sampled_from(CUSTOMERS), pts=st.integers(1, 400), days=st.none() | st.integers(1, 60))
    def earn(self, c, pts, days):
        exp = self.clock.now + dt.timedelta(days=days) if days else None
        self.led.earn(self._key(), c, pts, expires_at=exp)
        self.issued += pts

    @rule(c=st.sampled_from(CUSTOMERS), reward=st.sampled_from(["COFFEE", "VIDEO"]))
    def redeem(self, c, reward):
        try:
            r = redeem(self.led, self._key(), c, reward)
            self.redemptions.append(r.details["redemption_id"])
        except ConflictError:
            pass  # not enough points or out of stock: refused whole

    @rule(i=st.integers(0, 50))
    def reverse(self, i):
        if self.redemptions:
            rid = self.redemptions.pop(i % len(self.redemptions))
            reverse_redemption(self.led, self._key(), rid)

    @rule(src=st.sampled_from(CUSTOMERS), pts=st.integers(1, 200))
    def corporate(self, src, pts):
        self.led.earn(self._key(), "E1", pts, owner_type="enterprise")
        self.issued += pts
        try:
            self.led.transfer(self._key(), "E1", src, pts)
        except ConflictError:  # pragma: no cover - just funded
            pass

    @rule(c=st.sampled_from(CUSTOMERS), pts=st.integers(1, 300), top_up=st.booleans())
    def campaign_award(self, c, pts, top_up):
        if top_up:
            self.led.fund(self._key(), "CAMP", 200, unit="point")
            self.issued += 200
        try:
            self.led.award(self._key(), "CAMP", c, pts)
        except ConflictError:
            pass  # the budget is short: refused whole

    @rule(days=st.integers(1, 40))
    def time_passes_and_points_expire(self, days):
        self.clock.advance(days=days)
        self.led.expire(self._key())

    @rule()
    def retry_last(self):
        if self.n:
            with self.engine.connect() as conn:
                before = conn.execute(sa.text("SELECT count(*) FROM point_entry")).scalar()
            key = f"k{self.n}"
            with self.engine.connect() as conn:
                kind = conn.execute(sa.text("SELECT kind FROM point_txn WHERE idempotency_key = :k"), {"k": key}).scalar()
            if kind == "expire":
                self.led.expire(key)  # same key, same request → replay
                with self.engine.connect() as conn:
                    assert conn.execute(sa.text("SELECT count(*) FROM point_entry")).scalar() == before

    @invariant()
    def balanced_and_never_negative(self):
        if hasattr(self, "led"):
            assert self.led.verify() == []
            assert -self.led.balance("system", "issuance") == self.issued  # points are conserved: what was issued is somewhere

    def teardown(self):
        if hasattr(self, "engine"):
            self.engine.dispose()


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = settings(max_examples=15, stateful_step_count=30, deadline=None)


# ------------------------------------------------------------------ PostgreSQL, 8 processes

def _redeemer(url: str, worker: int, attempts: int, out: mp.Queue) -> None:
    from kequn.opstore import engine_for

    eng = engine_for(url)
    led = Ledger(eng)
    ok = refused = 0
    for i in range(attempts):
        try:
            redeem(led, f"w{worker}-{i}", "SHARED", "COFFEE", budget_campaign="BUDGET")
            ok += 1
        except KequnError:
            refused += 1
        # every worker also retries one key another worker may be using at the same moment
        try:
            redeem(led, f"shared-key-{i}", "SHARED", "COFFEE", budget_campaign="BUDGET")
        except KequnError:
            pass
    eng.dispose()
    out.put((ok, refused))


@pytest.mark.postgres
def test_eight_processes_redeem_without_overdraft_or_double_posting(pg_url):
    eng = migrated_engine(pg_url)
    small_catalogue(eng)
    led = Ledger(eng)
    led.earn("seed", "SHARED", 100 * 60)  # 60 coffees' worth of points
    led.fund("budget", "BUDGET", 500 * 45)  # … but money for only 45
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_redeemer, args=(pg_url, w, 10, q)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    results = [q.get(timeout=5) for _ in procs]
    with eng.connect() as conn:
        n_redeemed = conn.execute(sa.text("SELECT count(*) FROM redemption")).scalar()
        keys = conn.execute(sa.text("SELECT count(*) FROM point_txn WHERE idempotency_key LIKE 'shared-key-%'")).scalar()
    assert n_redeemed == 45  # the budget, not the points, ran out first — never beyond it
    assert led.balance("campaign", "BUDGET", unit="fen") == 0
    assert led.balance("customer", "SHARED") == 100 * (60 - 45)
    assert keys <= 10  # each shared key posted at most once across 8 processes
    assert sum(ok for ok, _ in results) + keys == 45
    assert led.verify() == []
    eng.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_mid_batch_leaves_no_partial_posting(backend, tmp_path, request):
    url = f"sqlite:///{tmp_path}/ops.sqlite" if backend == "sqlite" else request.getfixturevalue("pg_url")
    eng = migrated_engine(url)
    led = Ledger(eng)
    led.fund("fund", "CAMP", 10_000_000, unit="point")
    child = textwrap.dedent(f"""
        import sys
        from kequn.opstore import engine_for
        from kequn.rewards.ledger import Ledger
        led = Ledger(engine_for({url!r}))
        awards = [(f"M{{i}}", 10) for i in range(200000)]
        def progress(i):
            print(i, flush=True)
        led.award_batch("big-batch", "CAMP", awards, progress=progress)
        print("DONE", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert first.strip().isdigit(), first  # the batch is under way
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    with eng.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM point_txn WHERE idempotency_key = 'big-batch'")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM point_lot")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM point_account WHERE kind = 'member'")).scalar() == 0
    assert led.balance("campaign", "CAMP", unit="point") == 10_000_000
    assert led.verify() == []
    # the retry after the crash posts the whole batch once
    small = Ledger(eng).award_batch("big-batch-2", "CAMP", [("M1", 10), ("M2", 20)])
    assert small.details == {"awards": 2, "points": 30}
    eng.dispose()
