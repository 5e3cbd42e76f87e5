"""The outbox worker: claim due rows, re-check the policy at the moment of sending, send through the
channel adapters, record every attempt, retry with exponential backoff, read delivery receipts.

Nothing is sent twice, even when the worker is killed (SIGKILL) at any point:
- a row is claimed (status ``sending``) and committed BEFORE the channel is called;
- after the call the outcome is committed; a crash in between leaves the row ``sending``;
- on start, :func:`recover` asks the channel whether it holds each ``sending`` row's send key
  (``lookup``): if so the row is marked sent, otherwise it is sent again with the SAME key, which an
  idempotent provider drops anyway. A channel without ``lookup`` and without ``idempotent`` is never
  re-sent automatically (the row goes to ``dead`` for a person to check).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kequn.campaigns import tables as T
from kequn.channels.base import Channel, Message, SendResult
from kequn.domain.campaigns import CampaignSpec, PolicyConfig, in_quiet_hours, next_allowed, render

MAX_ATTEMPTS = 5
BACKOFF_S = 30.0  # 30 s, 60 s, 120 s, … between attempts


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def backoff(attempts: int, base: float = BACKOFF_S) -> dt.timedelta:
    return dt.timedelta(seconds=base * 2 ** max(0, attempts - 1))


@dataclass
class SendStats:
    claimed: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    deferred: int = 0
    suppressed: int = 0
    recovered: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Sender:
    def __init__(self, engine: Any, channels: Mapping[str, Channel], directory: Any, *,
                 cfg: PolicyConfig | None = None, clock: Callable[[], dt.datetime] = _now,
                 worker: str | None = None, backoff_s: float = BACKOFF_S) -> None:
        self.engine = engine
        self.channels = dict(channels)
        self.directory = directory
        self.cfg = cfg or PolicyConfig()
        self.clock = clock
        self.worker = worker or f"w-{uuid.uuid4().hex[:10]}"
        self.backoff_s = backoff_s
        self._specs: dict[str, CampaignSpec] = {}
        self.stats = SendStats()

    # ---------------------------------------------------------------------------------- helpers
    def _spec(self, campaign_id: str) -> CampaignSpec:
        if campaign_id not in self._specs:
            from kequn.campaigns.service import parse_spec

            with self.engine.connect() as conn:
                text = conn.execute(sa.select(T.campaign.c.spec).where(T.campaign.c.campaign_id == campaign_id)).scalar_one()
            self._specs[campaign_id] = parse_spec(json.loads(text), f"campaign {campaign_id}")
        return self._specs[campaign_id]

    def _message(self, row: Any, who: dict[str, Any], day: dt.date) -> Message:
        from kequn.campaigns.directory import surname_title

        spec = self._spec(row.campaign_id)
        template = next(c.template for c in spec.channels if c.channel == row.channel)
        values = {"surname_title": surname_title(who.get("name"), who.get("gender")), "offer_name": spec.offer.name,
                  "branch_name": who.get("branch_name", ""), "valid_until": (day + dt.timedelta(days=spec.window_days)).isoformat()}
        address = who.get("phone") if row.channel in ("sms", "call") else who.get("customer_id")
        return Message(row.send_key, row.campaign_id, row.customer_id, row.channel, render(template, values), address,
                       {"offer": spec.offer.code, "date": day.isoformat(), "at": self.clock().isoformat(),
                        "branch_id": who.get("branch_id"),
                        "sla_days": spec.lead_sla_working_days})

    # ---------------------------------------------------------------------------------- recovery
    def recover(self) -> int:
        """Rows left ``sending`` by a worker that died: settle them with the channel before sending more."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(T.outbox.c.id, T.outbox.c.send_key, T.outbox.c.channel)
                                .where(T.outbox.c.status == "sending", T.outbox.c.claimed_by != self.worker)).all()
        for r in rows:
            ch = self.channels.get(r.channel)
            held = ch.lookup(r.send_key) if ch is not None and ch.capabilities.lookup else None
            if held is not None:
                self._finish(r.id, held)
            elif ch is not None and (ch.capabilities.lookup or ch.capabilities.idempotent):
                self._set(r.id, status="pending", claimed_by=None)
            else:
                self._set(r.id, status="dead", last_error="interrupted; channel cannot confirm: check by hand")
            self.stats.recovered += 1
        return len(rows)

    # ---------------------------------------------------------------------------------- the loop
    def claim(self, limit: int) -> list[Any]:
        now = self.clock()
        with self.engine.begin() as conn:
            ids = [r.id for r in conn.execute(
                sa.select(T.outbox.c.id).where(T.outbox.c.status == "pending", T.outbox.c.not_before <= now,
                                               T.outbox.c.channel.in_(list(self.channels)))
                .order_by(T.outbox.c.id).limit(limit).with_for_update(skip_locked=True)).all()]
            if not ids:
                return []
            conn.execute(T.outbox.update().where(T.outbox.c.id.in_(ids), T.outbox.c.status == "pending")
                         .values(status="sending", claimed_by=self.worker, attempts=T.outbox.c.attempts + 1))
            rows = conn.execute(sa.select(T.outbox).where(T.outbox.c.id.in_(ids),
                                                          T.outbox.c.claimed_by == self.worker,
                                                          T.outbox.c.status == "sending")).all()
        self.stats.claimed += len(rows)
        return rows

    def run(self, *, batch: int = 200, max_batches: int | None = None, throttle_s: float = 0.0) -> SendStats:
        """Send everything due; returns the counts."""
        self.recover()
        n = 0
        while max_batches is None or n < max_batches:
            rows = self.claim(batch)
            if not rows:
                break
            self._send_rows(rows, throttle_s)
            n += 1
        self.poll_receipts()
        return self.stats

    def _send_rows(self, rows: list[Any], throttle_s: float) -> None:
        now = self.clock()
        opted = self._opted_out({r.customer_id for r in rows})
        ready = []
        for r in rows:
            if not r.transactional and (r.customer_id, r.channel) in opted:
                self._suppress(r, "opted_out", now)
            elif not r.transactional and in_quiet_hours(now, self.cfg):
                self._set(r.id, status="pending", claimed_by=None, not_before=next_allowed(now, self.cfg),
                          attempts=r.attempts - 1)
                self.stats.deferred += 1
            else:
                ready.append(r)
        who = self.directory.customers([r.customer_id for r in ready])
        by_channel: dict[str, list[Message]] = {}
        for r in ready:
            by_channel.setdefault(r.channel, []).append(self._message(r, {**who.get(r.customer_id, {}),
                                                                          "customer_id": r.customer_id}, now.date()))
        attempts = {r.send_key: (r.id, r.attempts) for r in ready}
        for channel, msgs in by_channel.items():
            results = self.channels[channel].send(msgs)
            now = self.clock()
            with self.engine.begin() as conn:  # all outcomes of the batch in one commit
                conn.execute(T.send_attempt.insert(), [
                    {"send_key": res.send_key, "attempt": attempts[res.send_key][1], "at": now,
                     "outcome": "ok" if res.ok else "error", "detail": res.error} for res in results])
                for res in results:
                    rid, att = attempts[res.send_key]
                    self._after_send(conn, rid, res, att, now)
            if throttle_s:
                time.sleep(throttle_s)

    def _opted_out(self, customers: set[str]) -> set[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(T.opt_out.c.customer_id, T.opt_out.c.channel)
                                .where(T.opt_out.c.customer_id.in_(sorted(customers)))).all()
        out = set()
        for c, ch in rows:
            for name in (self.channels if ch == "any" else (ch,)):
                out.add((c, name))
        return out

    def _after_send(self, conn: Any, row_id: int, res: SendResult, attempts: int, now: dt.datetime) -> None:
        if res.ok:
            self._finish(row_id, res, conn=conn, now=now)
        elif res.retryable and attempts < MAX_ATTEMPTS:
            self._set(row_id, conn=conn, status="pending", claimed_by=None, last_error=res.error,
                      not_before=now + backoff(attempts, self.backoff_s))
            self.stats.retried += 1
        else:
            self._set(row_id, conn=conn, status="dead" if res.retryable else "failed", last_error=res.error)
            self.stats.failed += 1

    def _finish(self, row_id: int, res: SendResult, *, conn: Any = None, now: dt.datetime | None = None) -> None:
        now = now or self.clock()
        values: dict[str, Any] = {"status": "sent", "sent_at": now, "provider_id": res.provider_id}
        if res.delivered is True:
            values.update(status="delivered", delivered_at=now)
            self.stats.delivered += 1
        elif res.delivered is False:
            values.update(status="failed", last_error="not delivered")
        self._set(row_id, conn=conn, **values)
        self.stats.sent += 1

    def _suppress(self, r: Any, reason: str, now: dt.datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(T.outbox.update().where(T.outbox.c.id == r.id).values(status="suppressed"))
            conn.execute(T.suppression.insert().values(run_id=r.run_id, campaign_id=r.campaign_id,
                                                       customer_id=r.customer_id, channel=r.channel, reason=reason, at=now))
        self.stats.suppressed += 1

    def _set(self, row_id: int, *, conn: Any = None, **values: Any) -> None:
        if conn is not None:
            conn.execute(T.outbox.update().where(T.outbox.c.id == row_id).values(**values))
            return
        with self.engine.begin() as c:
            c.execute(T.outbox.update().where(T.outbox.c.id == row_id).values(**values))

    def poll_receipts(self) -> int:
        """Apply delivery receipts from every channel that reports them."""
        n = 0
        for ch in self.channels.values():
            if not ch.capabilities.receipts:
                continue
            for rc in ch.receipts():
                with self.engine.begin() as conn:
                    conn.execute(T.outbox.update().where(T.outbox.c.send_key == rc.send_key,
                                                         T.outbox.c.status == "sent")
                                 .values(status="delivered" if rc.delivered else "failed",
                                         delivered_at=rc.at if rc.delivered else None,
                                         last_error=None if rc.delivered else (rc.detail or "not delivered")))
                n += 1
                self.stats.delivered += int(rc.delivered)
        return n


def record_opt_out(engine: Any, customer_id: str, channel: str, *, source: str, campaign_id: str | None = None,
                   now: dt.datetime | None = None) -> None:
    """A refusal ("T" reply, app switch, call-centre request): effective before the next send."""
    from kequn.opstore import audit

    with engine.begin() as conn:
        conn.execute(T.opt_out.insert().values(customer_id=customer_id, channel=channel, campaign_id=campaign_id,
                                               source=source, at=now or _now()))
    audit.record(engine, "system", "contact.opt_out", f"customer:{customer_id}", details={"channel": channel,
                                                                                          "source": source})
