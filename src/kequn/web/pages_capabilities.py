"""Console pages for segments (客群), journeys, the enterprise panorama (全景图) and loan routing (数字化产品).

Thin: each page reads through the same services as the REST routes (:mod:`kequn.segments`,
:mod:`kequn.graph`, :mod:`kequn.routing`) and renders a template under ``templates/caps/``. The segment
builder checks and sizes a rule live in the browser through ``/api/segments/check`` and
``/api/segments/preview`` (``static/segments.js``). Personal data is masked; charts use the local plotly.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from kequn.domain.days import day_or_today
from kequn.errors import KequnError, NotFoundError, ValidationError

router = APIRouter(include_in_schema=False)


def _render(request: Request, name: str, ctx: dict[str, Any]) -> Any:
    from kequn.web.pages import render

    return render(request, f"caps/{name}", ctx)


def _st(request: Request) -> Any:
    return request.app.state.kequn


def _can(request: Request, permission: str) -> bool:
    principal = getattr(request.state, "principal", None)
    return bool(principal and principal.can(permission))


def _day(value: str | None) -> dt.date:
    return day_or_today(value, "as_of")


async def _wh(request: Request, fn: Any) -> Any:
    """``fn(warehouse)`` in a worker thread under the console's warehouse lock."""
    data = _st(request).data

    def job() -> Any:
        with data.locked() as wh:
            return fn(wh)

    return await run_in_threadpool(job)


def _pct(x: Any) -> str:
    return "" if x is None else f"{float(x) * 100:.1f}%"


# ------------------------------------------------------------------------------------- segments
@router.get("/segments")
async def segments_page(request: Request, as_of: str | None = None, live: bool = False) -> Any:
    """Every segment with status and size; the journey tracks. Sizes come from the latest stored daily
    snapshot (with its day) and are computed live only for segments without one — or for all with
    ``?live=true`` (on demand), so the list stays fast on a big warehouse."""
    from kequn.segments import definitions, journeys, service

    day = _day(as_of)
    defs = definitions.all_definitions(_st(request).engine)
    segs = [seg for seg, _status in defs.values()]
    size = await _wh(request, lambda wh: service.sizes(wh, segs, day, "live" if live else "missing"))
    rows = [{"id": sid, "name": seg.name_zh, "entity": seg.entity, "status": status, "rule": seg.rule,
             "size": size[sid]["size"], "size_as_of": size[sid]["as_of"], "size_source": size[sid]["source"]}
            for sid, (seg, status) in sorted(defs.items())]
    return _render(request, "segments.html", {"segments": rows, "as_of": day, "live": live,
                                              "tracks": list(journeys.load_tracks().values())})


@router.get("/segments/builder")
def segment_builder_page(request: Request) -> Any:
    return _render(request, "builder.html", {"entities": ("customer", "enterprise", "merchant")})


@router.get("/segments/{segment_id}")
async def segment_portrait_page(request: Request, segment_id: str, as_of: str | None = None) -> Any:
    """客群高清图: the segment's definition and its portrait against the whole population."""
    from kequn.segments import definitions, service
    from kequn.segments.portrait import portrait

    engine, day = _st(request).engine, _day(as_of)
    defs = definitions.all_definitions(engine)
    if segment_id not in defs:
        raise NotFoundError(f"segment {segment_id!r} not found")
    seg, status = defs[segment_id]
    port = await _wh(request, lambda wh: portrait(wh, seg, service.evaluate(wh, seg, day), day))
    return _render(request, "segment.html", {"seg": seg, "status": status, "p": port, "as_of": day, "pct": _pct})


@router.get("/journeys/{track_id}")
async def journey_page(request: Request, track_id: str, as_of: str | None = None) -> Any:
    """The journey funnel: stage counts, conversion, median dwell (plotly served locally)."""
    from kequn.segments import journeys

    track, day = journeys.get_track(track_id), _day(as_of)
    funnel, dwell = await _wh(request, lambda wh: (journeys.funnel(wh, track, day), journeys.dwell(wh, track)))
    dwell_by = {d["stage"]: d for d in dwell}
    rows = [{**f, "median_days": dwell_by.get(f["stage"], {}).get("median_days")} for f in funnel]
    main = [r for r in rows if not r.get("side")]
    chart = json.dumps({"stages": [r["name_zh"] for r in main], "reached": [r["reached"] for r in main]},
                       ensure_ascii=False)
    return _render(request, "journey.html", {"track": track, "rows": rows, "as_of": day, "chart": chart,
                                             "pct": _pct})


