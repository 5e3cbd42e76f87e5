"""Who may call what: ONE rule per (method, route path), enforced by a dependency on every route.

A route without a rule is refused (fail closed) and ``tests/test_authz_matrix.py`` fails. ``permission`` is
``PUBLIC`` (anyone), ``LOGIN`` (any signed-in user) or a permission of ``kequn.security.roles``;
``customer_scoped`` routes take a ``{customer_id}`` that must lie in the caller's branches.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

PUBLIC: Final = "public"
LOGIN: Final = "login"


@dataclass(frozen=True)
class Rule:
    permission: str
    customer_scoped: bool = False


def _r(permission: str, scoped: bool = False) -> Rule:
    return Rule(permission, scoped)


RULES: Final[dict[tuple[str, str], Rule]] = {
    # --- console pages
    ("GET", "/"): _r("overview.view"),
    ("GET", "/login"): _r(PUBLIC),
    ("POST", "/login"): _r(PUBLIC),
    ("POST", "/logout"): _r(LOGIN),
    ("GET", "/lang/{code}"): _r(PUBLIC),
    ("GET", "/healthz"): _r(PUBLIC),
    ("GET", "/static"): _r(PUBLIC),
    ("GET", "/static/vendor"): _r(PUBLIC),
    ("GET", "/docs"): _r(LOGIN),
    ("GET", "/auth/sso/login"): _r(PUBLIC),
    ("GET", "/auth/sso/callback"): _r(PUBLIC),
    ("GET", "/customers"): _r("customer.search"),
    ("GET", "/customers/export.xlsx"): _r("customer.export"),
    ("GET", "/customers/{customer_id}"): _r("customer.view", True),
    ("POST", "/customers/{customer_id}/unmask"): _r("customer.unmask", True),
    ("GET", "/tags"): _r("tags.view"),
    ("GET", "/tags/export.xlsx"): _r("tags.view"),
    ("GET", "/dq"): _r("dq.view"),
    ("GET", "/dq/export.xlsx"): _r("dq.view"),
    ("GET", "/audit"): _r("audit.view"),
    ("GET", "/audit/export.xlsx"): _r("audit.view"),
    ("GET", "/users"): _r("users.manage"),
    ("POST", "/users"): _r("users.manage"),
    ("POST", "/users/{username}/role"): _r("users.manage"),
    # --- REST API
    ("GET", "/api/openapi.json"): _r(PUBLIC),
    ("GET", "/api/me"): _r(LOGIN),
    ("GET", "/api/overview"): _r("overview.view"),
    ("GET", "/api/customers"): _r("customer.search"),
    ("GET", "/api/customers/{customer_id}"): _r("customer.view", True),
    ("POST", "/api/customers/{customer_id}/unmask"): _r("customer.unmask", True),
    ("GET", "/api/tags"): _r("tags.view"),
    ("GET", "/api/tags/runs"): _r("tags.view"),
    ("GET", "/api/tags/report"): _r("tags.view"),
    ("GET", "/api/dq/runs"): _r("dq.view"),
    ("GET", "/api/audit"): _r("audit.view"),
    ("GET", "/api/users"): _r("users.manage"),
    ("POST", "/api/users"): _r("users.manage"),
    ("PUT", "/api/users/{username}/role"): _r("users.manage"),
    ("GET", "/api/tokens"): _r("tokens.manage"),
    ("POST", "/api/tokens"): _r("tokens.manage"),
    ("DELETE", "/api/tokens/{token_id}"): _r("tokens.manage"),
    # --- loan routing (kequn.api.routes_routing): decisions are bank-wide, so viewing is HQ/audit only
    ("POST", "/api/route"): _r("loans.route"),
    ("GET", "/api/loan-ladder"): _r("loans.view"),
    ("GET", "/api/loan-decisions"): _r("loans.view"),
    ("GET", "/api/loan-decisions/{decision_id}"): _r("loans.view"),
    ("POST", "/api/loan-decisions/{decision_id}/review"): _r("loans.review"),
    ("GET", "/api/loan-reviews"): _r("loans.review"),
    ("POST", "/api/loan-reviews/{review_id}/decide"): _r("loans.review"),
    # --- models (kequn.api.routes_models): score lists are bank-wide, so HQ roles only
    ("GET", "/api/models"): _r("models.view"),
    ("GET", "/api/models/{name}"): _r("models.view"),
    ("GET", "/api/models/leads/{score_name}"): _r("models.leads"),
    ("POST", "/api/models/{name}/{version}/submit"): _r("models.manage"),
    ("POST", "/api/models/{name}/{version}/approve"): _r("models.manage"),
    ("POST", "/api/models/{name}/{version}/promote"): _r("models.manage"),
}

#: routers of other capabilities served by the same app (included when importable). A router module may
#: declare its own ``ROUTE_PERMISSIONS`` {(method, path): permission | (permission, customer_scoped)}; they join
#: the rules above.
CAPABILITY_ROUTERS: Final[tuple[str, ...]] = ("kequn.api.routes_segments", "kequn.api.routes_routing",
                                              "kequn.api.routes_campaigns", "kequn.api.routes_models",
                                              "kequn.api.routes_rewards", "kequn.web.pages_capabilities")


@lru_cache(maxsize=1)
def all_rules() -> dict[tuple[str, str], Rule]:
    """The console's rules plus those the capability routers declare (the console's win on a clash)."""
    import importlib

    merged: dict[tuple[str, str], Rule] = {}
    for name in CAPABILITY_ROUTERS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for key, permission in getattr(module, "ROUTE_PERMISSIONS", {}).items():
            # a value is a permission, or (permission, customer_scoped) for a {customer_id} route
            merged[key] = Rule(*permission) if isinstance(permission, tuple) else Rule(permission)
    merged.update(RULES)
    return merged


def rule_for(method: str, path: str) -> Rule | None:
    return all_rules().get(("GET" if method == "HEAD" else method, path))


def routes_of(app: object) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, mounts as ("GET", prefix) — through included routers too."""
    from fastapi.routing import iter_route_contexts
    from starlette.routing import Mount

    out = []
    for ctx in iter_route_contexts(app.router.routes):  # type: ignore[attr-defined]
        if isinstance(ctx.original_route, Mount):
            out.append(("GET", ctx.original_route.path))
        elif ctx.path:
            out += [(m, ctx.path) for m in sorted(ctx.methods or ()) if m != "HEAD"]
    return out


def check_rules(app: object) -> None:
    """Refuse to start when a route has no rule (ConfigError lists each one)."""
    from kequn.errors import ConfigError
    from kequn.security.roles import PERMISSIONS

    missing = [{"route": f"{m} {p}", "problem": "no rule"} for m, p in routes_of(app) if rule_for(m, p) is None]
    missing += [{"route": f"{m} {p}", "problem": f"unknown permission {r.permission}"}
                for (m, p), r in all_rules().items() if r.permission not in (PUBLIC, LOGIN, *PERMISSIONS)]
    if missing:
        raise ConfigError(f"{len(missing)} route(s) lack a valid authorization rule (kequn.api.rules)",
                          details=missing)
