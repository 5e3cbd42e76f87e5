"""Segments (客群), journeys (旅程) and the panorama (全景图) over HTTP — JSON, personal data masked.

Thin: each route calls :mod:`kequn.segments` / :mod:`kequn.graph`. The stores are the console app's
(``app.state.kequn.data.wh`` and ``app.state.kequn.engine``) or, for a bare app (tests, bench),
``app.state.segments_warehouse`` and ``app.state.segments_engine``. Errors are KequnErrors, rendered by
the app's one error handler.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.concurrency import run_in_threadpool

from kequn.api import stores
from kequn.domain.days import day_or_today
from kequn.errors import SegmentError, ValidationError

router = APIRouter(tags=["segments 客群"])


def _warehouse(request: Request) -> Any:
    return stores.warehouse(request, "segments")


def _engine(request: Request) -> Any:
    return stores.engine(request, "segments")


def _actor(request: Request, body: dict[str, Any], key: str) -> str:
    principal = getattr(request.state, "principal", None)
    name = principal.username if principal is not None else body.get(key)
    if not isinstance(name, str) or not name:
        raise ValidationError(f"who is acting is unknown: sign in or give {key!r}")
    return name


def _day(value: Any) -> dt.date:
    return day_or_today(value, "as_of")


def _run(request: Request, fn: Any) -> Any:
    def job() -> Any:
        with _warehouse(request) as wh:
            return fn(wh)

    return run_in_threadpool(job)


# ----------------------------------------------------------------------------------------- segments
@router.get("/api/segments")
async def list_segments(request: Request, as_of: str | None = None, sizes: str = "stored") -> list[dict[str, Any]]:
    """Every segment with its status and size. ``sizes``: ``stored`` (default — the latest stored snapshot
    on or before ``as_of``, with its day; nothing is computed), ``missing`` (stored, live for the segments
    without a snapshot) or ``live`` (all computed now). See ``kequn.segments.service.sizes``."""
    from kequn.segments import definitions, service

    day = _day(as_of)
    if sizes not in service.SIZE_MODES:
        raise ValidationError(f"sizes {sizes!r} is not one of {', '.join(service.SIZE_MODES)}")
    defs = definitions.all_definitions(_engine(request))
    segs = [d for d, _status in defs.values()]
    got = await _run(request, lambda wh: service.sizes(wh, segs, day, sizes))
    return [{**d.model_dump(mode="json"), "status": status, "size": got[d.id]["size"],
             "size_as_of": got[d.id]["as_of"], "size_source": got[d.id]["source"]}
            for d, status in defs.values()]


@router.post("/api/segments/check")
async def check_rule(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Parse and type-check a rule (the segment builder calls this as the user types)."""
    from kequn.segments import catalogue, service

    rule, entity = body.get("rule"), body.get("entity", "customer")
    if not isinstance(rule, str) or not isinstance(entity, str):
        raise ValidationError("body needs 'rule' (text) and optionally 'entity' (customer, enterprise, merchant)")

    def job(wh: Any) -> dict[str, Any]:
        try:
            service.validate_rule(rule, entity, catalogue.load(wh))
        except SegmentError as exc:
            return {"valid": False, "message": exc.message, "position": exc.position, "details": exc.details}
        return {"valid": True}

    return await _run(request, job)


