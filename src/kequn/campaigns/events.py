"""Touchpoint events in (``POST /api/events``) and the in-process trigger evaluator.

Ingestion: a batch is validated against the touchpoint catalogue as a whole — every problem is listed
(422) and nothing is stored when there is one; valid events are inserted with ON CONFLICT DO NOTHING on
the event id, so a repeated event (a client retry) is counted as a duplicate and never fires twice.

Triggers: the accepted events go on a queue; a background thread matches them against live event-triggered
campaigns ("logs in after 30 dormant days"), applies the contact policy (the pure reference function, per
contact) and queues the send in the outbox. The campaign's segment (approved only) limits who can fire,
and its pilot branches and score filters apply as at launch: a customer they exclude gets nothing and a
``trigger_fire`` row records why. ``trigger_fire`` keeps received_at and fired_at, so trigger latency is
measured from the data.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kequn.campaigns import tables as T
from kequn.domain.campaigns import (
    CampaignSpec,
    ContactFacts,
    PolicyConfig,
    arm_of,
    choose,
    next_allowed,
)
from kequn.errors import ValidationError

MAX_BATCH = 20_000
FIELDS = ("event_id", "customer_id", "touchpoint_id", "ts")


def touchpoints(wh: Any) -> dict[str, str]:
    """touchpoint id -> channel, from the warehouse catalogue."""
    t = wh.table("touchpoint").select("touchpoint_id", "channel").to_pyarrow()
    return dict(zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True))


def validate(batch: Any, catalogue: Mapping[str, str], *, tz: str = "Asia/Shanghai",
             now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Clean events (ts as aware UTC) or ``ValidationError`` whose ``details`` list every problem."""
    if isinstance(batch, dict) and "events" in batch:
        batch = batch["events"]
    if not isinstance(batch, list):
        raise ValidationError("body must be a JSON list of events or {\"events\": [...]}")
    if len(batch) > MAX_BATCH:
        raise ValidationError(f"batch of {len(batch)} events is over the limit of {MAX_BATCH}: split it")
    zone = ZoneInfo(tz)
    latest = (now or dt.datetime.now(dt.UTC)) + dt.timedelta(minutes=5)
    problems: list[str] = []
    out = []
    seen: set[str] = set()
    for i, e in enumerate(batch):
        if not isinstance(e, dict):
            problems.append(f"events[{i}]: not an object")
            continue
        bad = [f"events[{i}].{f}: missing or not a non-empty string" for f in FIELDS
               if not isinstance(e.get(f), str) or not e.get(f) or len(e[f]) > 128]
        extra = set(e) - {*FIELDS, "channel", "session_id"}
        bad += [f"events[{i}].{k}: unknown field" for k in sorted(extra)]
        if bad:
            problems += bad
            continue
        tp = catalogue.get(e["touchpoint_id"])
        if tp is None:
            problems.append(f"events[{i}].touchpoint_id: {e['touchpoint_id']!r} is not in the touchpoint catalogue")
        elif e.get("channel") not in (None, tp):
            problems.append(f"events[{i}].channel: {e['channel']!r} but touchpoint {e['touchpoint_id']} is {tp!r}")
        try:
            ts = dt.datetime.fromisoformat(e["ts"])
            ts = (ts.replace(tzinfo=zone) if ts.tzinfo is None else ts).astimezone(dt.UTC)
            if ts > latest:
                problems.append(f"events[{i}].ts: {e['ts']} is in the future")
        except ValueError:
            problems.append(f"events[{i}].ts: {e['ts']!r} is not an ISO time (YYYY-MM-DDTHH:MM:SS)")
            continue
        if e["event_id"] in seen:
            continue  # a repeat inside the batch is a duplicate, not an error
        seen.add(e["event_id"])
        out.append({"event_id": e["event_id"], "customer_id": e["customer_id"], "touchpoint_id": e["touchpoint_id"],
                    "channel": tp or "", "ts": ts})
    if problems:
        raise ValidationError(f"{len(problems)} problem(s) in the event batch; first: {problems[0]}",
                              details=[{"where": p.split(":", 1)[0], "message": p.split(": ", 1)[-1]} for p in problems])
    return out


def _insert(engine: Any) -> Any:
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(T.touch_event).on_conflict_do_nothing(index_elements=["event_id"]).returning(
            T.touch_event.c.event_id)
    from sqlalchemy.dialects.sqlite import insert

    return insert(T.touch_event).on_conflict_do_nothing(index_elements=["event_id"]).returning(T.touch_event.c.event_id)


