"""Read-side use cases of the web console: the bank overview (全景图), customer search, the customer 360
(高清图), the tag catalogue and the data-quality history — every one scoped to the caller's branches and
masked by default. Heavy reads are Ibis expressions on the warehouse; Python sees only small results.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import ibis

from kequn.errors import NotFoundError, PermissionDenied, ValidationError
from kequn.security.auth import Principal
from kequn.security.masking import mask_row
from kequn.security.scope import BranchScope, children_map, scope_for

T = TypeVar("T")

AUM_KINDS = ("deposit", "time_deposit", "wealth")
CUSTOMER_COLUMNS = ("customer_id", "name", "phone", "id_number", "gender", "city", "home_branch_id",
                    "rm_id", "onboarded_on", "status")
SORTABLE = {"customer_id", "name", "city", "home_branch_id", "onboarded_on", "status"}
MAX_PAGE_SIZE = 200
MIN_REASON = 4


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


class ConsoleData:
    """The console's window on the warehouse, plus the branch tree.

    On DuckDB each worker thread reads through its own cursor of the one database (DuckDB runs them in
    parallel); other backends share one connection, serialised by a lock.
    """

    #: the overview aggregates data loaded once a day; it is recomputed at most this often per scope
    OVERVIEW_TTL_S = 300.0

    def __init__(self, wh: Any) -> None:
        self.wh = wh
        self._lock = threading.RLock()
        self._local = threading.local()
        self._overview: dict[frozenset[str] | None, tuple[float, dict[str, Any]]] = {}
        self._children: dict[str, list[str]] | None = None
        self._branch_names: dict[str, str] = {}

    @contextmanager
    def locked(self) -> Iterator[Any]:
        """This thread's view of the warehouse (other capabilities' routers use it)."""
        if self.wh.kind == "duckdb":
            yield self._thread_warehouse()
            return
        with self._lock:
            yield self.wh

    def run(self, fn: Callable[[Any], T]) -> T:
        """``fn(warehouse)`` on this thread's view of the warehouse."""
        if self.wh.kind == "duckdb":
            return fn(self._thread_warehouse())
        with self._lock:
            return fn(self.wh)

    def _thread_warehouse(self) -> Any:
        wh = getattr(self._local, "wh", None)
        if wh is None:
            from kequn.warehouse import Warehouse

            wh = Warehouse(con=ibis.duckdb.from_connection(self.wh.con.con.cursor()), kind="duckdb", url=self.wh.url)
            self._local.wh = wh
        return wh

    # -------------------------------------------------------------- branches and scope
    def _load_branches(self) -> None:
        rows = self.run(lambda wh: wh.table("branch").select("branch_id", "name", "parent_id")
                        .to_pyarrow().to_pylist())
        self._children = children_map(rows)
        self._branch_names = {r["branch_id"]: r["name"] for r in rows}

    def branch_names(self) -> dict[str, str]:
        if self._children is None:
            self._load_branches()
        return self._branch_names

    def scope(self, principal: Principal) -> BranchScope:
        if self._children is None:
            self._load_branches()
        assert self._children is not None
        return scope_for(principal.branch_id, self._children)

    def _customers(self, wh: Any, scope: BranchScope) -> Any:
        t = wh.table("customer")
        if scope.branches is not None:
            t = t.filter(t.home_branch_id.isin(sorted(scope.branches)))
        return t

    # -------------------------------------------------------------- overview (全景图)
    def overview(self, principal: Principal) -> dict[str, Any]:
        """Figures of the caller's scope, cached per scope for ``OVERVIEW_TTL_S`` seconds."""
        import time

        scope = self.scope(principal)
        hit = self._overview.get(scope.branches)
        if hit is not None and time.monotonic() - hit[0] < self.OVERVIEW_TTL_S:
            return hit[1]
        result = self._compute_overview(scope)
        self._overview[scope.branches] = (time.monotonic(), result)
        return result

    def _compute_overview(self, scope: BranchScope) -> dict[str, Any]:
        """One warehouse query grouped by (branch, AUM tier); branch and tier totals are summed here."""
        names = self.branch_names()

        def q(wh: Any) -> list[dict[str, Any]]:
            aum = _aum_by_customer(wh, self._customers(wh, scope))
            t = aum.mutate(band=_band(aum.aum))
            return (t.group_by(["home_branch_id", "band"])
                    .aggregate(customers=t.count(), active=t.active.sum(), aum=t.aum.sum())
                    .to_pyarrow().to_pylist())

        branches: dict[str, dict[str, Any]] = {}
        bands: dict[str, int] = {}
        for r in self.run(q):
            b = branches.setdefault(r["home_branch_id"], {
                "branch_id": r["home_branch_id"], "branch": names.get(r["home_branch_id"], r["home_branch_id"]),
                "customers": 0, "active": 0, "aum": Decimal("0.00")})
            b["customers"] += int(r["customers"])
            b["active"] += int(r["active"] or 0)
            b["aum"] += Decimal(r["aum"] or 0).quantize(Decimal("0.01"))
            bands[r["band"]] = bands.get(r["band"], 0) + int(r["customers"])
        rows = sorted(branches.values(), key=lambda b: (-b["customers"], str(b["branch_id"])))
        return {
            "scope": "whole_bank" if scope.whole_bank else sorted(scope.branches or ()),
            "customers": sum(r["customers"] for r in rows),
            "active_customers": sum(r["active"] for r in rows),
            "aum": sum((r["aum"] for r in rows), Decimal("0.00")),
            "branches": rows,
            "segments": [{"segment": b, "customers": bands[b]} for b in _BAND_ORDER if b in bands],
        }

    # -------------------------------------------------------------- search
    def search(self, principal: Principal, q: str = "", *, sort: str = "customer_id", desc: bool = False,
               page: int = 1, size: int = 20) -> Page:
        """Customers in the caller's scope matching ``q`` (id prefix, name part or full phone), masked."""
        if sort not in SORTABLE:
            raise ValidationError(f"cannot sort by {sort!r}: use one of {', '.join(sorted(SORTABLE))}")
        if not 1 <= size <= MAX_PAGE_SIZE or page < 1:
            raise ValidationError(f"page must be ≥ 1 and size 1–{MAX_PAGE_SIZE}")
        scope = self.scope(principal)
        q = q.strip()[:64]
        bad = next((i for i, ch in enumerate(q) if ord(ch) < 32 or ord(ch) == 127), None)
        if bad is not None:  # e.g. NUL: no id, name or phone holds one, and the SQL engines refuse it
            raise ValidationError(f"search text has a control character (U+{ord(q[bad]):04X}) at position {bad + 1}")

        def run(wh: Any) -> tuple[list[dict[str, Any]], int]:
            t = self._customers(wh, scope)
            if q:
                t = t.filter(t.customer_id.startswith(q) | t.name.contains(q) | (t.phone == q))
            total = int(t.count().execute())
            keys = [ibis.desc(sort) if desc else ibis.asc(sort)] + ([] if sort == "customer_id" else ["customer_id"])
            rows = (t.select(*CUSTOMER_COLUMNS).order_by(keys)
                    .limit(size, offset=(page - 1) * size).to_pyarrow().to_pylist())
            return rows, total

        rows, total = self.run(run)
        names = self.branch_names()
        out = [dict(mask_row("customer", r), branch=names.get(r["home_branch_id"], "")) for r in rows]
        return Page(out, total, page, size)

    # -------------------------------------------------------------- 360 (高清图)
    def customer_branch(self, customer_id: str) -> str | None:
        def run(wh: Any) -> list[dict[str, Any]]:
            t = wh.table("customer")
            return t.filter(t.customer_id == customer_id).select("home_branch_id").limit(1).to_pyarrow().to_pylist()

        rows = self.run(run)
        if not rows:
            raise NotFoundError(f"customer {customer_id!r} not found")
        return rows[0]["home_branch_id"]

    def check_customer_scope(self, principal: Principal, customer_id: str) -> None:
        """NotFound for a customer outside the caller's branches (existence is not revealed)."""
        if not self.scope(principal).allows(self.customer_branch(customer_id)):
            raise NotFoundError(f"customer {customer_id!r} not found")

    def customer_360(self, principal: Principal, customer_id: str, *, unmask: bool = False,
                     reason: str | None = None) -> dict[str, Any]:
        """The 360 view, masked unless the caller may unmask and typed a reason (the caller audits)."""
        self.check_customer_scope(principal, customer_id)
        if unmask:
            check_unmask(principal, reason)
        return self.run(lambda wh: _profile(wh, customer_id, unmask))


