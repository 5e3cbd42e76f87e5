"""Console pages (server-rendered, Chinese by default). Each route names its rule in ``kequn.api.rules``;
tables are sortable, paginated and exportable to Excel (masked, audited)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kequn.api.deps import CurrentUser, State, app_state, client_of
from kequn.errors import AuthenticationError, PermissionDenied
from kequn.security import auth
from kequn.web.i18n import pick_lang, translate

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
Page = Annotated[int, Query(ge=1, le=100000)]


# ------------------------------------------------------------------ rendering
def render(request: Request, name: str, ctx: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    st = app_state(request)
    lang = pick_lang(request.cookies.get("lang"))
    principal = getattr(request.state, "principal", None)
    context = {"t": lambda key: translate(key, lang), "lang": lang, "user": principal,
               "csrf": principal.csrf_token if principal else "", "demo": st.settings.demo, **(ctx or {})}
    return st.templates.TemplateResponse(request, name, context, status_code=status_code)  # type: ignore[no-any-return]


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], request: Request, *,
          sortable: Sequence[str] = (), sort: str | None = None, desc: bool = False, page: int = 1,
          total: int | None = None, presorted: bool = False, export: str | None = None,
          link: tuple[str, str] | None = None) -> dict[str, Any]:
    """The context of one table: sorts and pages ``rows`` in memory unless the caller already did."""
    rows = list(rows)
    if not presorted:
        if sort in sortable:
            rows.sort(key=lambda r: (r.get(sort) is None, _key(r.get(sort))), reverse=desc)
        total = len(rows)
        rows = rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    total = len(rows) if total is None else total
    params = {k: v for k, v in request.query_params.items() if k not in ("sort", "desc", "page")}
    return {"rows": rows, "columns": columns, "sortable": set(sortable), "sort": sort, "desc": desc,
            "page": page, "pages": max(1, -(-total // PAGE_SIZE)), "total": total, "params": params,
            "export": export, "link": link}


def _key(v: Any) -> Any:
    return (0, v) if isinstance(v, (int, float, Decimal)) else (1, str(v))


def _audit(st: Any, user: auth.Principal, action: str, target: str, reason: str | None = None,
           **details: Any) -> None:
    from kequn.opstore import audit

    audit.record(st.engine, user.username, action, target, reason=reason, details=details or None)


def _xlsx(st: Any, user: auth.Principal, name: str, columns: Sequence[tuple[str, str]],
          rows: Sequence[dict[str, Any]], lang: str, **details: Any) -> Response:
    from kequn.services.exports import XLSX_TYPE, to_xlsx

    labelled = [(k, translate(label, lang)) for k, label in columns]
    body = to_xlsx(name, labelled, rows)
    _audit(st, user, "export", f"export:{name}", rows=len(rows), masked=True, **details)
    return Response(body, media_type=XLSX_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="kequn-{name}.xlsx"'})


# ------------------------------------------------------------------ public
@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/lang/{code}")
def set_lang(code: str, request: Request) -> RedirectResponse:
    back = request.headers.get("referer") or "/"
    if not back.startswith(str(request.base_url)):
        back = "/"
    resp = RedirectResponse(back, status_code=303)
    resp.set_cookie("lang", pick_lang(code), max_age=365 * 86400, samesite="lax", httponly=True)
    return resp


@router.get("/login")
def login_page(request: Request, error: str | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", {"login_csrf": token, "error": error, "sso": app_state(request).sso})
    resp.set_cookie(auth.LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=3600,
                    secure=request.url.scheme == "https")
    return resp


@router.post("/login")
def login(request: Request, st: State, username: Annotated[str, Form(max_length=128)],
          password: Annotated[str, Form(max_length=256)], csrf_token: Annotated[str, Form()] = "") -> Response:
    from kequn.services import users

    if not auth.same(csrf_token, request.cookies.get(auth.LOGIN_CSRF_COOKIE)):
        raise PermissionDenied("login form expired (CSRF check failed): reload the login page")
    st.limiter.hit(client_of(request))
    try:
        user = users.authenticate(st.engine, username, password, client=client_of(request))
    except AuthenticationError as exc:
        return login_page(request, error=exc.message)
    return _signed_in(request, st, users.start_session(st.engine, st.secret_key, user)[0])


def _signed_in(request: Request, st: Any, token: str) -> Response:
    resp = RedirectResponse("/", status_code=303)
    resp.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                    max_age=auth.SESSION_MAX_HOURS * 3600)
    resp.delete_cookie(auth.LOGIN_CSRF_COOKIE)
    return resp


@router.post("/logout")
def logout(request: Request, user: CurrentUser, st: State) -> RedirectResponse:
    from kequn.services import users

    users.end_session(st.engine, st.secret_key, request.cookies.get(auth.SESSION_COOKIE, ""), actor=user.username)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(auth.SESSION_COOKIE)
    return resp


@router.get("/auth/sso/login")
def sso_login(request: Request, st: State) -> RedirectResponse:
    if st.sso is None:
        raise AuthenticationError("single sign-on is not configured on this server")
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    resp = RedirectResponse(st.sso.login_url(state, nonce), status_code=303)
    signed = f"{state}.{nonce}.{auth.token_hash(st.secret_key, state + nonce)}"
    resp.set_cookie("kequn_sso", signed, httponly=True, samesite="lax", max_age=600,
                    secure=request.url.scheme == "https")
    return resp


@router.get("/auth/sso/callback")
def sso_callback(request: Request, st: State, code: str = "", state: str = "") -> Response:
    from kequn.services import users

    if st.sso is None:
        raise AuthenticationError("single sign-on is not configured on this server")
    parts = request.cookies.get("kequn_sso", "").split(".")
    if len(parts) != 3 or not auth.same(parts[0], state) or not code or \
            not auth.same(parts[2], auth.token_hash(st.secret_key, parts[0] + parts[1])):
        raise AuthenticationError("SSO login failed: state does not match this browser's login")
    identity = st.sso.complete(code, parts[1])
    user = users.find_sso_user(st.engine, identity.subject, identity.username)
    resp = _signed_in(request, st, users.start_session(st.engine, st.secret_key, user, via="sso")[0])
    resp.delete_cookie("kequn_sso")
    return resp


# ------------------------------------------------------------------ overview (全景图)
BRANCH_COLUMNS = (("branch_id", "col_branch_id"), ("branch", "col_branch"), ("customers", "col_customers"),
                  ("active", "col_active"), ("aum", "col_aum"))


@router.get("/")
def home(request: Request, user: CurrentUser, st: State, sort: str = "customers", desc: bool = True,
         page: Page = 1) -> HTMLResponse:
    o = st.data.overview(user)
    chart = {"branches": [b["branch"] for b in o["branches"]], "aum": [float(b["aum"]) for b in o["branches"]],
             "segments": [s["segment"] for s in o["segments"]], "segment_customers": [s["customers"] for s in o["segments"]]}
    from kequn.services.governance import segment_list

    tbl = table(o["branches"], BRANCH_COLUMNS, request, sortable=[c for c, _ in BRANCH_COLUMNS], sort=sort,
                desc=desc, page=page)
    return render(request, "home.html", {"o": o, "chart": json.dumps(chart, ensure_ascii=False), "tbl": tbl,
                                         "segments": segment_list(st.engine)})


# ------------------------------------------------------------------ customers (高清图)
CUSTOMER_COLUMNS = (("customer_id", "col_customer_id"), ("name", "col_name"), ("phone", "col_phone"),
                    ("id_number", "col_id_number"), ("city", "col_city"), ("branch", "col_branch"),
                    ("onboarded_on", "col_onboarded"), ("status", "col_status"))
CUSTOMER_SORTABLE = ("customer_id", "name", "city", "onboarded_on", "status")


@router.get("/customers")
def customers(request: Request, user: CurrentUser, st: State, q: Annotated[str, Query(max_length=64)] = "",
              sort: str = "customer_id", desc: bool = False, page: Page = 1) -> HTMLResponse:
    p = st.data.search(user, q, sort=sort if sort in CUSTOMER_SORTABLE else "customer_id", desc=desc, page=page,
                       size=PAGE_SIZE)
    tbl = table(p.rows, CUSTOMER_COLUMNS, request, sortable=CUSTOMER_SORTABLE, sort=sort, desc=desc, page=page,
                total=p.total, presorted=True, export="/customers/export.xlsx", link=("customer_id", "/customers/"))
    return render(request, "customers.html", {"q": q, "tbl": tbl})


@router.get("/customers/export.xlsx")
def customers_export(request: Request, user: CurrentUser, st: State,
                     q: Annotated[str, Query(max_length=64)] = "") -> Response:
    from kequn.services.exports import MAX_EXPORT_ROWS

    p = st.data.search(user, q, size=200)
    rows = list(p.rows)
    for n in range(2, min(p.pages, MAX_EXPORT_ROWS // 200) + 1):
        rows += st.data.search(user, q, page=n, size=200).rows
    return _xlsx(st, user, "customers", CUSTOMER_COLUMNS, rows, pick_lang(request.cookies.get("lang")),
                 query_given=bool(q))


@router.get("/customers/{customer_id}")
def customer_page(customer_id: str, request: Request, user: CurrentUser, st: State) -> HTMLResponse:
    view = st.data.customer_360(user, customer_id)
    _audit(st, user, "customer.view", f"customer:{customer_id}")
    return render(request, "customer.html", {"cid": customer_id, "view": view, "unmasked": False})


@router.post("/customers/{customer_id}/unmask")
def customer_unmask(customer_id: str, request: Request, user: CurrentUser, st: State,
                    reason: Annotated[str, Form(max_length=500)] = "") -> HTMLResponse:
    from kequn.services.console import check_unmask

    reason = check_unmask(user, reason)
    _audit(st, user, "customer.unmask", f"customer:{customer_id}", reason=reason)
    view = st.data.customer_360(user, customer_id, unmask=True, reason=reason)
    return render(request, "customer.html", {"cid": customer_id, "view": view, "unmasked": True})


# ------------------------------------------------------------------ tags, DQ, audit
TAG_COLUMNS = (("id", "col_tag_id"), ("name_zh", "col_tag_name"), ("entity", "col_entity"),
               ("category", "col_category"), ("value_type", "col_value_type"), ("owner", "col_owner"),
               ("version", "col_version"), ("refresh", "col_refresh"), ("pi_class", "col_pi_class"))


@router.get("/tags")
def tags_page(request: Request, user: CurrentUser, st: State, sort: str = "id", desc: bool = False,
              page: Page = 1) -> HTMLResponse:
    from kequn.services.governance import tag_catalogue, tag_governance
    from kequn.tags.store import run_history

    rows = tag_catalogue()
    tbl = table(rows, TAG_COLUMNS, request, sortable=[c for c, _ in TAG_COLUMNS], sort=sort, desc=desc, page=page,
                export="/tags/export.xlsx")
    runs = st.data.run(lambda wh: run_history(wh, None, 9))  # the latest three days of the three entities
    from kequn.tags.catalog import CATEGORY_ZH

    return render(request, "tags.html", {"gov": tag_governance(rows), "tbl": tbl, "runs": runs, "cat_zh": CATEGORY_ZH})


@router.get("/tags/export.xlsx")
def tags_export(request: Request, user: CurrentUser, st: State) -> Response:
    from kequn.services.governance import tag_catalogue

    return _xlsx(st, user, "tags", TAG_COLUMNS, tag_catalogue(), pick_lang(request.cookies.get("lang")))


DQ_COLUMNS = (("id", "col_run"), ("started_at", "col_started"), ("as_of", "col_as_of"), ("status", "col_status"),
              ("n_rules", "col_rules"), ("n_pass", "col_pass"), ("n_fail", "col_fail"),
              ("n_blocking_failed", "col_blocking"))


@router.get("/dq")
def dq_page(request: Request, user: CurrentUser, st: State, sort: str = "id", desc: bool = True,
            page: Page = 1) -> HTMLResponse:
    from kequn.services.governance import dq_history

    tbl = table(dq_history(st.engine, 1000), DQ_COLUMNS, request, sortable=[c for c, _ in DQ_COLUMNS], sort=sort,
                desc=desc, page=page, export="/dq/export.xlsx")
    return render(request, "table_page.html", {"title": "dq_title", "tbl": tbl})


@router.get("/dq/export.xlsx")
def dq_export(request: Request, user: CurrentUser, st: State) -> Response:
    from kequn.services.governance import dq_history

    return _xlsx(st, user, "dq", DQ_COLUMNS, dq_history(st.engine, 1000), pick_lang(request.cookies.get("lang")))


AUDIT_COLUMNS = (("id", "col_run"), ("at", "col_at"), ("actor", "col_actor"), ("action", "col_action"),
                 ("target", "col_target"), ("reason", "col_reason"), ("details", "col_details"))


def _audit_rows(st: Any, limit: int = 2000) -> list[dict[str, Any]]:
    from kequn.opstore import audit

    return [{"id": e.id, "at": e.at.strftime("%Y-%m-%d %H:%M:%S"), "actor": e.actor, "action": e.action,
             "target": e.target, "reason": e.reason or "",
             "details": json.dumps(e.details, ensure_ascii=False) if e.details else ""}
            for e in audit.entries(st.engine, limit=limit)]


@router.get("/audit")
def audit_page(request: Request, user: CurrentUser, st: State, sort: str = "id", desc: bool = True,
               page: Page = 1) -> HTMLResponse:
    tbl = table(_audit_rows(st), AUDIT_COLUMNS, request, sortable=[c for c, _ in AUDIT_COLUMNS], sort=sort,
                desc=desc, page=page, export="/audit/export.xlsx")
    return render(request, "table_page.html", {"title": "audit_title", "tbl": tbl})


@router.get("/audit/export.xlsx")
def audit_export(request: Request, user: CurrentUser, st: State) -> Response:
    return _xlsx(st, user, "audit", AUDIT_COLUMNS, _audit_rows(st), pick_lang(request.cookies.get("lang")))


# ------------------------------------------------------------------ users (admin)
@router.get("/users")
def users_page(request: Request, user: CurrentUser, st: State) -> HTMLResponse:
    from kequn.security.roles import PERMISSIONS, ROLE_NAMES, ROLE_PERMISSIONS
    from kequn.services import users

    return render(request, "users.html", {"users": users.list_users(st.engine), "roles": ROLE_NAMES,
                                          "perms": PERMISSIONS, "grants": ROLE_PERMISSIONS})


@router.post("/users")
def users_create(request: Request, user: CurrentUser, st: State, username: Annotated[str, Form(max_length=128)],
                 role: Annotated[str, Form()], password: Annotated[str, Form(max_length=256)] = "",
                 branch_id: Annotated[str, Form(max_length=64)] = "") -> RedirectResponse:
    from kequn.services import users

    users.create_user(st.engine, username, role, password=password or None, branch_id=branch_id or None,
                      actor=user.username)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{username}/role")
def users_role(username: str, request: Request, user: CurrentUser, st: State, role: Annotated[str, Form()],
               branch_id: Annotated[str, Form(max_length=64)] = "") -> RedirectResponse:
    from kequn.services import users

    users.set_role(st.engine, username, role, branch_id or None, actor=user.username)
    return RedirectResponse("/users", status_code=303)


# ------------------------------------------------------------------ API reference (offline)
@router.get("/docs")
def docs(request: Request, user: CurrentUser) -> HTMLResponse:
    spec = request.app.openapi()
    ops = [{"method": m.upper(), "path": p, "summary": op.get("summary", "")}
           for p, methods in spec["paths"].items() for m, op in methods.items()]
    return render(request, "docs.html", {"ops": ops, "title": spec["info"]["title"], "version": spec["info"]["version"]})
