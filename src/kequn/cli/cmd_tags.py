"""`kequn tags …` (标签) and `kequn profile ID` (客户高清图).

Capability modules are imported inside each command, so `kequn --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from kequn.cli.main import console

tags_app = typer.Typer(help="标签 Tags: the governed core tag catalogue, profiles as of a date, governance.",
                       no_args_is_help=True)

AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="As-of date YYYY-MM-DD.")]
EntityOpt = Annotated[str | None, typer.Option("--entity", help="customer, enterprise or merchant.")]


def _date(value: str | None, *, required: bool = False) -> dt.date | None:
    from kequn.domain.days import optional_day

    return optional_day(value, required=required)


def _ops_engine() -> Any:
    """The ops store, or None when it is not initialised (then only release-baseline approvals count)."""
    from pathlib import Path

    from kequn.settings import get_settings

    url = get_settings().resolved_opstore_url
    if url.startswith("sqlite:///") and not Path(url.split("///", 1)[1]).exists():
        return None
    try:
        from kequn.opstore import engine_for

        return engine_for(url)
    except Exception:  # noqa: BLE001 - a missing ops store just means "no extra approvals"
        return None


def _statuses(cat: Any) -> dict[str, Any]:
    from kequn.errors import StoreError
    from kequn.tags.approval import statuses

    engine = _ops_engine()
    try:
        return statuses(cat, engine)
    except StoreError:
        return statuses(cat, None)


def _entity(value: str | None) -> list[str]:
    from kequn.errors import ValidationError
    from kequn.tags.store import ENTITIES

    if value is None:
        return list(ENTITIES)
    if value not in ENTITIES:
        raise ValidationError(f"--entity {value!r}: choose one of {', '.join(ENTITIES)}")
    return [value]


@tags_app.command("list")
def list_tags(ctx: typer.Context, entity: EntityOpt = None,
              category: Annotated[str | None, typer.Option("--category", help="Only this category.")] = None) -> None:
    """List the tags: id, Chinese name, entity, category, value type, version, approval status."""
    from kequn.tags.catalog import CATEGORY_ZH, default_catalog

    cat = default_catalog()
    st = _statuses(cat)
    ents = _entity(entity)
    rows = [{"id": s.id, "name_zh": s.name_zh, "entity": s.entity, "category": f"{CATEGORY_ZH[s.category]} {s.category}",
             "type": s.value_type, "version": s.version, "status": st[s.id].status}
            for s in cat.values() if s.entity in ents and (category is None or s.category == category)]
    console(ctx).table(rows, title=f"标签目录 Tag catalogue ({len(rows)})")


@tags_app.command("show")
def show(ctx: typer.Context, tag_id: Annotated[str, typer.Argument(help="Tag id.")]) -> None:
    """Show one tag's catalogue entry, approval status and how it is computed."""
    from kequn.tags.catalog import get_spec
    from kequn.tags.registry import GROUPS, REGISTRY

    spec = get_spec(tag_id)
    st = _statuses({tag_id: spec})[tag_id]
    d = REGISTRY.get(tag_id)
    group = GROUPS.get(d.group) if d and d.group else None
    recency = group.recency if group else None
    out = {**spec.model_dump(mode="json"), "status": st.status, "approved_version": st.approved_version,
           "approved_by": st.source, "computed_as": d.kind if d else "MISSING",
           "source_group": d.group if d else None, "depends_on": list(d.deps) if d else [],
           "incremental": (f"yes: carried forward from the previous computed day unless a `{recency.table}` load "
                           "reached back (docs/tags.md)") if recency else "no: computed in full each run"}
    console(ctx).result(out)


@tags_app.command("explain")
def explain(ctx: typer.Context, tag_id: Annotated[str, typer.Argument(help="Tag id.")], as_of: AsOfOpt = None,
            dialect: Annotated[str, typer.Option("--dialect", help="SQL dialect: duckdb or postgres.")] = "duckdb") -> None:
    """Print the SQL that computes the tag (with what it depends on) as of a date."""
    from kequn.tags.build import explain_sql
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    day = _date(as_of) or dt.date.today()
    wh = connect("duckdb://:memory:")  # only the canonical schemas are needed to compile
    create_tables(wh)
    wh.kind = dialect  # type: ignore[assignment]
    sql = explain_sql(wh, tag_id, day)
    console(ctx).result({"tag": tag_id, "as_of": day, "dialect": dialect, "sql": sql}, human=sql)