# ------------------------------------------------------------------------------------- panorama
@router.get("/panorama")
async def panorama_list_page(request: Request, as_of: str | None = None) -> Any:
    """Enterprises with anyone on payroll, largest first (links to each panorama)."""
    import ibis

    from kequn.graph import panorama

    day = _day(as_of)
    rows = await _wh(request, lambda wh: panorama(wh, day).order_by([ibis.desc("employees"), "enterprise_id"])
                     .limit(200).to_pyarrow().to_pylist())
    return _render(request, "panorama_list.html", {"rows": rows, "as_of": day, "pct": _pct})


@router.get("/panorama/{enterprise_id}")
async def panorama_page(request: Request, enterprise_id: str, as_of: str | None = None) -> Any:
    """全景图 of one enterprise: employees on payroll, product penetration, app-active share; the
    enterprise → employee graph (drawn as SVG, masked names, the caller's branches only, at most
    ``graphsvg.MAX_EMPLOYEE_NODES`` employees drawn — largest AUM first — the table lists up to 500); and the
    G→B→C chains of the programmes the enterprise belongs to."""
    from kequn.graph import chains, employee_facts, panorama, programmes_of
    from kequn.graph.queries import PRODUCT_CATEGORIES
    from kequn.security.masking import mask_name
    from kequn.web import graphsvg

    day = _day(as_of)
    scope = _st(request).data.scope(request.state.principal)

    def job(wh: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, list[dict[str, Any]]]:
        import ibis

        from kequn.segments.engine import profile

        summary = panorama(wh, day, enterprise_id).to_pyarrow().to_pylist()
        facts = employee_facts(wh, day, enterprise_id)
        c = wh.table("customer").select("customer_id", "name", "home_branch_id")
        if scope.branches is not None:
            c = c.filter(c.home_branch_id.isin(sorted(scope.branches)))
        j = facts.join(c, "customer_id")
        prof = profile(wh, "customer", day)
        order: list[Any] = []
        if prof is not None and {"aum", "aum_tier"} <= set(prof.columns):
            pr = prof.select("customer_id", "aum", "aum_tier")
            j = j.left_join(pr, j.customer_id == pr.customer_id).drop("customer_id_right")
            order = [j.aum.desc(nulls_first=False)]
        else:
            j = j.mutate(aum_tier=ibis.null("string"))
        in_scope = j.count().execute()
        emp = j.order_by([*order, "customer_id"]).limit(500).to_pyarrow().to_pylist()
        progs = programmes_of(wh, day, enterprise_id).to_pyarrow().column("programme_id").to_pylist()
        members = chains(wh, day).filter(lambda t: t.programme_id.isin(progs)).to_pyarrow().to_pylist() \
            if progs else []
        return summary, emp, int(in_scope), members

    summary, employees, in_scope, members = await _wh(request, job)
    if not summary:
        raise NotFoundError(f"enterprise {enterprise_id!r} has nobody on payroll as of {day}")
    for e in employees:
        e["name"] = mask_name(e["name"]) if e.get("name") else ""
        e["aum"] = None  # C2: never shown; the tier sizes the node
    p = summary[0]
    pen = [{"category": cat, "holders": p.get(f"holders_{cat}"), "share": p.get(f"penetration_{cat}")}
           for cat in PRODUCT_CATEGORIES]
    can_view = _can(request, "customer.view")
    shown = employees[:graphsvg.MAX_EMPLOYEE_NODES]
    star = graphsvg.star(p, shown, more=in_scope - len(shown), employee_href="/customers/" if can_view else None)
    programmes = sorted({(m["programme_id"], m.get("programme_name")) for m in members})
    chain = graphsvg.chain([{"programme_id": g, "programme_name": n} for g, n in programmes], members,
                           focus=enterprise_id, enterprise_href="/panorama/")
    return _render(request, "panorama.html", {
        "p": p, "penetration": pen, "employees": employees, "as_of": day, "pct": _pct,
        "can_view_customer": can_view, "graph": graphsvg.render(star, "pano-graph", p.get("name") or enterprise_id),
        "drawn": len(shown), "more": in_scope - len(shown), "outside": max(0, int(p["employees"]) - in_scope),
        "chain": graphsvg.render(chain, "chain-graph") if programmes else None, "programmes": programmes,
        "categories": PRODUCT_CATEGORIES, "tiers": tuple(graphsvg.TIER_RADIUS),
        "fills": graphsvg.PRODUCT_FILLS})


