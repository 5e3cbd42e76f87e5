"""``create_app(settings)``: the FastAPI application — REST API under ``/api`` (OpenAPI at
``/api/openapi.json``, a local reference page at ``/docs``) and the Jinja2 console — with one
authorization gate, security headers, masked access logs and one error handler for ``KequnError``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from kequn import __version__
from kequn.api.deps import AppState, check_csrf, enforce
from kequn.api.rules import check_rules
from kequn.errors import AuthenticationError, KequnError

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
log = logging.getLogger("kequn.access")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"


def create_app(settings: Any, *, warehouse: Any = None, opstore: Any = None, sso: Any = None) -> FastAPI:
    """The app for ``settings``; ``warehouse`` (a Warehouse) and ``opstore`` (an Engine) default to the
    stores the settings name. Refuses to start with a missing or default secret outside demo mode."""
    from fastapi.templating import Jinja2Templates

    from kequn.security.auth import check_secret
    from kequn.services.console import ConsoleData

    secret = check_secret(settings.secret_key, demo=settings.demo)
    if warehouse is None:
        from kequn.warehouse import connect

        warehouse = connect(settings.resolved_warehouse_url, threads=settings.threads)
    if opstore is None:
        from kequn.opstore import engine_for

        opstore = engine_for(settings.resolved_opstore_url)
    app = FastAPI(title="Kequn 客群 API", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json", dependencies=[Depends(enforce), Depends(check_csrf)],
                  description="REST API of Kequn. Personal data is masked by default; unmasking needs the "
                              "customer.unmask permission and a reason, and is audited.")
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    app.state.kequn = AppState(settings=settings, secret_key=secret, engine=opstore,
                               data=ConsoleData(warehouse), sso=sso, templates=templates)
    _mount_static(app)
    _routes(app)
    _errors(app)
    _middleware(app)
    check_rules(app)
    return app


def _mount_static(app: FastAPI) -> None:
    import plotly

    app.mount("/static/vendor", StaticFiles(directory=str(Path(plotly.__file__).parent / "package_data")),
              name="vendor")
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")


def _routes(app: FastAPI) -> None:
    import importlib

    from kequn.api import routes_api
    from kequn.api.rules import CAPABILITY_ROUTERS
    from kequn.web import pages

    app.include_router(routes_api.router)
    app.include_router(pages.router)
    for name in CAPABILITY_ROUTERS:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:  # a capability not installed in this build
            logging.getLogger("kequn.api").warning("router %s not served: %s", name, exc)
            continue
        app.include_router(module.router)


def _middleware(app: FastAPI) -> None:
    @app.middleware("http")
    async def headers_and_access_log(request: Request, call_next: Any) -> Response:
        t0 = time.perf_counter()
        response: Response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if request.url.scheme == "https":
            response.headers["Strict-Transport-Security"] = HSTS
        if not request.url.path.startswith("/static"):
            response.headers.setdefault("Cache-Control", "no-store")
        principal = getattr(request.state, "principal", None)
        # query values may hold a phone number or a name: only their keys are logged
        log.info("%s %s%s %s %.0fms user=%s", request.method, request.url.path,
                 ("?" + "&".join(sorted(request.query_params.keys()))) if request.query_params else "",
                 response.status_code, (time.perf_counter() - t0) * 1000,
                 principal.username if principal else "-")
        return response


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api") or "application/json" in request.headers.get("accept", "") \
        and "text/html" not in request.headers.get("accept", "")


def _errors(app: FastAPI) -> None:
    @app.exception_handler(KequnError)
    async def kequn_error(request: Request, exc: KequnError) -> Response:
        if _is_api(request):
            headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
            return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)
        if isinstance(exc, AuthenticationError) and exc.http_status == 401:
            return RedirectResponse("/login", status_code=303)
        from kequn.web.pages import render

        return render(request, "error.html", {"error": exc}, status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        details = [{"where": ".".join(map(str, e.get("loc", ()))), "message": e.get("msg", "")}
                   for e in exc.errors()]
        from kequn.errors import ValidationError

        return await kequn_error(request, ValidationError(f"invalid request: {len(details)} problem(s)",
                                                          details=details))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        err = KequnError(str(exc.detail))
        err.http_status, err.code = exc.status_code, "http_error"  # type: ignore[misc]
        return await kequn_error(request, err)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        logging.getLogger("kequn.api").exception("internal error on %s %s", request.method, request.url.path)
        return await kequn_error(request, KequnError(f"internal error ({type(exc).__name__}); see the server log"))