@tags_app.command("compute")
def compute(ctx: typer.Context, as_of: AsOfOpt = None, entity: EntityOpt = None,
            force: Annotated[bool, typer.Option("--force", help="Recompute a date already computed.")] = False,
            full: Annotated[bool, typer.Option(
                "--full", help="Scan every source in full: carry nothing forward from the previous day.")] = False,
            since: Annotated[str | None, typer.Option(
                "--from", help="Back-fill: every day from this date to --as-of, oldest first.")] = None,
            month_ends: Annotated[bool, typer.Option(
                "--month-ends", help="With --from: only the month ends in the range (and --as-of).")] = False,
            ) -> None:
    """Compute the profile tables as of a date (approved tags only; drafts are left out).

    Incremental where a tag allows: the recency tags (days since the last transaction / login) are carried
    forward from the previous computed day and only the days since are scanned — unless a load since then
    reached back to that day or earlier, or --full is given. With --from, every day of the range is
    computed in order (each carrying from the one before); days already computed are skipped unless
    --force, so an interrupted back-fill is resumed by running it again."""
    from kequn.tags.catalog import default_catalog
    from kequn.tags.store import backfill_days
    from kequn.tags.store import compute as run
    from kequn.warehouse import open_default

    day = _date(as_of, required=True)
    assert day is not None
    from kequn.domain.days import optional_day

    start = optional_day(since, "--from")
    if month_ends and start is None:
        from kequn.errors import ValidationError

        raise ValidationError("--month-ends needs --from DATE (the start of the range)")
    days = backfill_days(start, day, month_ends=month_ends) if start else [day]
    cat = default_catalog()
    st = _statuses(cat)
    specs = {i: s for i, s in cat.items() if st[i].status == "approved"}
    drafts = sorted(i for i in cat if st[i].status == "draft")
    con = console(ctx)
    if drafts:
        con.info(f"草稿标签未计算 drafts not computed: {', '.join(drafts)}")
    ents = _entity(entity)
    wh = open_default()
    results = []
    try:
        for d in days:
            if len(days) > 1:
                con.info(f"{d} …")
            results += run(wh, d, specs, force=force, full=full, entities=ents)  # type: ignore[arg-type]
    finally:
        wh.close()
    rows = [{"entity": r.entity, "as_of": r.as_of, "rows": r.rows, "tags": r.tags,
             "status": "skipped (already computed; --force to redo)" if r.skipped else "computed",
             "mode": "" if r.skipped else _mode(r), "seconds": r.seconds} for r in results]
    title = f"画像 Profiles as of {day}" if len(days) == 1 else f"画像 Profiles {days[0]} … {day} ({len(days)} days)"
    con.table(rows, title=title, json_obj={"as_of": day, "days": days, "results": rows, "drafts": drafts})


@tags_app.command("runs")
def runs(ctx: typer.Context, entity: EntityOpt = None,
         limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="At most this many runs.")] = 30) -> None:
    """The dated tag runs kept, newest first: rows, tags, full or incremental (carried from which day)."""
    from kequn.tags.store import run_history
    from kequn.warehouse import open_default

    _entity(entity)
    wh = open_default(read_only=True)
    try:
        rows = run_history(wh, entity, limit)
    finally:
        wh.close()
    shown = [{"entity": r["entity"], "as_of": r["as_of"], "computed_at (UTC)": r["computed_at"], "rows": r["rows"],
              "tags": r["tags"], "mode": r["mode"] + (f" ← {', '.join(r['carried_from'])}" if r["carried_from"] else "")}
             for r in rows]
    console(ctx).table(shown, title="标签计算记录 Tag runs", json_obj=rows)


def _mode(r: Any) -> str:
    """``full`` / ``incremental from DATE`` (recency groups carried from that day), in words."""
    days = sorted({str(d) for d in r.carried.values() if d is not None})
    if not days:
        return "full 全量"
    return f"{r.mode} 增量 (from {', '.join(days)})"


@tags_app.command("submit")
def submit(ctx: typer.Context, tag_id: Annotated[str, typer.Argument(help="Tag id.")],
           as_user: Annotated[str, typer.Option("--as", help="The maker's user name.")]) -> None:
    """Submit a new or changed tag (its current catalogue version) for a second person's approval."""
    from kequn.opstore import open_default
    from kequn.tags.approval import submit as do_submit
    from kequn.tags.catalog import get_spec

    req = do_submit(open_default(), get_spec(tag_id), as_user)
    console(ctx).result({"request_id": req.id, "tag": tag_id, "version": req.version, "status": req.status,
                         "maker": req.maker},
                        human=f"标签 {tag_id} v{req.version} 已提交审批 (change request {req.id}); "
                              f"another user approves: kequn tags approve {tag_id} --as USER")


@tags_app.command("approve")
def approve(ctx: typer.Context, tag_id: Annotated[str, typer.Argument(help="Tag id.")],
            as_user: Annotated[str, typer.Option("--as", help="The checker's user name (not the maker).")]) -> None:
    """Approve the pending version of a tag (maker ≠ checker); it is computed from the next run."""
    from kequn.opstore import open_default
    from kequn.tags.approval import approve as do_approve
    from kequn.tags.catalog import get_spec

    req = do_approve(open_default(), get_spec(tag_id), as_user)
    console(ctx).result({"request_id": req.id, "tag": tag_id, "version": req.version, "status": req.status,
                         "maker": req.maker, "checker": req.checker},
                        human=f"标签 {tag_id} v{req.version} 已审批通过 by {req.checker} (maker {req.maker})")