@router.post("/api/segments/preview")
async def preview(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Live size of an unsaved rule as of a date (segment builder)."""
    from kequn.segments import service
    from kequn.segments.definitions import from_payload

    seg = from_payload({"id": "preview", "name_zh": "预览", "name_en": "preview",
                        "entity": body.get("entity", "customer"), "rule": body.get("rule")})
    day = _day(body.get("as_of"))
    return {"as_of": day, "size": await _run(request, lambda wh: service.size(wh, seg, day))}


@router.post("/api/segments")
async def create_segment(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    from kequn.segments import service
    from kequn.segments.definitions import from_payload

    maker = _actor(request, body, "maker")
    ids = body.pop("ids", None)
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, (str, int)) for i in ids)):
        raise ValidationError("'ids' must be a list of ids (text or numbers)")
    fields = {k: v for k, v in body.items() if k != "maker"}
    seg = from_payload({"owner": maker, **fields})
    req = await _run(request, lambda wh: service.create(_engine(request), wh, seg, maker, ids))
    return {"segment": seg.id, "version": req.version, "request": req.id, "status": req.status}


@router.get("/api/segments/{segment_id}")
def show_segment(request: Request, segment_id: str) -> dict[str, Any]:
    from kequn.errors import NotFoundError
    from kequn.segments import definitions

    found = definitions.all_definitions(_engine(request)).get(segment_id)
    if found is None:
        raise NotFoundError(f"unknown segment {segment_id!r}")
    from kequn.segments.service import usable

    return {**found[0].model_dump(mode="json"), "status": found[1], "usable": usable(segment_id, _engine(request))}


@router.post("/api/segments/{segment_id}/approve")
def approve_segment(request: Request, segment_id: str, body: dict[str, Any] = Body(default={})) -> dict[str, Any]:
    from kequn.segments import service

    checker = _actor(request, body, "checker")
    reason = body.get("reject_reason")
    if reason is not None and not isinstance(reason, str):
        raise ValidationError("'reject_reason' must be text")
    req = service.approve(_engine(request), segment_id, checker, reject_reason=reason)
    return {"segment": segment_id, "version": req.version, "status": req.status, "checker": req.checker}


@router.get("/api/segments/{segment_id}/size")
async def segment_size(request: Request, segment_id: str, as_of: str | None = None) -> dict[str, Any]:
    from kequn.segments import definitions, service, store

    seg, day = definitions.get(_engine(request), segment_id), _day(as_of)

    def job(wh: Any) -> dict[str, Any]:
        trend = store.trend(wh, segment_id) if wh.has_table("segment_snapshot") else []
        return {"segment": segment_id, "as_of": day, "size": service.size(wh, seg, day), "trend": trend}

    return await _run(request, job)


@router.get("/api/segments/{segment_id}/members")
async def segment_members(request: Request, segment_id: str, as_of: str | None = None,
                          limit: int = 100) -> dict[str, Any]:
    """Members with contact columns, personal data masked."""
    from kequn.segments import definitions, service

    seg, day = definitions.get(_engine(request), segment_id), _day(as_of)
    rows = await _run(request, lambda wh: service.export_rows(wh, seg, day, limit=max(1, min(limit, 1000))))
    return {"segment": segment_id, "as_of": day, "rows": rows}


@router.get("/api/segments/{segment_id}/profile")
async def segment_profile(request: Request, segment_id: str, as_of: str | None = None,
                          tags: str | None = None) -> dict[str, Any]:
    """客群画像: shares, means, medians and top values of tags in the segment against everyone."""
    from kequn.segments import definitions, service
    from kequn.segments.portrait import portrait

    seg, day = definitions.get(_engine(request), segment_id), _day(as_of)
    wanted = [t for t in (tags or "").split(",") if t] or None
    return await _run(request, lambda wh: portrait(wh, seg, service.evaluate(wh, seg, day), day, wanted))


# ----------------------------------------------------------------------------------------- journeys
@router.get("/api/journeys")
def list_tracks() -> list[dict[str, Any]]:
    from kequn.segments import journeys

    return [t.model_dump(mode="json") for t in journeys.load_tracks().values()]


@router.get("/api/journeys/{track_id}/funnel")
async def journey_funnel(request: Request, track_id: str, as_of: str | None = None) -> dict[str, Any]:
    from kequn.segments import journeys

    track, day = journeys.get_track(track_id), _day(as_of)

    def job(wh: Any) -> dict[str, Any]:
        return {"track": track_id, "as_of": day, "funnel": journeys.funnel(wh, track, day),
                "dwell": journeys.dwell(wh, track), "touchpoints": journeys.touchpoints(wh, track, day)}

    return await _run(request, job)


# ----------------------------------------------------------------------------------------- graph
@router.get("/api/graph/enterprises/{enterprise_id}")
async def enterprise_panorama(request: Request, enterprise_id: str, as_of: str | None = None) -> dict[str, Any]:
    from kequn.errors import NotFoundError
    from kequn.graph import panorama

    day = _day(as_of)
    rows = await _run(request, lambda wh: panorama(wh, day, enterprise_id).to_pyarrow().to_pylist())
    if not rows:
        raise NotFoundError(f"enterprise {enterprise_id!r} has nobody on payroll as of {day}")
    return rows[0]


@router.get("/api/graph/headcount-fell")
async def headcount_fell(request: Request, as_of: str | None = None, min_drop: int = 1) -> list[dict[str, Any]]:
    from kequn.graph import headcount_fell as fell

    day = _day(as_of)
    return await _run(request, lambda wh: fell(wh, day, min_drop=min_drop).order_by("change").limit(1000)
                      .to_pyarrow().to_pylist())


@router.get("/api/graph/chains")
async def gbc_chains(request: Request, as_of: str | None = None, programme: str | None = None) -> list[dict[str, Any]]:
    from kequn.graph import chains

    day = _day(as_of)
    return await _run(request, lambda wh: chains(wh, day, programme).limit(1000).to_pyarrow().to_pylist())


#: authorization rules the console's ``kequn.api.rules.RULES`` needs for these routes (method, path) →
#: permission, using the permissions declared in ``kequn.security.roles``
ROUTE_PERMISSIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/segments"): "segments.view",
    ("POST", "/api/segments/check"): "segments.view",
    ("POST", "/api/segments/preview"): "segments.view",
    ("POST", "/api/segments"): "segments.manage",
    ("GET", "/api/segments/{segment_id}"): "segments.view",
    ("POST", "/api/segments/{segment_id}/approve"): "segments.manage",
    ("GET", "/api/segments/{segment_id}/size"): "segments.view",
    ("GET", "/api/segments/{segment_id}/members"): "segments.members",
    ("GET", "/api/segments/{segment_id}/profile"): "segments.view",
    ("GET", "/api/journeys"): "segments.view",
    ("GET", "/api/journeys/{track_id}/funnel"): "segments.view",
    ("GET", "/api/graph/enterprises/{enterprise_id}"): "graph.view",
    ("GET", "/api/graph/headcount-fell"): "graph.view",
    ("GET", "/api/graph/chains"): "graph.view",
}