def check_unmask(principal: Principal, reason: str | None) -> str:
    if not principal.can("customer.unmask"):
        raise PermissionDenied(f"role {principal.role} may not unmask personal data")
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        raise ValidationError(f"unmasking needs a typed reason of at least {MIN_REASON} characters")
    return reason


_BAND_ORDER = ("0", "<5万", "5万–50万", "50万–600万", "≥600万")


def _aum_by_customer(wh: Any, cust: Any) -> Any:
    """Per customer in ``cust``: AUM = latest month-end balance of deposit, time-deposit and wealth accounts."""
    acc = wh.table("account")
    acc = acc.filter(acc.kind.isin(AUM_KINDS) & acc.customer_id.notnull())
    bal = wh.table("balance_monthly")
    last = bal.month_end.max().as_scalar()
    bal = bal.filter(bal.month_end == last)
    per = (acc.join(bal, "account_id").group_by(acc.customer_id)
           .aggregate(aum=bal.balance.sum()))
    base = cust.select("customer_id", "home_branch_id", active=(cust.status == "active").cast("int64"))
    return (base.left_join(per, "customer_id")
            .select("customer_id", "home_branch_id", "active", aum=ibis.coalesce(per.aum, 0)))


def _band(a: Any) -> Any:
    """The AUM tier (客户资产分层) of an AUM value."""
    return ibis.cases((a <= 0, "0"), (a < 50_000, "<5万"), (a < 500_000, "5万–50万"),
                      (a < 6_000_000, "50万–600万"), else_="≥600万")


