"""`kequn segments …` (客群), `kequn journeys …` (旅程) and `kequn graph …` (关系图谱/全景图).

Capability modules are imported inside each command so `kequn --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

segments_app = typer.Typer(help="客群 Customer groups: rule-based or static segments, snapshots, export.",
                           no_args_is_help=True)
journeys_app = typer.Typer(help="旅程 Journey tracks: stages, transitions, funnel, dwell.", no_args_is_help=True)
graph_app = typer.Typer(help="关系图谱 / 全景图 Relationship graph and enterprise panorama.", no_args_is_help=True)

AsOf = Annotated[str | None, typer.Option("--as-of", help="Date YYYY-MM-DD (default: today).")]


def _console(ctx: typer.Context) -> Any:
    from kequn.cli.main import console

    return console(ctx)


def _date(value: str | None) -> dt.date:
    from kequn.domain.days import day_or_today

    return day_or_today(value)


def _wh(read_only: bool = False) -> Any:
    from kequn.warehouse import open_default

    return open_default(read_only=read_only)


def _ops() -> Any:
    from kequn.opstore import open_default

    return open_default()


# ----------------------------------------------------------------------------------------- segments
@segments_app.command("list")
def seg_list(ctx: typer.Context) -> None:
    """List shipped and user-created segments with their approval status."""
    from kequn.segments import definitions

    rows = [{"id": d.id, "名称": d.name_zh, "entity": d.entity, "version": d.version, "status": status,
             "rule": d.rule or "(static list)"} for d, status in definitions.all_definitions(_ops()).values()]
    _console(ctx).table(rows, title="客群 segments")


@segments_app.command("show")
def seg_show(ctx: typer.Context, segment_id: str) -> None:
    """Show one segment's definition and status."""
    from kequn.segments import definitions

    found = definitions.all_definitions(_ops())
    if segment_id not in found:
        from kequn.errors import NotFoundError

        raise NotFoundError(f"unknown segment {segment_id!r}; `kequn segments list` shows them")
    seg, status = found[segment_id]
    _console(ctx).result({**seg.model_dump(mode="json"), "status": status})


