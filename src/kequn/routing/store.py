"""The decision log, the review queue and branch leads in the ops store (migration 0008_loan_routing).

Every routed decision is stored with its inputs, the ladder and model versions and its reason codes
(PIPL Art. 24; COMPLIANCE.md rule 7). The database refuses UPDATE/DELETE on ``loan_decision``; a human
review is a separate row, and its outcome goes to the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from kequn.domain.loans import Application, Decision
from kequn.errors import ConflictError, NotFoundError, PermissionDenied, StoreError, ValidationError
from kequn.opstore import audit

metadata = sa.MetaData()

loan_decision = sa.Table(
    "loan_decision", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("application_id", sa.String), sa.Column("customer_id", sa.String),
    sa.Column("branch_id", sa.String), sa.Column("applied_on", sa.Date),
    sa.Column("ladder_id", sa.String), sa.Column("ladder_version", sa.Integer),
    sa.Column("model_version", sa.String), sa.Column("arm", sa.String), sa.Column("outcome", sa.String),
    sa.Column("risk_grade", sa.String), sa.Column("product_id", sa.String),
    sa.Column("apr", sa.Numeric(7, 4)), sa.Column("limit_amount", sa.Numeric(18, 2)),
    sa.Column("amount", sa.Numeric(18, 2)), sa.Column("term_months", sa.Integer),
    sa.Column("reason_codes", sa.Text), sa.Column("application", sa.Text), sa.Column("trail", sa.LargeBinary),
    sa.Column("input_hash", sa.String),
)

loan_review = sa.Table(
    "loan_review", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("decision_id", sa.BigInteger), sa.Column("requested_at", sa.DateTime(timezone=True)),
    sa.Column("requested_by", sa.String), sa.Column("request_reason", sa.Text),
    sa.Column("status", sa.String), sa.Column("reviewer", sa.String),
    sa.Column("reviewed_at", sa.DateTime(timezone=True)), sa.Column("review_note", sa.Text),
)

loan_lead = sa.Table(
    "loan_lead", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("decision_id", sa.BigInteger), sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("branch_id", sa.String), sa.Column("customer_id", sa.String),
    sa.Column("product_id", sa.String), sa.Column("status", sa.String),
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def application_json(app: Application) -> str:
    return app.model_dump_json()


def pack_decision(decision: Decision) -> bytes:
    """The full decision and trail as stored: zlib-compressed compact JSON (~4 KB instead of ~50 KB for a
    30-product ladder, which matters for the commit and for a year of decisions)."""
    import zlib

    text = json.dumps(decision.to_record(), ensure_ascii=False, separators=(",", ":"))
    return zlib.compress(text.encode("utf-8"), 1)


def unpack_decision(blob: bytes) -> Decision:
    import zlib

    return Decision.from_record(json.loads(zlib.decompress(bytes(blob)).decode("utf-8")))


def input_hash(app_json: str, decision: Decision) -> str:
    key = f"{app_json}|{decision.ladder_id}|{decision.ladder_version}|{decision.model_version}"
    return hashlib.sha256(key.encode()).hexdigest()


def decision_row(app: Application, decision: Decision, arm: str = "champion") -> dict[str, Any]:
    """The ``loan_decision`` row of one decision (inputs, versions, reason codes, full trail)."""
    app_json = application_json(app)
    c = decision.chosen
    return dict(
        decided_at=_now(), application_id=app.application_id, customer_id=app.customer_id,
        branch_id=app.branch_id, applied_on=app.applied_on, ladder_id=decision.ladder_id,
        ladder_version=decision.ladder_version, model_version=decision.model_version, arm=arm,
        outcome=decision.outcome, risk_grade=decision.risk_grade,
        product_id=c.product_id if c else None, apr=c.apr if c else None, limit_amount=c.limit if c else None,
        amount=c.amount if c else None, term_months=c.term_months if c else None,
        reason_codes=json.dumps(list(decision.reason_codes)),
        application=app_json, trail=pack_decision(decision),
        input_hash=input_hash(app_json, decision),
    )


def log_decision(engine: Engine | Connection, app: Application, decision: Decision, *,
                 arm: str = "champion") -> int:
    """Store one decision (and its branch lead when the chosen product cannot close online)."""
    row = decision_row(app, decision, arm)
    if isinstance(engine, Connection):
        return _insert(engine, row)
    with engine.begin() as conn:
        return _insert(conn, row)


def _insert(conn: Connection, row: dict[str, Any]) -> int:
    return _insert_many(conn, [row])[0]


def _insert_many(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert decisions in one statement (ids returned in order) and a branch lead for each ``lead``."""
    stmt = loan_decision.insert().returning(loan_decision.c.id, sort_by_parameter_order=True)
    ids = [int(r[0]) for r in conn.execute(stmt, rows)]
    leads = [dict(decision_id=i, created_at=row["decided_at"], branch_id=row["branch_id"],
                  customer_id=row["customer_id"], product_id=row["product_id"], status="open")
             for row, i in zip(rows, ids, strict=True) if row["outcome"] == "lead"]
    if leads:
        conn.execute(loan_lead.insert(), leads)
    return ids