def _profile(wh: Any, customer_id: str, unmask: bool) -> dict[str, Any]:
    """The 360 view from the tags engineer's profile service, or the canonical tables when it is absent."""
    try:
        from kequn.services.profile import customer_360
    except ImportError:
        return _basic_profile(wh, customer_id, unmask)
    view = customer_360(wh, customer_id, unmask=unmask)
    return view if isinstance(view, dict) else _as_dict(view)


def _as_dict(view: Any) -> dict[str, Any]:
    if hasattr(view, "model_dump"):
        return dict(view.model_dump(mode="json"))
    import dataclasses

    return dataclasses.asdict(view)


def _basic_profile(wh: Any, customer_id: str, unmask: bool) -> dict[str, Any]:
    """Customer row and accounts with their latest balances (used until ``services.profile`` lands)."""
    c = wh.table("customer")
    row = c.filter(c.customer_id == customer_id).to_pyarrow().to_pylist()[0]
    acc = wh.table("account")
    bal = wh.table("balance_monthly")
    latest = bal.group_by("account_id").aggregate(month_end=bal.month_end.max())
    bal = bal.join(latest, ["account_id", "month_end"])
    accounts = (acc.filter(acc.customer_id == customer_id).left_join(bal, "account_id")
                .select("account_id", "product_id", "kind", "branch_id", "opened_on", "status", "balance")
                .order_by("account_id").to_pyarrow().to_pylist())
    if not unmask:
        row = mask_row("customer", row)
        accounts = [mask_row("balance_monthly", a) for a in accounts]
    return {"customer": row, "accounts": accounts, "tags": [], "segments": [], "events": [],
            "masked": not unmask, "source": "canonical tables (profile service not installed)"}