def ingest(engine: Any, events: list[dict[str, Any]], *, received_at: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Store events once each; returns the newly accepted ones (duplicates dropped)."""
    if not events:
        return []
    now = received_at or dt.datetime.now(dt.UTC)
    rows = [{**e, "received_at": now} for e in events]
    with engine.begin() as conn:
        new = {r[0] for r in conn.execute(_insert(engine), rows)}
    return [r for r in rows if r["event_id"] in new]


class TriggerEvaluator:
    """Background thread: accepted events → live event-triggered campaigns → policy → outbox."""

    def __init__(self, engine: Any, wh_run: Any = None, *, cfg: PolicyConfig | None = None,
                 refresh_s: float = 5.0) -> None:
        self.engine = engine
        self.wh_run = wh_run  # callable(fn(wh)) giving locked warehouse access, or None
        self.cfg = cfg or PolicyConfig()
        self.refresh_s = refresh_s
        self.q: queue.Queue[list[dict[str, Any]] | None] = queue.Queue()
        self._live: list[tuple[CampaignSpec, int]] = []
        self._loaded_at = 0.0
        self._members: dict[str, tuple[float, frozenset[str] | None]] = {}
        self.members_refresh_s = 300.0
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    def submit(self, events: list[dict[str, Any]]) -> None:
        if events:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="kequn-triggers", daemon=True)
                self._thread.start()
            self.q.put(events)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every submitted event has been evaluated (tests, shutdown)."""
        done = threading.Event()
        self.q.put([{"__flush__": done}])
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="kequn-triggers", daemon=True)
            self._thread.start()
        done.wait(timeout)

    #: most events evaluated together: the batches that queued up while the previous evaluation ran are
    #: taken at once (the warehouse and ops-store look-ups cost about the same for 50 customers as for 5,000,
    #: so under load the evaluator catches up instead of falling further behind)
    max_drain = 20_000

    def _take(self) -> list[dict[str, Any]] | None:
        """The next batch merged with every batch already waiting (up to ``max_drain`` events); None = stop."""
        first = self.q.get()
        if first is None:
            return None
        events = list(first)
        while len(events) < self.max_drain:
            try:
                more = self.q.get_nowait()
            except queue.Empty:
                break
            if more is None:  # stop after this round
                self.q.put(None)
                break
            events.extend(more)
        return events

    def _loop(self) -> None:
        while True:
            events = self._take()
            if events is None:
                return
            marks = [e["__flush__"] for e in events if "__flush__" in e]
            real = [e for e in events if "__flush__" not in e]
            try:
                if real:
                    self.evaluate(real)
            except Exception as exc:  # noqa: BLE001 - keep the thread alive; the error is kept for /health
                self.errors.append(f"{type(exc).__name__}: {exc}")
            for m in marks:
                m.set()

    def live(self) -> list[tuple[CampaignSpec, int]]:
        import time

        from kequn.campaigns.service import parse_spec

        if time.monotonic() - self._loaded_at > self.refresh_s:
            from kequn.opstore import approvals

            with self.engine.connect() as conn:
                ids = [r[0] for r in conn.execute(sa.select(T.campaign.c.campaign_id).where(T.campaign.c.status == "live"))]
            live = []
            for cid in ids:
                req = approvals.current(self.engine, "campaign", cid)
                if req is not None:
                    spec = parse_spec(req.payload, cid)
                    if spec.schedule.kind == "event":
                        live.append((spec, req.version))
            self._live, self._loaded_at = live, time.monotonic()
        return self._live

    def evaluate(self, events: list[dict[str, Any]]) -> int:
        fired = 0
        for spec, version in self.live():
            sch = spec.schedule
            hits = [e for e in events if e["touchpoint_id"] == sch.touchpoint_id]  # type: ignore[union-attr]
            members = self.members(spec) if hits else None
            if members is not None:
                hits = [e for e in hits if e["customer_id"] in members]
            hits = self._dormant(hits, sch.dormant_days)  # type: ignore[union-attr]
            hits = self._audience_filters(spec, hits)
            if hits:
                fired += self._fire(spec, version, hits)
        return fired

    def _audience_filters(self, spec: CampaignSpec, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The audience's pilot branches and score filters (as at launch, :mod:`kequn.campaigns.audience`):
        a refused customer gets nothing and a ``trigger_fire`` row says why (outside_pilot, no_score,
        below_score, above_score). Without a warehouse nothing can be checked, so everyone is refused."""
        a = spec.audience
        if not hits or (not a.branches and not a.scores):
            return hits
        customers = sorted({e["customer_id"] for e in hits})
        if self.wh_run is None:
            refused = {c: "outside_pilot" if a.branches else "no_score" for c in customers}
        else:
            from kequn.campaigns.audience import trigger_refusals

            day = dt.datetime.now(ZoneInfo(self.cfg.timezone)).date()
            refused = self.wh_run(lambda wh: trigger_refusals(wh, spec, customers, day))
        if refused:
            now = dt.datetime.now(dt.UTC)
            rows = [{"campaign_id": spec.campaign_id, "event_id": e["event_id"], "customer_id": e["customer_id"],
                     "received_at": e["received_at"], "fired_at": now, "outcome": refused[e["customer_id"]]}
                    for e in hits if e["customer_id"] in refused]
            with self.engine.begin() as conn:
                conn.execute(T.trigger_fire.insert(), rows)
        return [e for e in hits if e["customer_id"] not in refused]

    def members(self, spec: CampaignSpec) -> frozenset[str] | None:
        """The campaign's segment members (cached for ``members_refresh_s``); None = no segment to check.
        A segment that is not approved admits no one."""
        import time

        sid = spec.audience.segment_id
        if sid is None:
            return None
        at, cached = self._members.get(spec.campaign_id, (0.0, None))
        if cached is not None and time.monotonic() - at < self.members_refresh_s:
            return cached
        from kequn.segments import service as seg

        if self.wh_run is None or not seg.usable(sid, self.engine):
            found: frozenset[str] = frozenset()
        else:
            definition = seg.approved(self.engine, sid)

            def q(wh: Any) -> frozenset[str]:
                t = seg.evaluate(wh, definition, dt.date.today()).to_pyarrow()
                return frozenset(t.column(0).to_pylist())

            found = self.wh_run(q)
        self._members[spec.campaign_id] = (time.monotonic(), found)
        return found

    def _dormant(self, hits: list[dict[str, Any]], days: int) -> list[dict[str, Any]]:
        """Keep events whose previous same-touchpoint event (ops store, and the warehouse history when
        available) is older than ``days`` — or absent."""
        if days <= 0:
            return hits
        out = []
        with self.engine.connect() as conn:
            for e in hits:
                prev = conn.execute(sa.select(sa.func.max(T.touch_event.c.ts)).where(
                    T.touch_event.c.customer_id == e["customer_id"], T.touch_event.c.touchpoint_id == e["touchpoint_id"],
                    T.touch_event.c.ts < e["ts"])).scalar()
                prev = _aware(prev)
                hist = self._history(e)
                last = max([p for p in (prev, hist) if p is not None], default=None)
                if last is None or e["ts"] - last >= dt.timedelta(days=days):
                    out.append(e)
        return out

    def _history(self, e: dict[str, Any]) -> dt.datetime | None:
        if self.wh_run is None:
            return None
        zone = ZoneInfo(self.cfg.timezone)
        local = e["ts"].astimezone(zone).replace(tzinfo=None)

        def q(wh: Any) -> Any:
            t = wh.table("event")
            return t.filter(t.customer_id == e["customer_id"], t.touchpoint_id == e["touchpoint_id"],
                            t.ts < local).ts.max().execute()

        v = self.wh_run(q)
        return None if v is None or str(v) == "NaT" else _to_utc(v, zone)

    def _facts(self, customers: list[str], now: dt.datetime) -> dict[str, ContactFacts]:
        consent: dict[str, dict[str, bool]] = {c: {} for c in customers}
        no_pers: set[str] = set()
        if self.wh_run is not None:
            from kequn.campaigns.audience import only_ids
            from kequn.campaigns.policy import consent_flags

            def q(wh: Any) -> Any:
                f = consent_flags(wh, now, self.cfg)
                return only_ids(f, customers).to_pyarrow().to_pylist()

            for r in self.wh_run(q):
                consent[r["customer_id"]] = {k[2:]: bool(v) for k, v in r.items() if k.startswith("c_") and v is not None}
                if r["no_pers"]:
                    no_pers.add(r["customer_id"])
        since = now - dt.timedelta(days=self.cfg.window_days)
        with self.engine.connect() as conn:
            opt = conn.execute(sa.select(T.opt_out.c.customer_id, T.opt_out.c.channel)
                               .where(T.opt_out.c.customer_id.in_(customers))).all()
            rec = conn.execute(sa.select(T.outbox.c.customer_id, T.outbox.c.channel, sa.func.count()).where(
                T.outbox.c.customer_id.in_(customers), T.outbox.c.created_at >= since, T.outbox.c.transactional == 0,
                T.outbox.c.status.in_(("pending", "sending", "sent", "delivered")))
                .group_by(T.outbox.c.customer_id, T.outbox.c.channel)).all()
        opted: dict[str, set[str]] = {}
        for c, ch in opt:
            opted.setdefault(c, set()).add(ch)
        recent: dict[str, dict[str, int]] = {}
        for c, ch, n in rec:
            recent.setdefault(c, {})[ch] = int(n)
        return {c: ContactFacts(c, consent.get(c, {}), frozenset(opted.get(c, ())), c in no_pers, recent.get(c, {}))
                for c in customers}

    def _fire(self, spec: CampaignSpec, version: int, hits: list[dict[str, Any]]) -> int:
        now = dt.datetime.now(dt.UTC)
        run_id = f"{spec.campaign_id}-v{version}-evt"
        facts = self._facts(sorted({e["customer_id"] for e in hits}), now)
        channels = [c.channel for c in spec.channels]
        outbox: list[dict[str, Any]] = []
        suppressed: list[dict[str, Any]] = []
        assigned: dict[str, dict[str, Any]] = {}
        fires: list[dict[str, Any]] = []
        for e in hits:
            cust = e["customer_id"]
            arm = arm_of(cust, spec.campaign_id, spec.control_share, spec.holdout_share)
            ch, reason = choose(spec.campaign_id, cust, channels, now, facts[cust], self.cfg,
                                transactional=spec.transactional, personalised=spec.personalised)
            outcome = arm if reason is None else reason
            if reason is None and arm == "treatment":
                outcome = "queued"
                # a second event of the same customer in this round sees this contact under the caps
                f = facts[cust]
                facts[cust] = replace(f, recent={**f.recent, ch: f.recent.get(ch, 0) + 1})
                outbox.append({"send_key": f"{spec.campaign_id}|evt|{e['event_id']}", "run_id": run_id,
                               "campaign_id": spec.campaign_id, "customer_id": cust, "channel": ch,
                               "transactional": int(spec.transactional), "status": "pending", "attempts": 0,
                               "not_before": next_allowed(now, self.cfg), "created_at": now})
            elif reason is not None and arm == "treatment":
                suppressed.append({"run_id": run_id, "campaign_id": spec.campaign_id, "customer_id": cust,
                                   "channel": channels[0], "reason": reason, "at": now})
            assigned.setdefault(cust, {"run_id": run_id, "campaign_id": spec.campaign_id, "customer_id": cust,
                                       "arm": arm, "branch_id": None, "eligible": int(reason is None)})
            fires.append({"campaign_id": spec.campaign_id, "event_id": e["event_id"], "customer_id": cust,
                          "received_at": e["received_at"], "outcome": outcome})
        # one transaction, one statement per table (executemany): the evaluator keeps up with thousands of
        # events a second instead of paying four round trips per event
        with self.engine.begin() as conn:
            if conn.execute(sa.select(T.campaign_run.c.run_id).where(T.campaign_run.c.run_id == run_id)).first() is None:
                conn.execute(T.campaign_run.insert().values(run_id=run_id, campaign_id=spec.campaign_id, version=version,
                                                            started_at=now, as_of=now.date(), counts="{}"))
            custs = list(assigned)
            known: set[str] = set()
            for i in range(0, len(custs), 500):
                known.update(r[0] for r in conn.execute(sa.select(T.assignment.c.customer_id).where(
                    T.assignment.c.run_id == run_id, T.assignment.c.customer_id.in_(custs[i:i + 500]))))
            new = [a for c, a in assigned.items() if c not in known]
            for table, rows in ((T.outbox, outbox), (T.suppression, suppressed), (T.assignment, new)):
                if rows:
                    conn.execute(table.insert(), rows)
            fired_at = dt.datetime.now(dt.UTC)
            conn.execute(T.trigger_fire.insert(), [{**f, "fired_at": fired_at} for f in fires])
        return len(fires)


def _aware(v: Any) -> dt.datetime | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v)
    return v if v.tzinfo else v.replace(tzinfo=dt.UTC)


def _to_utc(v: Any, zone: ZoneInfo) -> dt.datetime:
    if not isinstance(v, dt.datetime):
        v = v.to_pydatetime()
    return (v.replace(tzinfo=zone) if v.tzinfo is None else v).astimezone(dt.UTC)


def latency(engine: Any, campaign_id: str | None = None) -> dict[str, float]:
    """Trigger latency from the data: fired_at − received_at (seconds): n, mean, max."""
    q = sa.select(T.trigger_fire.c.received_at, T.trigger_fire.c.fired_at)
    if campaign_id:
        q = q.where(T.trigger_fire.c.campaign_id == campaign_id)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    d = [(_aware(f) - _aware(r)).total_seconds() for r, f in rows]  # type: ignore[operator]
    return {"n": len(d), "mean_s": sum(d) / len(d) if d else 0.0, "max_s": max(d) if d else 0.0}


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)
