"""Table-driven authorization: EVERY route × role × own/foreign branch, against the one rule table.

Fails when a route has no rule (kequn.api.rules), when a rule names no route, when a route has no sample
request below, and when any response disagrees with what the rule and the role's permissions imply.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest

from kequn.api.rules import CAPABILITY_ROUTERS, LOGIN, PUBLIC, all_rules, routes_of, rule_for
from kequn.security.roles import ROLE_PERMISSIONS
from test_api_support import FOREIGN, OWN, USERS, login, make_app

_n = itertools.count()


def _new_user(engine: Any) -> str:
    from kequn.services import users

    name = f"victim{next(_n)}"
    users.create_user(engine, name, "marketer", password="Victim-pass-1", actor="test")
    return name


def _new_token(engine: Any, secret: str) -> int:
    from kequn.services import users

    users.create_token(engine, secret, "analyst", f"t{next(_n)}", actor="test")
    return int(users.list_tokens(engine)[-1]["id"])


#: (method, path) -> fn(customer_id, ctx) -> (method, url, request kwargs)
Sample = Callable[[str, dict[str, Any]], tuple[str, str, dict[str, Any]]]
SAMPLES: dict[tuple[str, str], Sample] = {
    ("GET", "/"): lambda c, x: ("GET", "/", {}),
    ("GET", "/login"): lambda c, x: ("GET", "/login", {}),
    ("POST", "/login"): lambda c, x: ("POST", "/login", {"data": {"username": "nobody", "password": "x"}}),
    ("POST", "/logout"): lambda c, x: ("POST", "/logout", {}),
    ("GET", "/lang/{code}"): lambda c, x: ("GET", "/lang/en", {}),
    ("GET", "/healthz"): lambda c, x: ("GET", "/healthz", {}),
    ("GET", "/static"): lambda c, x: ("GET", "/static/app.css", {}),
    ("GET", "/static/vendor"): lambda c, x: ("GET", "/static/vendor/plotly.min.js", {}),
    ("GET", "/docs"): lambda c, x: ("GET", "/docs", {}),
    ("GET", "/auth/sso/login"): lambda c, x: ("GET", "/auth/sso/login", {}),
    ("GET", "/auth/sso/callback"): lambda c, x: ("GET", "/auth/sso/callback?code=a&state=b", {}),
    ("GET", "/customers"): lambda c, x: ("GET", f"/customers?q={c}", {}),
    ("GET", "/customers/export.xlsx"): lambda c, x: ("GET", f"/customers/export.xlsx?q={c}", {}),
    ("GET", "/customers/{customer_id}"): lambda c, x: ("GET", f"/customers/{c}", {}),
    ("POST", "/customers/{customer_id}/unmask"):
        lambda c, x: ("POST", f"/customers/{c}/unmask", {"data": {"reason": "客户来电核实身份"}}),
    ("GET", "/tags"): lambda c, x: ("GET", "/tags", {}),
    ("GET", "/tags/export.xlsx"): lambda c, x: ("GET", "/tags/export.xlsx", {}),
    ("GET", "/dq"): lambda c, x: ("GET", "/dq", {}),
    ("GET", "/dq/export.xlsx"): lambda c, x: ("GET", "/dq/export.xlsx", {}),
    ("GET", "/audit"): lambda c, x: ("GET", "/audit", {}),
    ("GET", "/audit/export.xlsx"): lambda c, x: ("GET", "/audit/export.xlsx", {}),
    ("GET", "/users"): lambda c, x: ("GET", "/users", {}),
    ("POST", "/users"): lambda c, x: ("POST", "/users", {"data": {"username": f"new{next(_n)}", "role": "auditor",
                                                                  "password": "Fresh-pass-42"}}),
    ("POST", "/users/{username}/role"):
        lambda c, x: ("POST", f"/users/{_new_user(x['engine'])}/role", {"data": {"role": "hq_analyst"}}),
    ("GET", "/api/openapi.json"): lambda c, x: ("GET", "/api/openapi.json", {}),
    ("GET", "/api/me"): lambda c, x: ("GET", "/api/me", {}),
    ("GET", "/api/overview"): lambda c, x: ("GET", "/api/overview", {}),
    ("GET", "/api/customers"): lambda c, x: ("GET", f"/api/customers?q={c}", {}),
    ("GET", "/api/customers/{customer_id}"): lambda c, x: ("GET", f"/api/customers/{c}", {}),
    ("POST", "/api/customers/{customer_id}/unmask"):
        lambda c, x: ("POST", f"/api/customers/{c}/unmask", {"json": {"reason": "客户来电核实身份"}}),
    ("GET", "/api/tags"): lambda c, x: ("GET", "/api/tags", {}),
    ("GET", "/api/tags/runs"): lambda c, x: ("GET", "/api/tags/runs", {}),
    ("GET", "/api/tags/report"): lambda c, x: ("GET", "/api/tags/report", {}),
    ("GET", "/api/dq/runs"): lambda c, x: ("GET", "/api/dq/runs", {}),
    ("GET", "/api/audit"): lambda c, x: ("GET", "/api/audit", {}),
    ("GET", "/api/users"): lambda c, x: ("GET", "/api/users", {}),
    ("POST", "/api/users"): lambda c, x: ("POST", "/api/users", {"json": {"username": f"api{next(_n)}",
                                                                          "role": "auditor"}}),
    ("PUT", "/api/users/{username}/role"):
        lambda c, x: ("PUT", f"/api/users/{_new_user(x['engine'])}/role", {"json": {"role": "marketer"}}),
    ("GET", "/api/tokens"): lambda c, x: ("GET", "/api/tokens", {}),
    ("POST", "/api/tokens"): lambda c, x: ("POST", "/api/tokens", {"json": {"name": "crm", "username": "analyst"}}),
    ("DELETE", "/api/tokens/{token_id}"):
        lambda c, x: ("DELETE", f"/api/tokens/{_new_token(x['engine'], x['secret'])}", {}),
}
#: routes of other capabilities (kequn.api.routes_*): the matrix checks the gate only — their handlers may
#: answer 404/422 to these minimal requests; anything but 401/403/5xx means the gate let the call through
def _loose(key: tuple[str, str]) -> tuple[str, str, dict[str, Any]]:
    method, path = key
    return method, re.sub(r"\{[^}]+\}", "0", path), ({"json": {}} if method in ("POST", "PUT") else {})



ALLOWED = {200, 201, 204, 303}


def app_routes(app: Any) -> list[tuple[str, str]]:
    return routes_of(app)


def capability_routes(app: Any) -> set[tuple[str, str]]:
    """Routes served by other capabilities' routers (kequn.api.rules.CAPABILITY_ROUTERS)."""
    from fastapi.routing import iter_route_contexts

    return {(m, ctx.path) for ctx in iter_route_contexts(app.router.routes)
            if getattr(ctx.endpoint, "__module__", "") in CAPABILITY_ROUTERS for m in ctx.methods or ()}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app, wh, engine = make_app(tmp_path_factory.mktemp("authz"))
    return {"app": app, "engine": engine, "secret": app.state.kequn.secret_key}