# ------------------------------------------------------------------------------------- loan routing
@router.get("/loans")
def loans_page(request: Request, ladder_id: str = "main") -> Any:
    """The approved ladder (products, rules, pricing, version) and the recent decisions."""
    from kequn.opstore import approvals
    from kequn.routing import ladder, store

    engine = _st(request).engine
    spec: Any = None
    ladder_error: str | None = None
    try:
        spec = ladder.approved(engine, ladder_id).spec
    except KequnError as exc:  # no approved ladder yet: the page says so
        ladder_error = exc.message
    pending = [r for r in approvals.pending(engine) if r.kind.startswith("loan")]
    decisions = store.decisions(engine, limit=50) if _can(request, "loans.view") else []
    return _render(request, "loans.html", {"spec": spec, "ladder_error": ladder_error, "pending": pending,
                                           "decisions": decisions, "can_review": _can(request, "loans.review")})


@router.get("/loans/decisions/{decision_id}")
def loan_decision_page(request: Request, decision_id: int) -> Any:
    """One decision with its explanation trail (every product and rule tried) and its reviews."""
    from kequn.routing import store
    from kequn.routing.explain import explain

    engine = _st(request).engine
    d = store.get_decision(engine, decision_id)
    reviews = [r for r in store.reviews(engine, None) if r["decision_id"] == decision_id]
    return _render(request, "decision.html", {"d": d, "body": d.decision.to_dict(), "explanation": explain(d.decision),
                                              "reviews": reviews, "can_review": _can(request, "loans.review")})


@router.post("/loans/decisions/{decision_id}/review")
async def loan_decision_review(request: Request, decision_id: int) -> Any:
    """Request a human review of an automated decision (PIPL Art. 24)."""
    from kequn.routing import store

    form = await request.form()
    reason = str(form.get("reason") or "").strip()
    if not reason:
        raise ValidationError("a review request needs a reason")
    await run_in_threadpool(store.request_review, _st(request).engine, decision_id,
                            request.state.principal.username, reason)
    return RedirectResponse(f"/loans/decisions/{decision_id}", status_code=303)


@router.get("/loans/reviews")
def loan_reviews_page(request: Request, status: str = "open") -> Any:
    from kequn.routing import store

    rows = store.reviews(_st(request).engine, None if status == "all" else status)
    return _render(request, "reviews.html", {"reviews": rows, "status": status})


@router.post("/loans/reviews/{review_id}/decide")
async def loan_review_decide(request: Request, review_id: int) -> Any:
    from kequn.routing import store

    form = await request.form()
    await run_in_threadpool(store.decide_review, _st(request).engine, review_id, request.state.principal.username,
                            str(form.get("status") or ""), str(form.get("note") or ""))
    return RedirectResponse("/loans/reviews", status_code=303)


#: permissions of these pages (joined into the one rule table by kequn.api.rules)
ROUTE_PERMISSIONS: dict[tuple[str, str], str] = {
    ("GET", "/segments"): "segments.view",
    ("GET", "/segments/builder"): "segments.view",
    ("GET", "/segments/{segment_id}"): "segments.view",
    ("GET", "/journeys/{track_id}"): "segments.view",
    ("GET", "/panorama"): "graph.view",
    ("GET", "/panorama/{enterprise_id}"): "graph.view",
    ("GET", "/loans"): "loans.view",
    ("GET", "/loans/decisions/{decision_id}"): "loans.view",
    ("POST", "/loans/decisions/{decision_id}/review"): "loans.review",
    ("GET", "/loans/reviews"): "loans.review",
    ("POST", "/loans/reviews/{review_id}/decide"): "loans.review",
}
