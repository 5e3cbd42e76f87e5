"""Loan routing over HTTP: ``POST /api/route`` and the decision log, review queue and ladder views.

Thin: each route translates HTTP to a :mod:`kequn.routing.service` call. Bodies are read and validated by
Kequn (not by FastAPI) so a bad application gets one 422 listing every problem in Kequn's error shape
``{"error", "message", "details": [...]}`` — never a 500. The ops store is ``app.state.kequn.engine``
(the console's app factory) or ``app.state.routing_engine`` (a bare app, e.g. in tests and the bench).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from kequn.api import stores
from kequn.errors import KequnError, ValidationError


@asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    """On shutdown, the decision writer commits the decisions still queued and stops."""
    yield
    writer = getattr(app.state, "routing_writer", None)
    if writer is not None:
        import asyncio

        await asyncio.to_thread(writer.close)


router = APIRouter(tags=["loan routing 贷款路由"], lifespan=_lifespan)


def _engine(request: Request) -> Any:
    return stores.engine(request, "routing", "loan routing")


def _pd_model(request: Request) -> Any:
    return getattr(request.app.state, "pd_model", None)


def _writer(request: Request, engine: Any) -> Any:
    """One group-commit decision writer per app (i.e. per worker process) and ops store, started on first
    use and closed by the app's shutdown (see ``_lifespan``)."""
    from kequn.routing.store import DecisionWriter

    writer = getattr(request.app.state, "routing_writer", None)
    if writer is None or writer.engine is not engine:
        if writer is not None:
            writer.close()
        writer = request.app.state.routing_writer = DecisionWriter(engine)
    return writer


def _actor(request: Request, body: dict[str, Any], key: str) -> str:
    principal = getattr(request.state, "principal", None)
    name = principal.username if principal is not None else body.get(key)
    if not isinstance(name, str) or not name:
        raise ValidationError(f"who is acting is unknown: sign in or give {key!r}",
                              details=[{"field": key, "problem": "missing", "message": "Field required"}])
    return name


def _error(exc: KequnError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.http_status)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        raw = json.loads((await request.body()).decode("utf-8-sig") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"request body is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ValidationError("request body must be a JSON object")
    return raw


def decision_body(routed: Any, *, with_trail: bool) -> dict[str, Any]:
    from kequn.domain.loans import offer_dict
    from kequn.routing.explain import explain

    d = routed.decision
    if with_trail:
        out = d.to_dict()
    else:  # the trail is stored and served by GET /api/loan-decisions/{id}; skip serialising it here
        out = {"application_id": d.application_id, "ladder_id": d.ladder_id, "ladder_version": d.ladder_version,
               "model_version": d.model_version, "risk_grade": d.risk_grade, "outcome": d.outcome,
               "chosen": offer_dict(d.chosen), "offers": [offer_dict(o) for o in d.offers],
               "reason_codes": list(d.reason_codes)}
    return {"decision_id": routed.decision_id, "arm": routed.arm, **out, "explanation": explain(d)}


@router.post("/api/route", summary="Route one credit application to the best eligible product (路由一笔申请)")
async def post_route(request: Request, trail: bool = False) -> JSONResponse:
    """Routing is CPU work of about a millisecond, done here; only the wait for the decision log's group
    commit is asynchronous, so concurrent requests share one transaction (and one fsync)."""
    import asyncio

    from kequn.routing import service
    from kequn.routing.intake import parse_application_bytes

    try:
        app = parse_application_bytes(await request.body(), "application")
        engine = _engine(request)
        graded, decision, arm = service.decide(engine, app, pd_model=_pd_model(request))
        decision_id = await asyncio.wrap_future(_writer(request, engine).submit(graded, decision, arm=arm))
        routed = service.Routed(int(decision_id), arm, decision)
        return JSONResponse(decision_body(routed, with_trail=trail))
    except KequnError as exc:
        return _error(exc)


@router.get("/api/loan-ladder", summary="The approved loan ladder (产品阶梯)")
def get_ladder(request: Request, ladder_id: str = "main") -> JSONResponse:
    from kequn.routing import ladder

    try:
        compiled = ladder.approved(_engine(request), ladder_id)
        return JSONResponse(ladder.ladder_payload(compiled.spec))
    except KequnError as exc:
        return _error(exc)


@router.get("/api/loan-decisions", summary="Recent loan decisions (决策日志)")
def list_decisions(request: Request, limit: int = 50) -> JSONResponse:
    from kequn.routing import store

    try:
        rows = store.decisions(_engine(request), limit=max(1, min(limit, 500)))
    except KequnError as exc:
        return _error(exc)
    return JSONResponse([{"id": d.id, "decided_at": d.decided_at.isoformat(), "application_id": d.application_id,
                          "customer_id": d.customer_id, "branch_id": d.branch_id, "outcome": d.outcome,
                          "product_id": d.product_id, "apr": None if d.apr is None else str(d.apr),
                          "ladder_version": d.ladder_version, "model_version": d.model_version, "arm": d.arm,
                          "reason_codes": d.reason_codes} for d in rows])


@router.get("/api/loan-decisions/{decision_id}", summary="One decision with its trail and explanation")
def get_decision(request: Request, decision_id: int) -> JSONResponse:
    from kequn.routing import store
    from kequn.routing.explain import explain

    try:
        d = store.get_decision(_engine(request), decision_id)
    except KequnError as exc:
        return _error(exc)
    return JSONResponse({"id": d.id, "decided_at": d.decided_at.isoformat(), "arm": d.arm,
                         **d.decision.to_dict(), "explanation": explain(d.decision)})


@router.post("/api/loan-decisions/{decision_id}/review", summary="Ask a person to re-examine a decision")
async def request_review(request: Request, decision_id: int) -> JSONResponse:
    from kequn.routing import store

    try:
        body = await _json_object(request)
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("a review request needs a reason",
                                  details=[{"field": "reason", "problem": "missing", "message": "Field required"}])
        rid = store.request_review(_engine(request), decision_id, _actor(request, body, "requested_by"), reason)
        return JSONResponse({"review_id": rid, "status": "open"}, status_code=201)
    except KequnError as exc:
        return _error(exc)


@router.get("/api/loan-reviews", summary="The review queue (人工复核队列)")
def list_reviews(request: Request, status: str | None = "open") -> JSONResponse:
    from kequn.routing import store

    try:
        rows = store.reviews(_engine(request), None if status in (None, "all") else status)
    except KequnError as exc:
        return _error(exc)
    return JSONResponse(json.loads(json.dumps(rows, default=str)))


@router.post("/api/loan-reviews/{review_id}/decide", summary="A reviewer upholds or overturns a decision")
async def decide_review(request: Request, review_id: int) -> JSONResponse:
    from kequn.routing import store

    try:
        body = await _json_object(request)
        row = store.decide_review(_engine(request), review_id, _actor(request, body, "reviewer"),
                                  str(body.get("status", "")), str(body.get("note", "")))
        return JSONResponse(json.loads(json.dumps(row, default=str)))
    except KequnError as exc:
        return _error(exc)


__all__ = ["decision_body", "router"]