class DecisionLogError(StoreError):
    """A decision could not be stored in the decision log (its whole batch was rolled back)."""


#: group commit defaults: a batch is committed when it holds ``MAX_BATCH`` decisions or when its oldest
#: decision has waited ``MAX_WAIT_SECONDS`` (time spent queued behind the previous commit counts)
MAX_BATCH = 256
MAX_WAIT_SECONDS = 0.002
#: the interpreter's thread switch interval while a writer runs (Python's default is 5 ms): the writer
#: thread needs the GIL back after each fsync and database round trip, and in a busy server the request
#: thread would otherwise keep it up to 5 ms each time (measured: median batch commit 3.0 → 0.9 ms with a
#: CPU-busy thread beside it)
SWITCH_INTERVAL_SECONDS = 0.001


class _Item:
    __slots__ = ("row", "future", "queued_at")

    def __init__(self, row: dict[str, Any], future: Any, queued_at: float) -> None:
        self.row, self.future, self.queued_at = row, future, queued_at


class DecisionWriter:
    """Group commit for the decision log.

    Decisions submitted from any thread (request handlers) are written by one writer thread per process in
    batches: one transaction and one durable commit per batch. A caller's future resolves to its
    decision's id only after the batch holding it is committed, so no answered decision can be lost in a
    crash. A batch is committed when it holds ``max_batch`` decisions or once its oldest decision has
    waited ``max_wait`` seconds (0: commit whatever is queued as soon as the writer is free). A batch that
    fails is rolled back whole (decisions and branch leads) and every caller in it gets a
    :class:`DecisionLogError` naming the cause; the writer carries on with the next batch.

    The writer lowers the process's thread switch interval to ``switch_interval`` (1 ms) so its thread gets
    the GIL back promptly after each commit in a CPU-busy server (``None`` leaves it alone).

    On SQLite files, writer threads of several processes (uvicorn workers) take turns through an ``flock``
    on ``<database>.writer.lock`` instead of SQLite's busy handler, which sleeps in steps of 1–100 ms.

    :meth:`close` stops taking decisions, commits everything already queued and stops the thread.
    """

    def __init__(self, engine: Engine, max_batch: int = MAX_BATCH, max_wait: float = MAX_WAIT_SECONDS,
                 switch_interval: float | None = SWITCH_INTERVAL_SECONDS) -> None:
        import queue
        import sys
        import threading

        if max_batch < 1 or max_wait < 0:
            raise ValueError(f"max_batch must be ≥ 1 and max_wait ≥ 0, got {max_batch}, {max_wait}")
        if switch_interval is not None and sys.getswitchinterval() > switch_interval:
            sys.setswitchinterval(switch_interval)  # process-wide; only ever lowered (None: leave it)
        self.engine, self.max_batch, self.max_wait = engine, max_batch, max_wait
        self.batches = self.committed = 0  # counters (tests, bench)
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._lock_path = _sqlite_lock_path(engine)
        self._conn: Connection | None = None  # the writer thread's own connection
        self._thread = threading.Thread(target=self._run, name="kequn-decision-writer", daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, app: Application, decision: Decision, *, arm: str = "champion") -> Any:
        """Queue one decision; returns a ``concurrent.futures.Future`` of its id, set once committed (or
        failed with :class:`DecisionLogError`)."""
        return self.submit_row(decision_row(app, decision, arm))

    def submit_row(self, row: dict[str, Any]) -> Any:
        import time
        from concurrent.futures import Future

        fut: Future[int] = Future()
        with self._lock:
            if self._closed:
                raise DecisionLogError("the decision log writer is closed (the server is shutting down); "
                                       "the decision was not stored")
            self._queue.put(_Item(row, fut, time.monotonic()))
        return fut

    def write(self, app: Application, decision: Decision, *, arm: str = "champion", timeout: float = 30) -> int:
        """Queue one decision and wait until it is committed; returns its id."""
        return int(self.submit(app, decision, arm=arm).result(timeout=timeout))

    def close(self, timeout: float = 30) -> None:
        """Refuse new decisions, commit the queued ones, stop the writer thread (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)
        self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            raise DecisionLogError(f"the decision log writer did not finish its queued batches in {timeout} s")

    def __enter__(self) -> DecisionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ the writer thread

    def _run(self) -> None:
        import os

        try:
            fd = _open_lock(self._lock_path)
        except OSError:  # e.g. a read-only folder: SQLite's own busy handler still serialises writers
            fd = -1
        try:
            self._loop(_Turn(fd))
        finally:
            self._drop_connection()
            if fd >= 0:
                os.close(fd)
            self._fail_leftovers()

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001, S110 - a broken connection is discarded by the pool anyway
                pass

    def _fail_leftovers(self) -> None:
        """After the thread stops: refuse new decisions and fail any still queued (none after a clean close)."""
        import queue

        with self._lock:
            self._closed = True
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                _resolve(item.future, exception=DecisionLogError(
                    "the decision log writer stopped before storing this decision"))

    def _loop(self, turn: _Turn) -> None:
        import queue
        import time

        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = first.queued_at + self.max_wait
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        nxt = self._queue.get(timeout=remaining)
                    except queue.Empty:
                        break
                if nxt is None:  # closing: commit what was queued before, then stop
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch, turn)

    def _commit(self, batch: list[_Item], turn: _Turn) -> None:
        try:
            with turn:
                if self._conn is None:  # one connection for the writer's life (no checkout/ping per batch)
                    self._conn = self.engine.connect()
                with self._conn.begin():
                    ids = _insert_many(self._conn, [item.row for item in batch])
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller
            self._drop_connection()  # the next batch starts on a fresh connection
            msg = (f"the decision log could not store this decision: its batch of {len(batch)} was rolled back "
                   f"({type(exc).__name__}: {_first_line(exc)})")
            for item in batch:  # one error object per caller (each raises it in its own thread)
                err = DecisionLogError(msg)
                err.__cause__ = exc
                _resolve(item.future, exception=err)
            if not isinstance(exc, Exception):
                raise
            return
        self.batches += 1
        self.committed += len(batch)
        for item, i in zip(batch, ids, strict=True):
            _resolve(item.future, result=i)


def _resolve(fut: Any, *, result: int | None = None, exception: BaseException | None = None) -> None:
    """Set a caller's future; a caller that stopped waiting (cancelled) is skipped — its decision is
    stored (or failed) all the same."""
    from concurrent.futures import InvalidStateError

    try:
        if exception is not None:
            fut.set_exception(exception)
        else:
            fut.set_result(result)
    except InvalidStateError:
        pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"


def _sqlite_lock_path(engine: Engine) -> str | None:
    """``<database>.writer.lock`` for a SQLite file database, else None."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" \
            or url.database.startswith("file:"):
        return None
    return url.database + ".writer.lock"