def test_every_route_has_a_rule_and_a_sample(world: dict[str, Any]) -> None:
    routes = app_routes(world["app"])
    assert len(routes) >= 30
    missing_rule = [r for r in routes if rule_for(*r) is None]
    stale_rule = sorted(set(all_rules()) - set(routes))
    others = capability_routes(world["app"])
    missing_sample = [r for r in routes if r not in others and r not in SAMPLES]
    assert not missing_rule, f"routes without an authorization rule in kequn.api.rules: {missing_rule}"
    assert not stale_rule, f"rules naming no route: {stale_rule}"
    assert not missing_sample, f"routes without a sample request in this test: {missing_sample}"


def expected(rule: Any, role: str | None, foreign: bool) -> str:
    if rule.permission == PUBLIC:
        return "any"
    if role is None:
        return "unauthenticated"
    if rule.permission != LOGIN and rule.permission not in ROLE_PERMISSIONS[role]:
        return "forbidden"
    if rule.customer_scoped and foreign and USERS[role][1] is not None:
        return "not_found"
    return "allowed"


def check(status: int, want: str, path: str, loose: bool = False) -> bool:
    if want == "allowed" and loose:
        return status not in (401, 403) and status < 500
    if want == "any":
        return status < 500
    if want == "unauthenticated":
        return status == 401 if path.startswith("/api") else status == 303
    return {"forbidden": status == 403, "not_found": status == 404, "allowed": status in ALLOWED}[want]


def _ordered(routes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted(routes, key=lambda r: r == ("POST", "/logout"))  # logging out ends the session: last


@pytest.mark.parametrize("role", [None, *USERS])
def test_route_role_branch_matrix(world: dict[str, Any], role: str | None) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(world["app"])
    headers = {"X-CSRF-Token": login(client, USERS[role][0])} if role else {}
    failures = []
    others = capability_routes(world["app"])
    for key in _ordered(app_routes(world["app"])):
        rule = rule_for(*key)
        for foreign in (False, True) if rule.customer_scoped else (False,):
            loose = key in others
            method, url, kw = _loose(key) if loose else SAMPLES[key](FOREIGN if foreign else OWN, world)
            r = client.request(method, url, headers=headers, follow_redirects=False, **kw)
            want = expected(rule, role, foreign)
            if not check(r.status_code, want, url, loose):
                failures.append(f"{role} {method} {url}: expected {want}, got {r.status_code} {r.text[:120]!r}")
    assert not failures, "\n".join(failures)
