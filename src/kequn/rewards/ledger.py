"""The points ledger: double-entry, idempotent, never overdrawn, FIFO expiry by lot.

Every posting moves a positive amount *from* one account *to* another of the same unit, so each posting
balances by construction and the sum of all balances is always zero (system accounts such as
``issuance`` and ``funding`` may go negative: they are where points and budgets come from). Customer,
corporate and budget accounts never go negative: the code debits with ``… WHERE balance >= amount``
and the database CHECK refuses an overdraft as a second line. Earned points form *lots* with an expiry;
spending consumes the oldest-expiring lots first; the expiry run moves what is left of expired lots to
the ``expiry`` (breakage) account.

System accounts are *derived*: their balance is the sum of their entries, never a stored row that every
posting would update — otherwise every earn in the bank would queue on the one ``issuance`` row (a hot
account). Customer, corporate and budget balances are stored and guarded.

Every request carries an idempotency key: a retry with the same key and the same request returns the
first response and posts nothing; the same key with a different request is a ``ConflictError``.

Hot path. A *simple* posting — one move between two accounts, optionally creating a lot: ``earn``,
``award``, ``fund`` — skips SQLAlchemy statement execution. On PostgreSQL it is ONE autocommit round trip
to the PL/pgSQL function ``kequn_ledger_move`` (migration 0013_ledger_move_fn), which also writes the
idempotency response in the transaction row's own INSERT. On SQLite it is five DBAPI statements
(sqlite3 keeps them prepared) and one commit. Both do exactly what the general path does (same rows, same
checks, same errors); the general path (:meth:`Ledger.post`) serves every posting that spends lots.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from kequn.errors import ConflictError, NotFoundError, ValidationError
from kequn.rewards.tables import point_account, point_entry, point_lot, point_txn

#: system accounts: kind -> (unit, may go negative)
SYSTEM_ACCOUNTS: dict[str, tuple[str, bool]] = {
    "issuance": ("point", True),  # where earned points come from
    "redemption": ("point", False),  # where redeemed points go
    "expiry": ("point", False),  # breakage: points that expired unused
    "funding": ("fen", True),  # where campaign money budgets come from
    "reward_cost": ("fen", False),  # money spent on rewards
}
#: the ordinary account kind of each owner type
OWNER_KIND = {"customer": "member", "enterprise": "corporate", "campaign": "budget"}

# Statements built once: the hot path only binds parameters (no per-call statement construction).
_B = sa.bindparam
INSERT_TXN = point_txn.insert().returning(point_txn.c.id)
SET_RESPONSE = point_txn.update().where(point_txn.c.id == _B("tid")).values(response=_B("resp"))
INSERT_LOT = point_lot.insert().returning(point_lot.c.id)
INSERT_ENTRY = point_entry.insert()
CREDIT = point_account.update().where(point_account.c.id == _B("acc")).values(
    balance=point_account.c.balance + _B("amt"))
DEBIT = point_account.update().where(
    point_account.c.id == _B("acc"),
    sa.or_(point_account.c.allow_negative == 1, point_account.c.balance >= _B("amt"))).values(
    balance=point_account.c.balance - _B("amt"))

# The hot path's SQL (DBAPI paramstyles: qmark for sqlite3, format for psycopg).
PG_MOVE = ("SELECT txn_id, src_id, dst_id, lot_id FROM kequn_ledger_move(%s::text, %s::text, %s::text, %s::text, "
           "%s::text, %s::timestamptz, %s::text, %s::text, %s::text, %s::boolean, %s::text, %s::text, %s::text, "
           "%s::text, %s::bigint, %s::boolean, %s::timestamptz)")
LITE_TXN = ("INSERT INTO point_txn (idempotency_key, kind, actor, memo, request_hash, response, created_at) "
            "VALUES (?, ?, ?, ?, ?, NULL, ?) RETURNING id")
LITE_LOT = ("INSERT INTO point_lot (account_id, txn_id, original, remaining, earned_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id")
LITE_DEBIT = "UPDATE point_account SET balance = balance - ? WHERE id = ? AND (allow_negative = 1 OR balance >= ?)"
LITE_CREDIT = "UPDATE point_account SET balance = balance + ? WHERE id = ?"
LITE_ENTRY = ("INSERT INTO point_entry (txn_id, from_account_id, to_account_id, amount, lot_id, created_at) "
              "VALUES (?, ?, ?, ?, ?, ?)")
LITE_RESPONSE = "UPDATE point_txn SET response = ? WHERE id = ?"
LITE_ACCOUNT = "SELECT id FROM point_account WHERE owner_type = ? AND owner_id = ? AND kind = ? AND unit = ?"
LITE_NEW_ACCOUNT = ("INSERT INTO point_account (owner_type, owner_id, kind, unit, balance, allow_negative) "
                    "VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT DO NOTHING")

#: an account as the ledger names it: (owner_type, owner_id, kind, unit, may go negative)
AccountSpec = tuple[str, str, str, str, bool]


def _give_back(held: list[Any]) -> None:
    """Return held hot-path connections to their pool (autocommit off again, as the pool hands them out)."""
    while held:
        raw = held.pop()
        try:
            dbapi = raw.driver_connection
            if dbapi is not None and getattr(dbapi, "autocommit", None) is True and not dbapi.closed:
                dbapi.autocommit = False  # psycopg: the hot path's autocommit
            raw.close()
        except Exception:  # noqa: BLE001 - a broken connection is simply dropped
            raw.invalidate()


class InsufficientBalance(ConflictError):
    code = "insufficient_balance"


@dataclass
class PostingResult:
    txn_id: int
    key: str
    kind: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False

    def to_json(self) -> str:
        d = {"txn_id": self.txn_id, "key": self.key, "kind": self.kind, "entries": self.entries,
             "details": self.details}  # = asdict() less ``replayed``, without its deep copies
        return json.dumps(d, ensure_ascii=False, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> PostingResult:
        return cls(**json.loads(text), replayed=True)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    if t is None:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _positive(amount: int, what: str = "amount") -> int:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValidationError(f"{what} must be a positive whole number, got {amount!r}")
    return amount


class Ledger:
    """The ledger over an ops-store Engine (SQLite or PostgreSQL, migrated to head)."""

    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime] = _now) -> None:
        self.engine = engine
        self.clock = clock
        self._ids: dict[tuple[str, str, str, str], int] = {}  # accounts are never deleted: ids can be cached
        self._owner: dict[int, str] = {}  # account id -> owner type, for committed accounts
        self._pending: dict[tuple[str, str, str, str], int] = {}  # learnt in the open transaction
        self._dialect = engine.dialect.name
        self._dbapi = engine.dialect.loaded_dbapi
        # hot path: one pool connection per thread, checked out (and, on PostgreSQL, pre-pinged) once, not
        # per posting; given back by close(), or when the Ledger is garbage-collected
        self._hot = threading.local()
        self._held: list[Any] = []
        self._release = weakref.finalize(self, _give_back, self._held)
        # SQLite stores timestamps as text: the hot path formats them exactly as SQLAlchemy does
        self._lite_ts = sa.DateTime(timezone=True).dialect_impl(engine.dialect).bind_processor(engine.dialect)

    def close(self) -> None:
        """Give back the connections the hot path holds (also done when garbage-collected)."""
        _give_back(self._held)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ accounts
    @staticmethod
    def account_spec(owner_type: str, owner_id: str, kind: str | None = None, unit: str = "point") -> AccountSpec:
        """The full name of an account (system accounts fix their own kind, unit and sign)."""
        if owner_type == "system":
            if owner_id not in SYSTEM_ACCOUNTS:
                raise NotFoundError(f"unknown system account {owner_id!r}")
            unit, negative = SYSTEM_ACCOUNTS[owner_id]
            return owner_type, owner_id, owner_id, unit, negative
        if owner_type not in OWNER_KIND:
            raise ValidationError(f"owner type must be one of {sorted(OWNER_KIND)}, got {owner_type!r}")
        return owner_type, owner_id, kind or OWNER_KIND[owner_type], unit, False

    def account_id(self, conn: Connection, owner_type: str, owner_id: str, kind: str | None = None,
                   unit: str = "point") -> int:
        """Get or create an account (race-safe: insert-if-absent, then read)."""
        owner_type, owner_id, kind, unit, negative = self.account_spec(owner_type, owner_id, kind, unit)
        cache_key = (owner_type, owner_id, kind, unit)
        cached = self._ids.get(cache_key) or self._pending.get(cache_key)
        if cached:
            return cached
        where = sa.and_(point_account.c.owner_type == owner_type, point_account.c.owner_id == owner_id,
                        point_account.c.kind == kind, point_account.c.unit == unit)
        found = conn.execute(sa.select(point_account.c.id).where(where)).scalar()
        if found is not None:
            self._pending[cache_key] = int(found)  # cached for good once the transaction commits
            return int(found)
        values = {"owner_type": owner_type, "owner_id": owner_id, "kind": kind, "unit": unit,
                  "balance": 0, "allow_negative": int(negative)}
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        conn.execute(insert(point_account).values(**values).on_conflict_do_nothing())
        new_id = int(conn.execute(sa.select(point_account.c.id).where(where)).scalar_one())
        self._pending[cache_key] = new_id
        return new_id

    def balance(self, owner_type: str, owner_id: str, kind: str | None = None, unit: str = "point") -> int:
        """Stored balance of an ordinary account; for a system account, the sum of its entries."""
        with self.engine.connect() as conn:
            if owner_type == "system":
                unit = SYSTEM_ACCOUNTS[owner_id][0]
                kind = owner_id
            kind = kind or OWNER_KIND[owner_type]
            acc = conn.execute(sa.select(point_account.c.id, point_account.c.balance).where(
                point_account.c.owner_type == owner_type, point_account.c.owner_id == owner_id,
                point_account.c.kind == kind, point_account.c.unit == unit)).first()
            if acc is None:
                return 0
            if owner_type != "system":
                return int(acc.balance)
            return self._entry_sum(conn, int(acc.id))

    @staticmethod
    def _entry_sum(conn: Connection, account: int) -> int:
        inflow = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(point_entry.c.amount), 0))
                              .where(point_entry.c.to_account_id == account)).scalar()
        outflow = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(point_entry.c.amount), 0))
                               .where(point_entry.c.from_account_id == account)).scalar()
        return int(inflow or 0) - int(outflow or 0)

    def available(self, owner_type: str, owner_id: str, at: dt.datetime | None = None) -> int:
        """Points that can be spent now: what is left of lots not yet expired."""
        at = _aware(at) or self.clock()
        with self.engine.connect() as conn:
            acc = conn.execute(sa.select(point_account.c.id).where(
                point_account.c.owner_type == owner_type, point_account.c.owner_id == owner_id,
                point_account.c.kind == OWNER_KIND[owner_type], point_account.c.unit == "point")).scalar()
            if acc is None:
                return 0
            value = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(point_lot.c.remaining), 0)).where(
                point_lot.c.account_id == acc, point_lot.c.remaining > 0,
                sa.or_(point_lot.c.expires_at.is_(None), point_lot.c.expires_at > at))).scalar()
        return int(value or 0)

    # ------------------------------------------------------------------ primitive moves
    def _is_system(self, conn: Connection, account: int) -> bool:
        owner = self._owner.get(account)
        if owner is None:
            owner = conn.execute(sa.select(point_account.c.owner_type).where(point_account.c.id == account)).scalar()
        return owner == "system"

    def _debit(self, conn: Connection, account: int, amount: int) -> None:
        if self._is_system(conn, account):
            return  # derived balance (see the module docstring)
        res = conn.execute(DEBIT, {"acc": account, "amt": amount})
        if res.rowcount != 1:
            have = conn.execute(sa.select(point_account.c.balance).where(point_account.c.id == account)).scalar()
            raise InsufficientBalance(f"account {account} has {have}, needs {amount}")

    def _credit(self, conn: Connection, account: int, amount: int) -> None:
        if self._is_system(conn, account):
            return
        conn.execute(CREDIT, {"acc": account, "amt": amount})

    def _move(self, conn: Connection, txn: int, src: int, dst: int, amount: int,
              lot: int | None = None) -> dict[str, Any]:
        self._debit(conn, src, amount)
        self._credit(conn, dst, amount)
        conn.execute(INSERT_ENTRY, {"txn_id": txn, "from_account_id": src, "to_account_id": dst,
                                    "amount": amount, "lot_id": lot, "created_at": self.clock()})
        return {"from": src, "to": dst, "amount": amount, "lot": lot}

    def _new_lot(self, conn: Connection, txn: int, account: int, amount: int,
                 expires_at: dt.datetime | None) -> int:
        res = conn.execute(INSERT_LOT, {"account_id": account, "txn_id": txn, "original": amount,
                                        "remaining": amount, "earned_at": self.clock(),
                                        "expires_at": _aware(expires_at)})
        return int(res.scalar_one())

    def _take_lots(self, conn: Connection, account: int, amount: int) -> list[tuple[int, int, Any]]:
        """Consume ``amount`` from the account's unexpired lots, oldest expiry first."""
        now = self.clock()
        rows = conn.execute(
            sa.select(point_lot.c.id, point_lot.c.remaining, point_lot.c.expires_at)
            .where(point_lot.c.account_id == account, point_lot.c.remaining > 0,
                   sa.or_(point_lot.c.expires_at.is_(None), point_lot.c.expires_at > now))
            .order_by(sa.case((point_lot.c.expires_at.is_(None), 1), else_=0), point_lot.c.expires_at,
                      point_lot.c.id)
            .with_for_update()
        ).all()
        taken, need = [], amount
        for lot_id, remaining, expires_at in rows:
            if need == 0:
                break
            take = min(need, int(remaining))
            res = conn.execute(point_lot.update()
                               .where(point_lot.c.id == lot_id, point_lot.c.remaining >= take)
                               .values(remaining=point_lot.c.remaining - take))
            if res.rowcount != 1:  # pragma: no cover - guarded by the row lock
                raise InsufficientBalance(f"lot {lot_id} changed underneath")
            taken.append((int(lot_id), take, expires_at))
            need -= take
        if need:
            raise InsufficientBalance(f"only {amount - need} unexpired points available, needs {amount}")
        return taken

    # ------------------------------------------------------------------ the idempotent envelope
    def post(self, key: str, kind: str, request: dict[str, Any], actor: str,
             body: Callable[[Connection, int], tuple[list[dict[str, Any]], dict[str, Any]]]) -> PostingResult:
        """Run ``body`` inside one database transaction under idempotency key ``key``."""
        if not key or len(key) > 200:
            raise ValidationError("an idempotency key of 1–200 characters is required")
        digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
        self._pending.clear()
        try:
            with self.engine.begin() as conn:
                txn = int(conn.execute(INSERT_TXN, {
                    "idempotency_key": key, "kind": kind, "actor": actor, "request_hash": digest,
                    "memo": request.get("memo"), "reverses_txn_id": request.get("reverses_txn_id"),
                    "response": None, "created_at": self.clock()}).scalar_one())
                entries, details = body(conn, txn)
                result = PostingResult(txn, key, kind, entries, details)
                conn.execute(SET_RESPONSE, {"tid": txn, "resp": result.to_json()})
            self._ids.update(self._pending)  # committed: the ids are real
            self._owner.update({acc: k[0] for k, acc in self._pending.items()})
            return result
        except IntegrityError:
            # the key exists (a retry, or a concurrent request with the same key that won the race)
            replay = self._replay(key, digest)
            if replay:
                return replay
            raise
        finally:
            self._pending.clear()

    def _replay(self, key: str, digest: str) -> PostingResult | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(point_txn.c.request_hash, point_txn.c.response)
                               .where(point_txn.c.idempotency_key == key)).first()
        if row is None:
            return None
        if row.request_hash != digest:
            raise ConflictError(f"idempotency key {key!r} was already used for a different request")
        return PostingResult.from_json(row.response)

    # ------------------------------------------------------------------ the hot path: one simple move
    def move(self, key: str, kind: str, request: dict[str, Any], actor: str, src: AccountSpec, dst: AccountSpec,
             amount: int, *, make_lot: bool = False, expires_at: dt.datetime | None = None) -> PostingResult:
        """One posting that moves ``amount`` from ``src`` to ``dst`` (and, with ``make_lot``, gives ``dst``
        a new lot expiring at ``expires_at``) under idempotency key ``key`` — the same rows, checks and
        errors as :meth:`post` with a body of one ``_move``, in one round trip (PostgreSQL) or five prepared
        statements (SQLite) and one durable commit. ``src`` may not be a lot-tracked account."""
        if not key or len(key) > 200:
            raise ValidationError("an idempotency key of 1–200 characters is required")
        _positive(amount)
        if src[2] in ("member", "corporate"):
            raise ValidationError(f"a {src[2]} account spends through its lots (FIFO), not Ledger.move")
        if src[3] != dst[3]:
            raise ValidationError(f"cannot move between units {src[3]!r} and {dst[3]!r}")
        digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
        now = self.clock()
        expires_at = _aware(expires_at)
        memo = request.get("memo")
        try:
            if self._dialect == "postgresql":
                txn, s_id, d_id, lot = self._move_pg((key, kind, actor, digest, memo, now, src[0], src[1], src[2],
                                                      src[4], dst[0], dst[1], dst[2], src[3], amount, make_lot,
                                                      expires_at))
            else:
                _raw, dbapi, cur = self._held_connection()
                txn, s_id, d_id, lot = self._move_sqlite(dbapi, cur, key, kind, actor, digest, memo, now, src, dst,
                                                         amount, make_lot, expires_at)
        except self._dbapi.IntegrityError as exc:
            # the key exists (a retry, or a concurrent request with the same key that won the race)
            replay = self._replay(key, digest)
            if replay:
                return replay
            raise sa.exc.IntegrityError("ledger move", None, exc) from exc
        except self._dbapi.Error as exc:
            message = str(getattr(getattr(exc, "diag", None), "message_primary", None) or exc)
            if message.startswith("kequn:insufficient_balance: "):
                raise InsufficientBalance(message.split(": ", 1)[1]) from None
            if message.startswith("kequn:invalid: "):
                raise ValidationError(message.split(": ", 1)[1]) from None
            raise sa.exc.DBAPIError.instance("ledger move", None, exc, self._dbapi.Error) from exc
        for spec, acc in ((src, s_id), (dst, d_id)):  # committed: the ids are real
            self._ids[spec[:4]] = acc
            self._owner[acc] = spec[0]
        entries = [{"from": s_id, "to": d_id, "amount": amount, "lot": lot}]
        return PostingResult(txn, key, kind, entries, {"lot": lot} if make_lot else {})

    def _move_pg(self, params: tuple[Any, ...]) -> tuple[int, int, int, int | None]:
        """One autocommit statement: the function's work is one transaction and one (group) commit. A held
        connection found broken is replaced and the call retried once — safe, because a retry of a posting
        that did commit replays it (same idempotency key)."""
        for attempt in (1, 2):
            raw, dbapi, cur = self._held_connection()
            try:
                cur.execute(PG_MOVE, params, prepare=True)
                row = cur.fetchone()
                return row[0], row[1], row[2], row[3]
            except self._dbapi.OperationalError:
                if attempt == 2 or not (dbapi.closed or dbapi.broken):
                    raise
                self._hot.held = None
                self._held.remove(raw)
                raw.invalidate()
        raise AssertionError("unreachable")  # pragma: no cover

    def _held_connection(self) -> tuple[Any, Any, Any]:
        """This thread's (pool connection, DBAPI connection, cursor) for the hot path."""
        held = getattr(self._hot, "held", None)
        if held is None or held[0].dbapi_connection is None or getattr(held[1], "closed", False):
            # none yet, given back by close(), invalidated, or closed underneath
            raw = self.engine.raw_connection()
            dbapi = raw.driver_connection
            if self._dialect == "postgresql":
                dbapi.autocommit = True  # each call is one statement, one transaction
            held = self._hot.held = (raw, dbapi, dbapi.cursor())
            self._held.append(raw)
        return held

    def _move_sqlite(self, dbapi: Any, cur: Any, key: str, kind: str, actor: str, digest: str, memo: str | None,
                     now: dt.datetime, src: AccountSpec, dst: AccountSpec, amount: int, make_lot: bool,
                     expires_at: dt.datetime | None) -> tuple[int, int, int, int | None]:
        ts = self._lite_ts(now)
        try:
            cur.execute(LITE_TXN, (key, kind, actor, memo, digest, ts))  # takes the write lock
            txn = cur.fetchone()[0]
            s_id = self._lite_account(cur, src)
            d_id = self._lite_account(cur, dst)
            lot = None
            if make_lot:
                cur.execute(LITE_LOT, (d_id, txn, amount, amount, ts, self._lite_ts(expires_at)))
                lot = cur.fetchone()[0]
            if src[0] != "system":  # system balances are derived from entries
                cur.execute(LITE_DEBIT, (amount, s_id, amount))
                if cur.rowcount != 1:
                    have = cur.execute("SELECT balance FROM point_account WHERE id = ?", (s_id,)).fetchone()[0]
                    raise InsufficientBalance(f"account {s_id} has {have}, needs {amount}")
            if dst[0] != "system":
                cur.execute(LITE_CREDIT, (amount, d_id))
            cur.execute(LITE_ENTRY, (txn, s_id, d_id, amount, lot, ts))
            response = PostingResult(txn, key, kind, [{"from": s_id, "to": d_id, "amount": amount, "lot": lot}],
                                     {"lot": lot} if make_lot else {})
            cur.execute(LITE_RESPONSE, (response.to_json(), txn))
            dbapi.commit()
        except BaseException:
            dbapi.rollback()
            raise
        return txn, s_id, d_id, lot

    def _lite_account(self, cur: Any, spec: AccountSpec) -> int:
        cached = self._ids.get(spec[:4])
        if cached:
            return cached
        row = cur.execute(LITE_ACCOUNT, spec[:4]).fetchone()
        if row is None:
            cur.execute(LITE_NEW_ACCOUNT, (*spec[:4], int(spec[4])))
            row = cur.execute(LITE_ACCOUNT, spec[:4]).fetchone()
        return int(row[0])  # cached by move() once committed

    # ------------------------------------------------------------------ operations
    def earn(self, key: str, owner_id: str, points: int, *, owner_type: str = "customer",
             expires_at: dt.datetime | None = None, actor: str = "system", memo: str | None = None) -> PostingResult:
        """Issue points to a customer (or an enterprise's corporate account) as a new lot."""
        _positive(points, "points")
        req = {"op": "earn", "owner": [owner_type, owner_id], "points": points,
               "expires_at": _aware(expires_at), "memo": memo}
        return self.move(key, "earn", req, actor, self.account_spec("system", "issuance"),
                         self.account_spec(owner_type, owner_id), points, make_lot=True, expires_at=expires_at)

    def award_batch(self, key: str, campaign_id: str, awards: list[tuple[str, int]], *,
                    expires_at: dt.datetime | None = None, actor: str = "system",
                    progress: Callable[[int], None] | None = None) -> PostingResult:
        """Give many customers points from one campaign budget as ONE posting: all or nothing. A crash
        half-way leaves no award behind; a retry with the same key posts once."""
        if not awards:
            raise ValidationError("an award batch needs at least one (customer, points) pair")
        for cust, pts in awards:
            _positive(pts, f"points for {cust}")
        req = {"op": "award_batch", "campaign": campaign_id, "awards": awards, "expires_at": _aware(expires_at)}

        def body(conn: Connection, txn: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            src = self.account_id(conn, "campaign", campaign_id, unit="point")
            total = 0
            for i, (cust, pts) in enumerate(awards, start=1):
                dst = self.account_id(conn, "customer", cust)
                lot = self._new_lot(conn, txn, dst, pts, expires_at)
                self._move(conn, txn, src, dst, pts, lot)
                total += pts
                if progress and i % 100 == 0:
                    progress(i)
            return [], {"awards": len(awards), "points": total}

        return self.post(key, "award", req, actor, body)

    def fund(self, key: str, campaign_id: str, amount: int, *, unit: str = "fen", actor: str = "system") -> PostingResult:
        """Fund a campaign budget: money (fen) from ``funding`` or points from ``issuance``."""
        _positive(amount)
        source = {"fen": "funding", "point": "issuance"}.get(unit)
        if source is None:
            raise ValidationError(f"unit must be 'fen' or 'point', got {unit!r}")
        req = {"op": "fund", "campaign": campaign_id, "amount": amount, "unit": unit}
        return self.move(key, "fund", req, actor, self.account_spec("system", source),
                         self.account_spec("campaign", campaign_id, unit=unit), amount)

    def award(self, key: str, campaign_id: str, customer_id: str, points: int, *,
              expires_at: dt.datetime | None = None, actor: str = "system") -> PostingResult:
        """Give a customer points out of a campaign's point budget (never beyond the budget)."""
        _positive(points, "points")
        req = {"op": "award", "campaign": campaign_id, "customer": customer_id, "points": points,
               "expires_at": _aware(expires_at)}
        return self.move(key, "award", req, actor, self.account_spec("campaign", campaign_id, unit="point"),
                         self.account_spec("customer", customer_id), points, make_lot=True, expires_at=expires_at)

    def spend(self, conn: Connection, txn: int, owner_type: str, owner_id: str, points: int,
              sink: int) -> list[dict[str, Any]]:
        """Move ``points`` out of an owner's account lot by lot (FIFO) into ``sink`` (inside a posting)."""
        src = self.account_id(conn, owner_type, owner_id)
        # lock the account row first, so concurrent spenders of one account queue here (PostgreSQL)
        conn.execute(sa.select(point_account.c.id).where(point_account.c.id == src).with_for_update())
        entries = []
        for lot, take, _exp in self._take_lots(conn, src, points):
            entries.append(self._move(conn, txn, src, sink, take, lot))
        return entries

    def transfer(self, key: str, enterprise_id: str, customer_id: str, points: int, *,
                 expires_at: dt.datetime | None = None, actor: str = "system") -> PostingResult:
        """Corporate points (乐豆): an enterprise gives points to an employee; the employee gets a new lot."""
        _positive(points, "points")
        req = {"op": "transfer", "from": enterprise_id, "to": customer_id, "points": points,
               "expires_at": _aware(expires_at)}

        def body(conn: Connection, txn: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            dst = self.account_id(conn, "customer", customer_id)
            entries = self.spend(conn, txn, "enterprise", enterprise_id, points, dst)
            lot = self._new_lot(conn, txn, dst, points, expires_at)
            return entries, {"lot": lot}

        return self.post(key, "transfer", req, actor, body)

    def expire(self, key: str, at: dt.datetime | None = None, *, actor: str = "system") -> PostingResult:
        """Move what is left of every lot expired by ``at`` to the expiry (breakage) account."""
        at = _aware(at) or self.clock()
        req = {"op": "expire", "at": at}

        def body(conn: Connection, txn: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            sink = self.account_id(conn, "system", "expiry")
            lots = conn.execute(
                sa.select(point_lot.c.id, point_lot.c.account_id, point_lot.c.remaining)
                .where(point_lot.c.remaining > 0, point_lot.c.expires_at.is_not(None),
                       point_lot.c.expires_at <= at)
                .order_by(point_lot.c.account_id, point_lot.c.id).with_for_update()).all()
            entries = []
            for lot_id, account, remaining in lots:
                conn.execute(point_lot.update().where(point_lot.c.id == lot_id).values(remaining=0))
                entries.append(self._move(conn, txn, int(account), sink, int(remaining), int(lot_id)))
            return entries, {"lots_expired": len(lots), "points_expired": sum(int(r) for *_x, r in lots)}

        return self.post(key, "expire", req, actor, body)

    # ------------------------------------------------------------------ reading
    def statement(self, owner_type: str, owner_id: str) -> list[dict[str, Any]]:
        """Every posting touching the owner's account, oldest first, with the running balance."""
        with self.engine.connect() as conn:
            acc = conn.execute(sa.select(point_account.c.id).where(
                point_account.c.owner_type == owner_type, point_account.c.owner_id == owner_id,
                point_account.c.kind == OWNER_KIND.get(owner_type, owner_id))).scalar()
            if acc is None:
                return []
            rows = conn.execute(
                sa.select(point_entry.c.id, point_txn.c.kind, point_txn.c.idempotency_key, point_txn.c.memo,
                          point_entry.c.from_account_id, point_entry.c.amount, point_entry.c.lot_id,
                          point_txn.c.created_at)
                .join(point_txn, point_txn.c.id == point_entry.c.txn_id)
                .where(sa.or_(point_entry.c.from_account_id == acc, point_entry.c.to_account_id == acc))
                .order_by(point_entry.c.id)).all()
        running, out = 0, []
        for r in rows:
            delta = -int(r.amount) if r.from_account_id == acc else int(r.amount)
            running += delta
            out.append({"entry": r.id, "kind": r.kind, "key": r.idempotency_key, "memo": r.memo,
                        "change": delta, "balance": running, "lot": r.lot_id, "at": r.created_at})
        return out

    def verify(self) -> list[str]:
        """Check the ledger's invariants; returns the problems found (empty = healthy): each stored
        balance equals its entries, nothing that may not go negative is negative, the balances of each
        unit sum to zero, and member/corporate balances equal what their lots hold."""
        problems = []
        with self.engine.connect() as conn:
            inflow = sa.select(point_entry.c.to_account_id.label("a"), point_entry.c.amount.label("v"))
            outflow = sa.select(point_entry.c.from_account_id.label("a"), (-point_entry.c.amount).label("v"))
            flows = sa.union_all(inflow, outflow).subquery()
            sums = dict(conn.execute(sa.select(flows.c.a, sa.func.sum(flows.c.v)).group_by(flows.c.a)).all())
            totals: dict[str, int] = {}
            for acc, owner, unit, bal, neg in conn.execute(sa.select(
                    point_account.c.id, point_account.c.owner_type, point_account.c.unit, point_account.c.balance,
                    point_account.c.allow_negative)):
                derived = int(sums.get(acc, 0))
                effective = derived if owner == "system" else int(bal)
                if owner == "system" and int(bal) != 0:
                    problems.append(f"system account {acc} has a stored balance {bal}; it must be derived")
                if owner != "system" and derived != int(bal):
                    problems.append(f"account {acc}: balance {bal} but entries sum to {derived}")
                if not neg and effective < 0:
                    problems.append(f"account {acc} is negative: {effective}")
                totals[unit] = totals.get(unit, 0) + effective
            problems += [f"balances in {u} sum to {t}, not 0" for u, t in totals.items() if t != 0]
            lots = dict(conn.execute(sa.select(point_lot.c.account_id, sa.func.sum(point_lot.c.remaining))
                                     .group_by(point_lot.c.account_id)).all())
            for acc, kind, bal in conn.execute(sa.select(point_account.c.id, point_account.c.kind,
                                                         point_account.c.balance)
                                               .where(point_account.c.kind.in_(("member", "corporate")))):
                if int(lots.get(acc, 0)) != int(bal):
                    problems.append(f"{kind} account {acc}: balance {bal} but lots hold {lots.get(acc, 0)}")
        return problems
