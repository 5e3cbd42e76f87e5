"""REST API routes under ``/api``: each translates HTTP into one service call. Rules: ``kequn.api.rules``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from kequn.api import schemas
from kequn.api.deps import CurrentUser, State

router = APIRouter(prefix="/api", tags=["api"])


@router.get("/me", response_model=schemas.Me, summary="The signed-in user, role and permissions")
def me(user: CurrentUser) -> schemas.Me:
    return schemas.Me(username=user.username, role=user.role, branch_id=user.branch_id,
                      permissions=sorted(user.permissions), via=user.via)


@router.get("/overview", response_model=schemas.Overview, summary="Bank-wide overview (全景图) in your scope")
def overview(user: CurrentUser, st: State) -> dict[str, Any]:
    o = dict(st.data.overview(user))  # the cached figures stay untouched
    o["aum"] = str(o["aum"])
    o["branches"] = [dict(b, aum=str(b["aum"])) for b in o["branches"]]
    return o  # type: ignore[no-any-return]


@router.get("/customers", response_model=schemas.CustomerPage, summary="Search customers (masked)")
def customers(user: CurrentUser, st: State, q: Annotated[str, Query(max_length=64)] = "",
              sort: str = "customer_id", desc: bool = False,
              page: Annotated[int, Query(ge=1, le=100000)] = 1,
              size: Annotated[int, Query(ge=1, le=200)] = 20) -> dict[str, Any]:
    p = st.data.search(user, q, sort=sort, desc=desc, page=page, size=size)
    rows = [{k: (None if v is None else str(v)) for k, v in r.items()} for r in p.rows]
    return {"rows": rows, "total": p.total, "page": p.page, "size": p.size, "pages": p.pages}


@router.get("/customers/{customer_id}", summary="Customer 360 (高清图), personal data masked")
def customer(customer_id: str, user: CurrentUser, st: State) -> dict[str, Any]:
    from kequn.opstore import audit

    view = st.data.customer_360(user, customer_id)
    audit.record(st.engine, user.username, "customer.view", f"customer:{customer_id}", details={"via": user.via})
    return _jsonable(view)


@router.post("/customers/{customer_id}/unmask", summary="Customer 360 unmasked (needs a reason; audited)")
def customer_unmasked(customer_id: str, body: schemas.UnmaskRequest, user: CurrentUser, st: State) -> dict[str, Any]:
    from kequn.opstore import audit
    from kequn.services.console import check_unmask

    reason = check_unmask(user, body.reason)
    audit.record(st.engine, user.username, "customer.unmask", f"customer:{customer_id}", reason=reason,
                 details={"via": user.via})
    return _jsonable(st.data.customer_360(user, customer_id, unmask=True, reason=reason))


@router.get("/tags", summary="Tag catalogue with governance figures")
def tags(user: CurrentUser) -> dict[str, Any]:
    from kequn.services.governance import tag_catalogue, tag_governance

    rows = tag_catalogue()
    return {"governance": tag_governance(rows), "tags": rows}


@router.get("/tags/runs", summary="Tag runs (dated snapshots), newest first: full or incremental")
def tag_runs(user: CurrentUser, st: State,
             entity: Annotated[str | None, Query(pattern="^(customer|enterprise|merchant)$")] = None,
             limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    from kequn.tags.store import run_history

    return [_jsonable(r) for r in st.data.run(lambda wh: run_history(wh, entity, limit))]


@router.get("/tags/report", summary="Tag governance report: coverage, drift, IV, usage, redundancy, retirements")
def tag_report(user: CurrentUser, st: State,
               entity: Annotated[str, Query(pattern="^(customer|enterprise|merchant)$")] = "customer",
               as_of: Annotated[str | None, Query(description="YYYY-MM-DD; default: the latest snapshot")] = None,
               target: Annotated[str | None, Query(max_length=48, description="a flag or number tag for IV")] = None,
               ) -> dict[str, Any]:
    import dataclasses

    from kequn.domain.days import optional_day
    from kequn.services.governance import tag_report as build

    day = optional_day(as_of, "as_of")
    rep = st.data.run(lambda wh: build(wh, st.engine, entity, as_of=day, target=target))
    return _jsonable(dataclasses.asdict(rep))  # type: ignore[no-any-return]


@router.get("/dq/runs", summary="Data-quality run history, newest first")
def dq_runs(user: CurrentUser, st: State, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    from kequn.services.governance import dq_history

    return [_jsonable(r) for r in dq_history(st.engine, limit)]


@router.get("/audit", response_model=list[schemas.AuditOut], summary="Audit log, newest first (auditors)")
def audit_log(user: CurrentUser, st: State, actor: str | None = None, target: str | None = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    from kequn.opstore import audit

    return [dict(id=e.id, at=e.at.isoformat(), actor=e.actor, action=e.action, target=e.target,
                 reason=e.reason, details=e.details)
            for e in audit.entries(st.engine, actor=actor, target=target, limit=limit)]


@router.get("/users", response_model=list[schemas.UserOut], summary="Console users")
def list_users(user: CurrentUser, st: State) -> list[Any]:
    from kequn.services import users

    return [schemas.UserOut(**{k: getattr(u, k) for k in schemas.UserOut.model_fields}) for u in users.list_users(st.engine)]


@router.post("/users", response_model=schemas.UserOut, status_code=201, summary="Create a user (audited)")
def create_user(body: schemas.UserIn, user: CurrentUser, st: State) -> Any:
    from kequn.services import users

    u = users.create_user(st.engine, body.username, body.role, password=body.password, branch_id=body.branch_id,
                          display_name=body.display_name, actor=user.username)
    return schemas.UserOut(**{k: getattr(u, k) for k in schemas.UserOut.model_fields})


@router.put("/users/{username}/role", response_model=schemas.UserOut, summary="Change a user's role (audited)")
def change_role(username: str, body: schemas.RoleChange, user: CurrentUser, st: State) -> Any:
    from kequn.services import users

    u = users.set_role(st.engine, username, body.role, body.branch_id, actor=user.username, reason=body.reason)
    return schemas.UserOut(**{k: getattr(u, k) for k in schemas.UserOut.model_fields})


@router.get("/tokens", summary="API tokens (never their secret)")
def list_tokens(user: CurrentUser, st: State) -> list[dict[str, Any]]:
    from kequn.services import users

    return [_jsonable(t) for t in users.list_tokens(st.engine)]


@router.post("/tokens", response_model=schemas.TokenOut, status_code=201, summary="Issue an API token (audited)")
def create_token(body: schemas.TokenIn, user: CurrentUser, st: State) -> schemas.TokenOut:
    from kequn.services import users

    return schemas.TokenOut(token=users.create_token(st.engine, st.secret_key, body.username, body.name,
                                                     actor=user.username, days=body.days))


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke an API token (audited)")
def revoke_token(token_id: Annotated[int, Path(ge=1, le=2**53)], user: CurrentUser, st: State) -> None:
    from kequn.services import users

    users.revoke_token(st.engine, token_id, actor=user.username)


def _jsonable(obj: Any) -> Any:
    """Plain JSON values; money (Decimal) and dates become strings, never floats."""
    import dataclasses
    import datetime as dt
    import json
    from decimal import Decimal

    def default(o: Any) -> Any:
        if isinstance(o, (Decimal, dt.date, dt.datetime, dt.time)):
            return str(o) if isinstance(o, Decimal) else o.isoformat()
        if hasattr(o, "model_dump"):
            return o.model_dump(mode="json")
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        return str(o)

    return json.loads(json.dumps(obj, default=default, ensure_ascii=False))
