"""Campaigns (营销活动), touchpoint events, leads (商机), the biweekly review and playbooks over HTTP.

Thin: each route calls :mod:`kequn.campaigns`. The stores are the console app's
(``app.state.kequn.data`` / ``.engine``) or, for a bare app (tests, bench), ``app.state.campaigns_warehouse``
and ``app.state.campaigns_engine``. ``POST /api/events`` validates a batch against the touchpoint
catalogue (every problem listed, 422), stores new events once (dedup by event id) and hands them to the
in-process trigger evaluator. Leads are branch-scoped: a branch user sees and works only their subtree.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi import Path as FPath
from fastapi.concurrency import run_in_threadpool

from kequn.api import stores
from kequn.errors import NotFoundError, StoreError, ValidationError

router = APIRouter(tags=["campaigns 营销活动"])


def _engine(request: Request) -> Any:
    return stores.engine(request, "campaigns")


def _wh_run(request: Request) -> Any:
    """callable(fn) running fn(warehouse) under the app's warehouse lock."""
    st = getattr(request.app.state, "kequn", None)
    data = getattr(st, "data", None)
    if data is not None:
        return data.run
    wh = getattr(request.app.state, "campaigns_warehouse", None)
    if wh is None:
        raise StoreError("no warehouse configured for campaigns")
    return lambda fn: fn(wh)


def _actor(request: Request, body: dict[str, Any] | None = None, key: str = "actor") -> str:
    principal = getattr(request.state, "principal", None)
    name = principal.username if principal is not None else (body or {}).get(key)
    if not isinstance(name, str) or not name:
        raise ValidationError(f"who is acting is unknown: sign in or give {key!r}")
    return name


def _branches(request: Request) -> frozenset[str] | None:
    """The caller's branch subtree (None = whole bank, or a bare app without sign-in)."""
    principal = getattr(request.state, "principal", None)
    st = getattr(request.app.state, "kequn", None)
    if principal is None or st is None:
        return None
    return st.data.scope(principal).branches  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------- campaigns
@router.get("/api/campaigns")
def list_campaigns(request: Request) -> list[dict[str, Any]]:
    from kequn.campaigns import service

    return service.list_all(_engine(request))