def _report_text(rep: Any) -> str:
    lines = [f"标签治理报告 Tag governance — {rep.entity}, as of {rep.as_of}"
             f" (previous snapshot {rep.previous or 'none'}; {rep.rows} rows; target {rep.target or 'none'})", ""]
    lines.append(f"{'tag':24} {'coverage':>8} {'distinct':>8} {'top':>6} {'PSI':>7} {'IV':>7}  usage")
    for s in rep.tags:
        psi = "" if s.psi is None else f"{s.psi:.3f}"
        iv = "" if s.iv is None else f"{s.iv:.3f}"
        lines.append(f"{s.id:24} {s.coverage:>8.1%} {s.distinct:>8} {s.top_share:>6.0%} {psi:>7} {iv:>7}  "
                     f"{', '.join(s.usage) or '-'}")
    lines += ["", "高相关标签对 Redundant pairs (|r| ≥ 0.9):"]
    lines += [f"  {a} ~ {b}: r={r}" for a, b, r in rep.redundant_pairs] or ["  none"]
    lines += ["", "建议 Recommendations:"]
    lines += [f"  {r.action:6} {r.tag_id}: {'; '.join(r.reasons)}" for r in rep.recommendations] or ["  none"]
    return "\n".join(lines)


@tags_app.command("report")
def report(ctx: typer.Context, as_of: AsOfOpt = None, entity: Annotated[str, typer.Option(
        "--entity", help="customer, enterprise or merchant.")] = "customer",
        target: Annotated[str | None, typer.Option("--target", help="Tag (flag or number) to compute IV against.")] = None
        ) -> None:
    """Coverage, distribution, PSI drift, IV, usage and redundancy per tag; recommends tags to retire."""
    import dataclasses

    from kequn.opstore import open_default as open_ops
    from kequn.services.governance import tag_report
    from kequn.warehouse import open_default

    ents = _entity(entity)
    wh = open_default(read_only=True)
    try:
        rep = tag_report(wh, open_ops(), ents[0], as_of=_date(as_of), target=target)
    finally:
        wh.close()
    console(ctx).result(dataclasses.asdict(rep), human=_report_text(rep))


def _profile_text(view: dict[str, Any]) -> str:
    c = view["customer"]
    lines = [f"客户高清图 Customer 360 — {c['customer_id']} {c.get('name') or ''} (as of {view['as_of']}; "
             f"{'已脱敏 masked' if view['masked'] else 'UNMASKED'})",
             f"  手机 {c.get('phone') or '-'}  证件 {c.get('id_number') or '-'}  城市 {c.get('city') or '-'}  "
             f"机构 {c.get('home_branch_name') or c.get('home_branch_id')}", ""]
    category = None
    for t in view["tags"]:
        if t["category_zh"] != category:
            category = t["category_zh"]
            lines.append(f"[{category}]")
        v = "-" if t["display"] is None else t["display"]
        lines.append(f"  {t['name_zh']:<14} {v}")
    h = view["holdings"]
    lines += ["", "[持有产品 Holdings]"]
    lines += [f"  {a['product_name']} ({a['kind']}) 余额 {a['balance'] or '-'}" for a in h["accounts"]]
    lines += [f"  {x['product_name']} ({x['category']}) 金额 {x['amount'] or '-'}" for x in h["holdings"]]
    lines += [f"  卡 {x['card_number']} ({x['card_type']}, {x['status']})" for x in h["cards"]]
    lines += ["", "[近期触点 Recent events]"]
    lines += [f"  {e['ts']} {e['channel']} {e['touchpoint'] or ''}" for e in view["recent_events"]] or ["  -"]
    lines += ["", "[所属客群 Segments]"]
    lines += [f"  {s['segment_id']} {s['name_zh'] or ''}" for s in view["segments"]] or ["  -"]
    lines += ["", "[模型评分 Scores]"]
    lines += [f"  {s['score_name']} {s['score']:.3f} {s.get('reasons') or ''}" for s in view["scores"]] or ["  -"]
    lines += ["", "[接触历史 Contact history]"]
    lines += [f"  {x['ts']} {x['campaign_code']} {x['channel']} {x['outcome'] or ''}"
              for x in view["contact_history"]] or ["  -"]
    return "\n".join(lines)


def profile(ctx: typer.Context, customer_id: Annotated[str, typer.Argument(help="Customer number.")],
            as_of: AsOfOpt = None) -> None:
    """客户高清图: one customer's 360 view (tags, holdings, events, segments, scores, contacts), masked."""
    from kequn.services.profile import customer_360
    from kequn.warehouse import open_default

    wh = open_default(read_only=True)
    try:
        view = customer_360(wh, customer_id, as_of=_date(as_of))
    finally:
        wh.close()
    console(ctx).result(view, human=_profile_text(view))


def register(app: typer.Typer) -> None:
    """Add `kequn tags …` and `kequn profile ID`."""
    app.add_typer(tags_app, name="tags")
    app.command("profile")(profile)