@segments_app.command("create")
def seg_create(
    ctx: typer.Context, segment_id: str,
    name: Annotated[str, typer.Option("--name", help="Chinese name (名称).")],
    maker: Annotated[str, typer.Option("--maker", help="Who creates it (制作人).")],
    rule: Annotated[str | None, typer.Option("--rule", help="Rule over tags, e.g. 'payroll_flag and aum > 0'.")] = None,
    ids_file: Annotated[Path | None, typer.Option("--ids-file", help="Static list: a file with one id a line.")] = None,
    entity: Annotated[str, typer.Option("--entity")] = "customer",
    name_en: Annotated[str | None, typer.Option("--name-en")] = None,
    description: Annotated[str, typer.Option("--description")] = "",
) -> None:
    """Create a segment (or its next version) as a draft awaiting a checker."""
    from kequn.errors import ValidationError
    from kequn.segments import service
    from kequn.segments.definitions import from_payload

    if (rule is None) == (ids_file is None):
        raise ValidationError("give either --rule or --ids-file")
    ids = None
    if ids_file is not None:
        if not ids_file.exists():
            raise ValidationError(f"ids file {ids_file} does not exist")
        ids = [ln.strip().split(",")[0] for ln in ids_file.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    seg = from_payload({"id": segment_id, "name_zh": name, "name_en": name_en or segment_id, "entity": entity,
                        "rule": rule, "static": ids_file is not None, "description": description, "owner": maker})
    req = service.create(_ops(), _wh(), seg, maker, ids)
    _console(ctx).result({"segment": segment_id, "version": req.version, "request": req.id, "status": req.status},
                         human=f"segment {segment_id} v{req.version} submitted (request {req.id}); "
                               "a second person must approve it: kequn segments approve")


@segments_app.command("submit")
def seg_submit(ctx: typer.Context, segment_id: str, maker: Annotated[str, typer.Option("--maker")]) -> None:
    """Submit a shipped standard group for approval."""
    from kequn.segments import service

    req = service.submit_shipped(_ops(), _wh(), segment_id, maker)
    _console(ctx).result({"segment": segment_id, "version": req.version, "request": req.id, "status": req.status})


@segments_app.command("approve")
def seg_approve(
    ctx: typer.Context, segment_id: str, checker: Annotated[str, typer.Option("--checker")],
    reject: Annotated[str | None, typer.Option("--reject", help="Reject with this reason instead.")] = None,
) -> None:
    """Approve (or --reject) the draft of a segment; the checker must not be its maker."""
    from kequn.segments import service

    req = service.approve(_ops(), segment_id, checker, reject_reason=reject)
    _console(ctx).result({"segment": segment_id, "version": req.version, "status": req.status,
                          "checker": req.checker})


@segments_app.command("size")
def seg_size(
    ctx: typer.Context, segment_id: str, as_of: AsOf = None,
    store: Annotated[bool, typer.Option("--store", help="Store the day's membership snapshot.")] = False,
) -> None:
    """Size of a segment as of a date (optionally storing the daily snapshot); with the size trend."""
    from kequn.segments import definitions, service
    from kequn.segments import store as seg_store

    wh, day = _wh(), _date(as_of)
    seg = definitions.get(_ops(), segment_id)
    n = service.snapshot(wh, seg, day) if store else service.size(wh, seg, day)
    trend = seg_store.trend(wh, segment_id) if wh.has_table("segment_snapshot") else []
    _console(ctx).result({"segment": segment_id, "as_of": day, "size": n, "stored": store, "trend": trend},
                         human=f"{segment_id} as of {day}: {n}" + "".join(
                             f"\n  {r['as_of']}: {r['size']}" for r in trend))


@segments_app.command("snapshot")
def seg_snapshot(
    ctx: typer.Context, segment_ids: Annotated[list[str] | None, typer.Argument(help="Default: every approved one.")] = None,
    as_of: AsOf = None,
) -> None:
    """Store the daily membership snapshot of segments (the daily run calls this)."""
    from kequn.segments import definitions, service

    engine = _ops()
    found = definitions.all_definitions(engine)
    if segment_ids:
        segs = [definitions.get(engine, i) for i in segment_ids]
    else:
        segs = [definitions.get(engine, i, approved_only=True) for i, (_d, st) in found.items() if st == "approved"]
    day = _date(as_of)
    sizes = service.snapshot_many(_wh(), segs, day)
    _console(ctx).table([{"segment": k, "as_of": day, "size": v} for k, v in sizes.items()],
                        title=f"snapshots as of {day}")


@segments_app.command("changes")
def seg_changes(ctx: typer.Context, segment_id: str, before: Annotated[str, typer.Option("--from")],
                after: Annotated[str, typer.Option("--to")]) -> None:
    """Entries and exits between two stored snapshots."""
    from kequn.segments import service

    ch = service.changes(_wh(), segment_id, _date(before), _date(after))
    _console(ctx).result({"segment": segment_id, "from": before, "to": after, "entered": ch["entered"],
                          "exited": ch["exited"]})


@segments_app.command("overlap")
def seg_overlap(ctx: typer.Context, a: str, b: str, as_of: AsOf = None) -> None:
    """Overlap of two segments' stored snapshots on a day."""
    from kequn.segments import service

    _console(ctx).result(service.overlap(_wh(), a, b, _date(as_of)))


@segments_app.command("export")
def seg_export(ctx: typer.Context, segment_id: str, out: Annotated[Path, typer.Option("--out", help=".csv or .xlsx")],
               as_of: AsOf = None) -> None:
    """Export the members with personal data masked (CSV or Excel)."""
    from kequn.segments import definitions, service

    n = service.export(_wh(), definitions.get(_ops(), segment_id), _date(as_of), out)
    _console(ctx).result({"segment": segment_id, "rows": n, "file": out}, human=f"{n} rows (masked) → {out}")


@segments_app.command("profile")
def seg_profile(
    ctx: typer.Context, segment_id: str, as_of: AsOf = None,
    tags: Annotated[str | None, typer.Option("--tags", help="Comma-separated tag ids (default: a core set).")] = None,
) -> None:
    """客群画像: how the members differ from everyone (shares, means, medians, top values)."""
    from kequn.segments import definitions, service
    from kequn.segments.portrait import portrait

    wh, day = _wh(), _date(as_of)
    seg = definitions.get(_ops(), segment_id)
    p = portrait(wh, seg, service.evaluate(wh, seg, day), day, tags.split(",") if tags else None)
    lines = [f"{segment_id} as of {day}: {p['size']} of {p['population']}"]
    for t in p["tags"]:
        if "top" in t:
            lines.append(f"  {t['tag']}: " + ", ".join(f"{v['value']} {v['share']}" for v in t["top"]))
        else:
            lines.append(f"  {t['tag']}: segment {t['segment']} vs all {t['population']} (lift {t['lift']})")
    _console(ctx).result(p, human="\n".join(lines))


@segments_app.command("check")
def seg_check(ctx: typer.Context, rule: str, entity: Annotated[str, typer.Option("--entity")] = "customer") -> None:
    """Parse and type-check a rule against the tag catalogue (no data is read)."""
    from kequn.segments import catalogue, service

    service.validate_rule(rule, entity, catalogue.load(_wh()))
    _console(ctx).result({"rule": rule, "valid": True}, human="rule is valid")


# ----------------------------------------------------------------------------------------- journeys
@journeys_app.command("list")
def jr_list(ctx: typer.Context) -> None:
    """List the journey tracks and their stages."""
    from kequn.segments import journeys

    rows = [{"track": t.id, "名称": t.name_zh, "stages": " → ".join(s.name_zh for s in t.stages),
             "side": ", ".join(s.name_zh for s in t.side_stages)} for t in journeys.load_tracks().values()]
    _console(ctx).table(rows, title="旅程 journey tracks")


@journeys_app.command("run")
def jr_run(ctx: typer.Context, track: Annotated[str | None, typer.Argument(help="Track id (default: all).")] = None,
           as_of: AsOf = None) -> None:
    """Assign stages as of a date and store them with the transitions since the previous run."""
    from kequn.segments import journeys

    wh, day = _wh(), _date(as_of)
    tracks = [journeys.get_track(track)] if track else list(journeys.load_tracks().values())
    _console(ctx).table([journeys.run(wh, t, day) for t in tracks], title=f"journeys as of {day}")


@journeys_app.command("funnel")
def jr_funnel(ctx: typer.Context, track: str, as_of: AsOf = None) -> None:
    """Funnel conversion per stage and median dwell (days) for a stored day."""
    from kequn.segments import journeys

    wh, t = _wh(), journeys.get_track(track)
    dwell = {r["stage"]: r["median_days"] for r in journeys.dwell(wh, t)}
    rows = [{**r, "median_days": dwell.get(r["stage"])} for r in journeys.funnel(wh, t, _date(as_of))]
    _console(ctx).table(rows, columns=["stage", "name_zh", "reached", "share", "conversion", "median_days"],
                        title=f"{t.name_zh} funnel")


@journeys_app.command("touchpoints")
def jr_touchpoints(ctx: typer.Context, track: str, as_of: AsOf = None) -> None:
    """Touchpoints mapped to each stage and recent events of customers in it."""
    from kequn.segments import journeys

    _console(ctx).table(journeys.touchpoints(_wh(), journeys.get_track(track), _date(as_of)))


# ----------------------------------------------------------------------------------------- graph
def _rows(expr: Any, limit: int = 200) -> list[dict[str, Any]]:
    return expr.limit(limit).to_pyarrow().to_pylist()


@graph_app.command("enterprise")
def gr_enterprise(ctx: typer.Context, enterprise_id: str, as_of: AsOf = None) -> None:
    """Panorama of one enterprise: employees on payroll, product penetration, app activity."""
    from kequn.errors import NotFoundError
    from kequn.graph import panorama

    rows = _rows(panorama(_wh(), _date(as_of), enterprise_id))
    if not rows:
        raise NotFoundError(f"enterprise {enterprise_id!r} has nobody on payroll as of {_date(as_of)}")
    _console(ctx).result(rows[0])


@graph_app.command("panorama")
def gr_panorama(ctx: typer.Context, as_of: AsOf = None, limit: int = 50) -> None:
    """Every payroll enterprise with headcount and penetration (largest first)."""
    from kequn.graph import panorama

    rows = _rows(panorama(_wh(), _date(as_of)).order_by(lambda t: t.employees.desc()), limit)
    _console(ctx).table(rows, columns=["enterprise_id", "name", "industry", "employees", "app_penetration",
                                       "penetration_credit_card", "penetration_loan", "penetration_wealth"])


@graph_app.command("without")
def gr_without(ctx: typer.Context, enterprise_id: str, product: str, as_of: AsOf = None) -> None:
    """Employees of an enterprise without a product (category or product id)."""
    from kequn.graph import employees_without

    rows = _rows(employees_without(_wh(), enterprise_id, product, _date(as_of)).order_by("customer_id"), 10_000)
    _console(ctx).table(rows, json_obj={"enterprise": enterprise_id, "product": product, "count": len(rows),
                                         "customers": [r["customer_id"] for r in rows]})


@graph_app.command("headcount-fell")
def gr_fell(ctx: typer.Context, as_of: AsOf = None, min_drop: int = 1) -> None:
    """Enterprises whose payroll headcount fell against the previous 31 days."""
    from kequn.graph import headcount_fell

    _console(ctx).table(_rows(headcount_fell(_wh(), _date(as_of), min_drop=min_drop).order_by("change"), 1000))


@graph_app.command("chains")
def gr_chains(ctx: typer.Context, programme: Annotated[str | None, typer.Option("--programme")] = None,
              as_of: AsOf = None) -> None:
    """G→B→C chains: programme → enterprises → employees on payroll."""
    from kequn.graph import chains

    _console(ctx).table(_rows(chains(_wh(), _date(as_of), programme).order_by(["programme_id", "enterprise_id"]), 1000))


@graph_app.command("neighbours")
def gr_neighbours(ctx: typer.Context, party_type: str, party_id: str, as_of: AsOf = None,
                  kind: Annotated[str | None, typer.Option("--kind")] = None) -> None:
    """Parties linked to one party (household, guarantor, merchant owner, employer …)."""
    from kequn.graph import neighbours

    _console(ctx).table(_rows(neighbours(_wh(), party_type, party_id, _date(as_of), kind), 1000))


def register(app: typer.Typer) -> None:
    """Add `segments`, `journeys` and `graph` to the app."""
    app.add_typer(segments_app, name="segments")
    app.add_typer(journeys_app, name="journeys")
    app.add_typer(graph_app, name="graph")