def _open_lock(path: str | None) -> int:
    """The lock file's descriptor (-1 without a lock file or where ``flock`` is not available)."""
    if path is None:
        return -1
    try:
        import fcntl  # noqa: F401 - POSIX only
    except ImportError:  # pragma: no cover - not POSIX: SQLite's busy handler alone
        return -1
    import os

    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


class _Turn:
    """An exclusive ``flock`` on the writer lock file while one batch is written (no-op without one)."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> None:
        if self.fd >= 0:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_UN)


@dataclass(frozen=True)
class StoredDecision:
    id: int
    decided_at: dt.datetime
    application_id: str
    customer_id: str
    branch_id: str
    ladder_id: str
    ladder_version: int
    model_version: str
    arm: str
    outcome: str
    risk_grade: str | None
    product_id: str | None
    apr: Any
    amount: Any
    reason_codes: list[str]
    application: dict[str, Any]
    decision: Decision  # the full decision with its trail, as routed


def _stored(r: Any) -> StoredDecision:
    return StoredDecision(
        int(r["id"]), r["decided_at"], r["application_id"], r["customer_id"], r["branch_id"], r["ladder_id"],
        int(r["ladder_version"]), r["model_version"], r["arm"], r["outcome"], r["risk_grade"],
        r["product_id"], r["apr"], r["amount"], json.loads(r["reason_codes"]),
        json.loads(r["application"]), unpack_decision(r["trail"]))


def get_decision(engine: Engine, decision_id: int) -> StoredDecision:
    with engine.connect() as conn:
        r = conn.execute(sa.select(loan_decision).where(loan_decision.c.id == decision_id)).mappings().first()
    if r is None:
        raise NotFoundError(f"loan decision {decision_id} does not exist")
    return _stored(r)


def decisions(engine: Engine, *, limit: int = 100, ladder_id: str | None = None,
              since: dt.date | None = None) -> list[StoredDecision]:
    """Most recent decisions first."""
    q = sa.select(loan_decision).order_by(loan_decision.c.id.desc()).limit(limit)
    if ladder_id is not None:
        q = q.where(loan_decision.c.ladder_id == ladder_id)
    if since is not None:
        q = q.where(loan_decision.c.applied_on >= since)
    with engine.connect() as conn:
        return [_stored(r) for r in conn.execute(q).mappings().all()]


def leads(engine: Engine, branch_id: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(loan_lead).order_by(loan_lead.c.id)
    if branch_id is not None:
        q = q.where(loan_lead.c.branch_id == branch_id)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings().all()]


# ------------------------------------------------------------------------------------- review queue


def request_review(engine: Engine, decision_id: int, requested_by: str, reason: str) -> int:
    """A customer (or staff on their behalf) asks a person to re-examine an automated decision."""
    if not requested_by or not reason or not reason.strip():
        raise ValidationError("a review request needs who asks and why (request_reason)")
    get_decision(engine, decision_id)
    with engine.begin() as conn:
        open_ = conn.execute(sa.select(loan_review.c.id).where(
            loan_review.c.decision_id == decision_id, loan_review.c.status == "open")).first()
        if open_ is not None:
            raise ConflictError(f"decision {decision_id} already has open review {open_.id}")
        rid = int(conn.execute(loan_review.insert().values(
            decision_id=decision_id, requested_at=_now(), requested_by=requested_by,
            request_reason=reason, status="open")).inserted_primary_key[0])
        audit.record(conn, requested_by, "loan_review.request", f"loan_decision:{decision_id}",
                     reason=reason, details={"review_id": rid})
    return rid


def decide_review(engine: Engine, review_id: int, reviewer: str, status: str, note: str) -> dict[str, Any]:
    """A person upholds or overturns the automated decision, with a note; audited."""
    if status not in ("upheld", "overturned"):
        raise ValidationError(f"review status must be upheld or overturned, got {status!r}")
    if not reviewer or not note or not note.strip():
        raise ValidationError("a review decision needs the reviewer and a note explaining it")
    with engine.begin() as conn:
        r = conn.execute(sa.select(loan_review).where(loan_review.c.id == review_id)).mappings().first()
        if r is None:
            raise NotFoundError(f"loan review {review_id} does not exist")
        if r["status"] != "open":
            raise ConflictError(f"loan review {review_id} is already {r['status']}")
        if reviewer == r["requested_by"]:
            raise PermissionDenied(f"{reviewer} requested review {review_id} and may not also decide it")
        conn.execute(loan_review.update().where(loan_review.c.id == review_id).values(
            status=status, reviewer=reviewer, reviewed_at=_now(), review_note=note))
        audit.record(conn, reviewer, f"loan_review.{status}", f"loan_decision:{r['decision_id']}",
                     reason=note, details={"review_id": review_id})
        return dict(conn.execute(sa.select(loan_review).where(loan_review.c.id == review_id)).mappings().one())


def reviews(engine: Engine, status: str | None = "open") -> list[dict[str, Any]]:
    q = sa.select(loan_review).order_by(loan_review.c.id)
    if status is not None:
        q = q.where(loan_review.c.status == status)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings().all()]


__all__ = ["DecisionLogError", "DecisionWriter", "StoredDecision", "decision_row", "decide_review", "decisions", "get_decision", "leads", "log_decision",
           "request_review", "reviews"]