@router.post("/api/campaigns")
def submit_campaign(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Submit a campaign spec (JSON, same shape as the YAML; or ``{"spec": …}``) for approval."""
    from kequn.campaigns import service

    data = body.get("spec") if "spec" in body else {k: v for k, v in body.items() if k != "maker"}
    spec = service.parse_spec(data, "campaign")
    req = service.submit(_engine(request), spec, _actor(request, body, "maker"))
    return {"campaign_id": spec.campaign_id, "version": req.version, "status": req.status, "request_id": req.id}


@router.get("/api/campaigns/{campaign_id}")
def get_campaign(request: Request, campaign_id: str) -> dict[str, Any]:
    from kequn.campaigns import service

    return service.get(_engine(request), campaign_id)


@router.post("/api/campaigns/{campaign_id}/approve")
def approve_campaign(request: Request, campaign_id: str, body: dict[str, Any] = Body(default={})) -> dict[str, Any]:
    from kequn.campaigns import service

    req = service.approve(_engine(request), campaign_id, _actor(request, body, "checker"),
                          reject_reason=body.get("reject_reason"))
    return {"campaign_id": campaign_id, "version": req.version, "status": req.status, "checker": req.checker}


@router.post("/api/campaigns/{campaign_id}/launch")
async def launch_campaign(request: Request, campaign_id: str, body: dict[str, Any] = Body(default={})) -> dict[str, Any]:
    from kequn.campaigns import service

    engine, actor, run = _engine(request), _actor(request, body), _wh_run(request)
    return await run_in_threadpool(lambda: run(lambda wh: service.launch(wh, engine, campaign_id, actor)))


@router.get("/api/campaigns/{campaign_id}/results")
def campaign_results(request: Request, campaign_id: str) -> dict[str, Any]:
    import sqlalchemy as sa

    from kequn.campaigns import review, service
    from kequn.campaigns import tables as T

    engine = _engine(request)
    spec = service.get(engine, campaign_id)["spec"]
    with engine.connect() as conn:
        runs = [r[0] for r in conn.execute(sa.select(T.campaign_run.c.run_id)
                                           .where(T.campaign_run.c.campaign_id == campaign_id))]
    return review.campaign_result(engine, campaign_id, runs, spec)


# ------------------------------------------------------------------------------------- events
def _evaluator(request: Request) -> Any:
    from kequn.campaigns.events import TriggerEvaluator

    state = request.app.state
    ev = getattr(state, "campaigns_triggers", None)
    if ev is None:
        ev = TriggerEvaluator(_engine(request), _wh_run(request))
        state.campaigns_triggers = ev
    return ev


def _catalogue(request: Request) -> dict[str, str]:
    from kequn.campaigns.events import touchpoints

    state = request.app.state
    cat = getattr(state, "campaigns_touchpoints", None)
    if cat is None:
        cat = _wh_run(request)(touchpoints)
        state.campaigns_touchpoints = cat
    return cat


@router.post("/api/events")
async def post_events(request: Request) -> dict[str, Any]:
    """A batch of touchpoint events: ``[{event_id, customer_id, touchpoint_id, ts, channel?}, …]``."""
    from kequn.campaigns import events

    raw = await request.body()
    try:
        batch = json.loads(raw)
    except ValueError as exc:
        raise ValidationError(f"body is not JSON: {exc}") from None
    catalogue = _catalogue(request)
    engine = _engine(request)

    def work() -> dict[str, Any]:
        clean = events.validate(batch, catalogue)
        accepted = events.ingest(engine, clean)
        _evaluator(request).submit(accepted)
        received = len(batch.get("events", []) if isinstance(batch, dict) else batch)
        return {"received": received, "accepted": len(accepted), "duplicates": received - len(accepted)}

    return await run_in_threadpool(work)


# ------------------------------------------------------------------------------------- leads
@router.get("/api/leads")
def list_leads(request: Request, rm_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """An RM's leads inbox (``rm_id``), or every lead within the caller's branches."""
    from kequn.campaigns import leads

    return leads.inbox(_engine(request), rm_id=rm_id, branches=_branches(request), status=status)


@router.post("/api/leads/{lead_id}/status")
def update_lead(request: Request, lead_id: Annotated[int, FPath(ge=1, le=2**62)],
                body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    from kequn.campaigns import leads

    engine = _engine(request)
    scope = _branches(request)
    if scope is not None and leads.get(engine, lead_id)["branch_id"] not in scope:
        raise NotFoundError(f"lead {lead_id} does not exist")  # existence outside the scope is not revealed
    return leads.update(engine, lead_id, str(body.get("status", "")), _actor(request, body),
                        reason=body.get("reason"))


# ------------------------------------------------------------------------------------- review, playbooks
@router.get("/api/review")
def get_review(request: Request, until: str | None = None,
               days: Annotated[int, Query(ge=1, le=366, description="Length of the review window")] = 14) -> dict[str, Any]:
    from kequn.campaigns import review

    try:
        day = dt.date.fromisoformat(until) if until else dt.date.today()
    except ValueError:
        raise ValidationError(f"until {until!r} is not a date: use YYYY-MM-DD") from None
    return review.review(_engine(request), until=day, days=days)


@router.get("/api/monitor/segments")
def monitor_segments(request: Request, until: str | None = None,
                     days: Annotated[int | None, Query(ge=1, le=366, description="Only runs of the last N days up to "
                                                                                  "`until`; default: all runs")] = None
                     ) -> list[dict[str, Any]]:
    """监测图 per audience segment: process indicators (reach, delivered, suppressed by reason, leads against
    their SLA) and result indicators (conversions by kind, lift vs control with 95% CI, cost, value, ROI)."""
    from kequn.campaigns import review

    try:
        day = dt.date.fromisoformat(until) if until else None
    except ValueError:
        raise ValidationError(f"until {until!r} is not a date: use YYYY-MM-DD") from None
    if days is not None and day is None:
        day = dt.date.today()
    return review.monitor(_engine(request), until=day, days=days)["segments"]  # type: ignore[no-any-return]


@router.get("/api/playbooks")
def list_playbooks(request: Request) -> list[dict[str, Any]]:
    from kequn.campaigns import playbooks

    return [pb.model_dump(mode="json") for pb in playbooks.shipped().values()]


@router.get("/api/playbooks/{playbook_id}/history")
def playbook_history(request: Request, playbook_id: str) -> list[dict[str, Any]]:
    from kequn.campaigns import playbooks

    return playbooks.history(_engine(request), playbook_id)


# ------------------------------------------------------------------------------------- console pages
def _page(request: Request, name: str, ctx: dict[str, Any]) -> Any:
    from kequn.web.pages import render

    return render(request, f"campaigns/{name}", ctx)


@router.get("/campaigns", include_in_schema=False)
def campaigns_page(request: Request) -> Any:
    """Build, approve, monitor (监测图): pending approvals, every campaign's result against its control and
    each audience segment's process and result indicators."""
    from kequn.campaigns import review, service
    from kequn.opstore import approvals

    engine = _engine(request)
    mon = review.monitor(engine)
    results = {r["campaign_id"]: r for r in mon["campaigns"]}
    rows = [{**c, "result": results.get(c["campaign_id"])} for c in service.list_all(engine)]
    principal = getattr(request.state, "principal", None)
    return _page(request, "index.html", {"campaigns": rows, "segments": mon["segments"],
                                         "pending": approvals.pending(engine, "campaign"),
                                         "can_manage": bool(principal and principal.can("segments.manage"))})


@router.post("/campaigns/{campaign_id}/approve", include_in_schema=False)
def campaigns_page_approve(request: Request, campaign_id: str) -> Any:
    from fastapi.responses import RedirectResponse

    from kequn.campaigns import service

    service.approve(_engine(request), campaign_id, _actor(request))
    return RedirectResponse("/campaigns", status_code=303)


@router.get("/leads", include_in_schema=False)
def leads_page(request: Request, rm_id: str | None = None) -> Any:
    from kequn.campaigns import leads

    rows = leads.inbox(_engine(request), rm_id=rm_id, branches=_branches(request))
    return _page(request, "leads.html", {"leads": rows, "rm_id": rm_id})


@router.post("/leads/{lead_id}/status", include_in_schema=False)
async def leads_page_status(request: Request, lead_id: Annotated[int, FPath(ge=1, le=2**62)]) -> Any:
    from fastapi.responses import RedirectResponse

    form = await request.form()
    body = {"status": form.get("status"), "reason": form.get("reason") or None}
    await run_in_threadpool(update_lead, request, lead_id, body)
    return RedirectResponse("/leads", status_code=303)


@router.get("/roadmap", include_in_schema=False)
def roadmap_page(request: Request) -> Any:
    from kequn.campaigns import playbooks

    engine = _engine(request)
    items = [{"pb": pb, "history": playbooks.history(engine, pid)} for pid, pb in playbooks.shipped().items()]
    return _page(request, "roadmap.html", {"playbooks": items})


#: permissions of these routes (joined into the one rule table by kequn.api.rules). Campaign work uses the
#: segment permissions until roles.py declares campaigns.* (see docs/campaigns.md); leads need customer.view
#: and are branch-scoped; events come from systems with an API token.
ROUTE_PERMISSIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/campaigns"): "segments.view",
    ("POST", "/api/campaigns"): "segments.manage",
    ("GET", "/api/campaigns/{campaign_id}"): "segments.view",
    ("POST", "/api/campaigns/{campaign_id}/approve"): "segments.manage",
    ("POST", "/api/campaigns/{campaign_id}/launch"): "segments.manage",
    ("GET", "/api/campaigns/{campaign_id}/results"): "segments.view",
    ("POST", "/api/events"): "login",
    ("GET", "/api/leads"): "customer.view",
    ("POST", "/api/leads/{lead_id}/status"): "customer.view",
    ("GET", "/api/review"): "segments.view",
    ("GET", "/api/monitor/segments"): "segments.view",
    ("GET", "/api/playbooks"): "segments.view",
    ("GET", "/api/playbooks/{playbook_id}/history"): "segments.view",
    ("GET", "/campaigns"): "segments.view",
    ("POST", "/campaigns/{campaign_id}/approve"): "segments.manage",
    ("GET", "/leads"): "customer.view",
    ("POST", "/leads/{lead_id}/status"): "customer.view",
    ("GET", "/roadmap"): "segments.view",
}
