"""Request dependencies: who is calling, the one authorization gate every route passes, CSRF."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from kequn.api.rules import LOGIN, PUBLIC, rule_for
from kequn.errors import AuthenticationError, PermissionDenied
from kequn.security import auth

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class AppState:
    """Everything a request needs, built once by ``create_app``."""

    settings: Any
    secret_key: str
    engine: Any  # ops store (SQLAlchemy Engine)
    data: Any  # kequn.services.console.ConsoleData
    sso: Any = None  # kequn.security.oidc.SSOProvider or None
    limiter: auth.RateLimiter = field(default_factory=auth.RateLimiter)
    templates: Any = None


def app_state(request: Request) -> AppState:
    return request.app.state.kequn  # type: ignore[no-any-return]


def _principal(request: Request, st: AppState) -> auth.Principal | None:
    from kequn.services import users

    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return users.token_principal(st.engine, st.secret_key, header[7:].strip())
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    return users.session_principal(st.engine, st.secret_key, cookie) if cookie else None


def enforce(request: Request) -> None:
    """The authorization gate (an app-wide dependency): the route's rule, sign-in, permission, scope."""
    st = app_state(request)
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    rule = rule_for(request.method, path)
    principal = _principal(request, st)
    request.state.principal = principal
    if rule is None:
        raise PermissionDenied(f"no authorization rule for {request.method} {path}: refused")
    if rule.permission == PUBLIC:
        return
    if principal is None:
        raise AuthenticationError("not signed in: log in or send an API token")
    if rule.permission != LOGIN and not principal.can(rule.permission):
        from kequn.opstore import audit

        audit.record(st.engine, principal.username, "access.denied", f"route:{request.method} {path}",
                     details={"role": principal.role, "needs": rule.permission})
        raise PermissionDenied(f"role {principal.role} lacks permission {rule.permission} for {request.method} {path}")
    if rule.customer_scoped:
        st.data.check_customer_scope(principal, request.path_params["customer_id"])


async def check_csrf(request: Request) -> None:
    """Unsafe requests on a cookie session carry the session's CSRF token (form field or header)."""
    principal = getattr(request.state, "principal", None)
    if request.method not in UNSAFE or principal is None or principal.via != "session":
        return
    rule = rule_for(request.method, getattr(request.scope.get("route"), "path", ""))
    if rule is not None and rule.permission == PUBLIC:
        return  # the login form carries its own pre-session CSRF token
    sent = request.headers.get(auth.CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get(auth.CSRF_FIELD)  # type: ignore[assignment]
    if not auth.same(sent if isinstance(sent, str) else None, principal.csrf_token):
        raise PermissionDenied("CSRF token missing or wrong: reload the page and try again")


def current_user(request: Request) -> auth.Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise AuthenticationError("not signed in: log in or send an API token")
    return principal  # type: ignore[no-any-return]


CurrentUser = Annotated[auth.Principal, Depends(current_user)]
State = Annotated[AppState, Depends(app_state)]


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"
