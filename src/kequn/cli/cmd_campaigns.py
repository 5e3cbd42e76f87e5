"""`kequn campaigns …`, `kequn leads …`, `kequn review`, `kequn playbooks …` — campaigns across channels
with one contact policy, control groups, branch leads (商机), the biweekly review (复盘) and playbooks (路线图)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

campaigns_app = typer.Typer(help="营销活动 campaigns: check, submit, approve, launch, send, observe.", no_args_is_help=True)
leads_app = typer.Typer(help="商机 branch leads: inbox, status, SLA escalation, loan-routing leads.", no_args_is_help=True)
playbooks_app = typer.Typer(help="路线图 playbooks: submit, approve, pilot, roll out, evaluate, PDCA history.",
                            no_args_is_help=True)

AsOf = Annotated[str | None, typer.Option("--as-of", help="Day YYYY-MM-DD (default: today).")]
Sandbox = Annotated[Path | None, typer.Option("--sandbox", help="Synthetic bank folder: the response simulator "
                                                                "answers instead of real channels (demo).")]


def register(app: typer.Typer) -> None:
    app.add_typer(campaigns_app, name="campaigns")
    app.add_typer(leads_app, name="leads")
    app.add_typer(playbooks_app, name="playbooks")
    app.command("review", help="Write the biweekly review (复盘) as HTML and JSON.")(review_cmd)


def _out(ctx: typer.Context) -> Any:
    from kequn.cli.main import console

    return console(ctx)


def _wh(read_only: bool = False) -> Any:
    from kequn.warehouse import open_default

    return open_default(read_only=read_only)


def _ops() -> Any:
    from kequn.opstore import open_default

    return open_default()


def _day(value: str | None, name: str = "--as-of") -> dt.date:
    from kequn.domain.days import day_or_today

    return day_or_today(value, name)


def _launch_time(day: dt.date) -> dt.datetime:
    """10:00 local time on ``day`` (inside contact hours), or now when ``day`` is today."""
    from zoneinfo import ZoneInfo

    from kequn.settings import get_settings

    if day == dt.date.today():
        return dt.datetime.now(dt.UTC)
    return dt.datetime(day.year, day.month, day.day, 10, tzinfo=ZoneInfo(get_settings().timezone)).astimezone(dt.UTC)


# ------------------------------------------------------------------------------------------ campaigns
@campaigns_app.command("list", help="Campaigns and their status.")
def list_cmd(ctx: typer.Context) -> None:
    from kequn.campaigns import service

    rows = service.list_all(_ops())
    _out(ctx).table(rows, ["campaign_id", "name", "version", "status", "priority", "launched_at"], title="营销活动")


@campaigns_app.command("check", help="Validate a campaign YAML (every problem at once; SMS length and 回T退订).")
def check_cmd(ctx: typer.Context, file: Path) -> None:
    from kequn.campaigns import service

    spec = service.load_file(file)
    _out(ctx).result({"campaign_id": spec.campaign_id, "ok": True}, human=f"{file}: OK ({spec.campaign_id})")


@campaigns_app.command("submit", help="Submit a campaign YAML (or a shipped campaign id) for approval.")
def submit_cmd(ctx: typer.Context, source: str, maker: Annotated[str, typer.Option("--maker")]) -> None:
    from kequn.campaigns import service
    from kequn.errors import NotFoundError

    path = Path(source)
    if path.exists():
        spec = service.load_file(path)
    else:
        found = {s.campaign_id: s for s in service.shipped()}
        if source not in found:
            raise NotFoundError(f"{source!r} is neither a file nor a shipped campaign ({', '.join(sorted(found))})")
        spec = found[source]
    req = service.submit(_ops(), spec, maker)
    _out(ctx).result({"campaign_id": spec.campaign_id, "version": req.version, "status": req.status},
                     human=f"{spec.campaign_id} v{req.version} submitted; a second person must approve it")


@campaigns_app.command("approve", help="Approve (or --reject) a campaign's pending version; not its maker.")
def approve_cmd(ctx: typer.Context, campaign_id: str, checker: Annotated[str, typer.Option("--checker")],
                reject: Annotated[str | None, typer.Option("--reject", help="Reject with this reason.")] = None) -> None:
    from kequn.campaigns import service

    req = service.approve(_ops(), campaign_id, checker, reject_reason=reject)
    _out(ctx).result({"campaign_id": campaign_id, "version": req.version, "status": req.status})


@campaigns_app.command("launch", help="Launch an approved campaign: audience → arms → policy → outbox.")
def launch_cmd(ctx: typer.Context, campaign_id: str, actor: Annotated[str, typer.Option("--by")] = "cli",
               as_of: AsOf = None) -> None:
    from kequn.campaigns import service

    day = _day(as_of)
    _out(ctx).result(service.launch(_wh(), _ops(), campaign_id, actor, now=_launch_time(day), as_of=day))


@campaigns_app.command("run", help="Daily step: launch every approved campaign due on the day; escalate overdue leads.")
def run_cmd(ctx: typer.Context, as_of: AsOf = None, actor: Annotated[str, typer.Option("--by")] = "cli") -> None:
    from kequn.campaigns import service

    day = _day(as_of)
    _out(ctx).result(service.daily(_wh(), _ops(), day, at=_launch_time(day), actor=actor))


@campaigns_app.command("send", help="Send what is due in the outbox (retries, receipts, recovery after a crash).")
def send_cmd(ctx: typer.Context, sandbox: Sandbox = None,
             gateway: Annotated[list[str] | None, typer.Option("--gateway", help="channel=URL (repeatable).")] = None,
             batch: Annotated[int, typer.Option("--batch")] = 200, seed: Annotated[int, typer.Option("--seed")] = 0,
             as_of: Annotated[str | None, typer.Option("--as-of", help="Replay a day (10:00 local time that day); "
                                                                    "default: now.")] = None) -> None:
    from kequn.campaigns.directory import WarehouseDirectory
    from kequn.campaigns.sender import Sender
    from kequn.channels.http import FACTORIES
    from kequn.channels.lead_queue import LeadQueue
    from kequn.domain.campaigns import CHANNELS, PolicyConfig
    from kequn.errors import ValidationError
    from kequn.settings import get_settings

    engine, wh = _ops(), _wh(read_only=True)
    directory = WarehouseDirectory(wh)
    channels: dict[str, Any] = {"branch_lead": LeadQueue(engine, directory)}
    if sandbox is not None:
        from kequn.channels.sandbox import SandboxChannel
        from kequn.synth.simulator import ResponseSimulator

        sb = SandboxChannel(ResponseSimulator(sandbox, seed=seed))
        channels.update({c: sb for c in CHANNELS if c != "branch_lead"})
    factories = dict(FACTORIES)
    for g in gateway or []:
        name, _, url = g.partition("=")
        if name not in factories or not url:
            raise ValidationError(f"--gateway {g!r}: use CHANNEL=URL with CHANNEL in {', '.join(factories)}")
        channels[name] = factories[name](url)
    kw: dict[str, Any] = {}
    if as_of:
        at = _launch_time(_day(as_of))
        kw["clock"] = lambda: at
    stats = Sender(engine, channels, directory, cfg=PolicyConfig.from_settings(get_settings()), **kw).run(batch=batch)
    _out(ctx).result(stats.as_dict())


@campaigns_app.command("observe", help="Record responses of a run (sandbox: from the simulator, redemptions posted "
                                       "to the ledger; else every conversion kind of the spec from the bank's data).")
def observe_cmd(ctx: typer.Context, run_id: str, sandbox: Sandbox = None, seed: Annotated[int, typer.Option("--seed")] = 0) -> None:
    import sqlalchemy as sa

    from kequn.campaigns import observe, service
    from kequn.campaigns import tables as T

    engine = _ops()
    with engine.connect() as conn:
        run = conn.execute(sa.select(T.campaign_run).where(T.campaign_run.c.run_id == run_id)).mappings().one()
    spec, _v = service.approved_spec(engine, run["campaign_id"])
    if sandbox is not None:
        from kequn.synth.simulator import ResponseSimulator

        res = observe.observe_sandbox(engine, ResponseSimulator(sandbox, seed=seed), run_id, run["as_of"],
                                      spec.offer.code, spec.channels[0].channel, spec=spec)
    else:
        wh = _wh(read_only=True)
        res = {"conversions": observe.observe_conversions(wh, engine, run_id, spec, run["as_of"])}
        res["observed"] = max((v.get("observed", 0) for v in res["conversions"].values()), default=0)
    _out(ctx).result(res)


@campaigns_app.command("stop", help="Stop a live campaign (pending sends stay unsent).")
def stop_cmd(ctx: typer.Context, campaign_id: str, actor: Annotated[str, typer.Option("--by")] = "cli") -> None:
    from kequn.campaigns import service

    service.set_status(_ops(), campaign_id, "stopped", actor)
    _out(ctx).result({"campaign_id": campaign_id, "status": "stopped"})


@campaigns_app.command("opt-out", help="Record a customer's refusal of a channel (effective before the next send).")
def opt_out_cmd(ctx: typer.Context, customer_id: str, channel: str,
                source: Annotated[str, typer.Option("--source")] = "call_centre") -> None:
    from kequn.campaigns.sender import record_opt_out

    record_opt_out(_ops(), customer_id, channel, source=source)
    _out(ctx).result({"customer_id": customer_id, "channel": channel, "opted_out": True})


# ------------------------------------------------------------------------------------------ leads
@leads_app.command("list", help="Leads inbox of an RM (--rm) or a branch (--branch).")
def leads_list(ctx: typer.Context, rm: Annotated[str | None, typer.Option("--rm")] = None,
               branch: Annotated[str | None, typer.Option("--branch")] = None,
               status: Annotated[str | None, typer.Option("--status")] = None) -> None:
    from kequn.campaigns import leads

    rows = leads.inbox(_ops(), rm_id=rm, branches=frozenset({branch}) if branch else None, status=status)
    _out(ctx).table(rows, ["id", "source", "campaign_id", "customer_id", "branch_id", "rm_id", "product", "status",
                           "due_on", "escalated_to"], title="商机 leads")


@leads_app.command("update", help="Move a lead: contacted, won, lost (--reason required for lost).")
def leads_update(ctx: typer.Context, lead_id: int, status: str, actor: Annotated[str, typer.Option("--by")],
                 reason: Annotated[str | None, typer.Option("--reason")] = None) -> None:
    from kequn.campaigns import leads

    _out(ctx).result(leads.update(_ops(), lead_id, status, actor, reason=reason))


@leads_app.command("escalate", help="Escalate leads past their SLA to the branch manager.")
def leads_escalate(ctx: typer.Context, as_of: AsOf = None) -> None:
    from kequn.campaigns import leads
    from kequn.campaigns.directory import WarehouseDirectory

    ids = leads.escalate_overdue(_ops(), _day(as_of), WarehouseDirectory(_wh(read_only=True)))
    _out(ctx).result({"escalated": ids})


@leads_app.command("sync-loans", help="Bring loan routing's branch leads into the one leads inbox.")
def leads_sync(ctx: typer.Context) -> None:
    from kequn.campaigns import leads
    from kequn.campaigns.directory import WarehouseDirectory

    _out(ctx).result({"new": leads.sync_loan_leads(_ops(), WarehouseDirectory(_wh(read_only=True)))})


# ------------------------------------------------------------------------------------------ review
def review_cmd(ctx: typer.Context,
               cycle: Annotated[str, typer.Option("--cycle", help="Length: 2w (default), 1w, 30d …")] = "2w",
               until: Annotated[str | None, typer.Option("--until", help="Last day of the cycle.")] = None,
               out: Annotated[Path, typer.Option("--out", help="Folder for review-<day>.html/.json.")] = Path("data/reviews")) -> None:
    from kequn.campaigns import review
    from kequn.errors import ValidationError

    unit = {"w": 7, "d": 1}.get(cycle[-1:])
    if unit is None or not cycle[:-1].isdigit() or int(cycle[:-1]) < 1:
        raise ValidationError(f"--cycle {cycle!r}: use a number of weeks or days such as 2w or 14d")
    report = review.review(_ops(), until=_day(until, "--until"), days=int(cycle[:-1]) * unit)
    jp, hp = review.write(report, out)
    _out(ctx).result({"json": str(jp), "html": str(hp), "campaigns": len(report["campaigns"])},
                     human=f"复盘 written: {hp} and {jp} ({len(report['campaigns'])} campaigns)")


# ------------------------------------------------------------------------------------------ playbooks
@playbooks_app.command("list", help="Shipped playbooks.")
def pb_list(ctx: typer.Context) -> None:
    from kequn.campaigns import playbooks

    rows = [{"playbook_id": p.playbook_id, "name": p.name, "version": p.version, "pilot": ",".join(p.pilot_branches)}
            for p in playbooks.shipped().values()]
    _out(ctx).table(rows, title="路线图 playbooks")


@playbooks_app.command("submit", help="Submit a playbook for approval (PDCA: plan).")
def pb_submit(ctx: typer.Context, playbook_id: str, maker: Annotated[str, typer.Option("--maker")]) -> None:
    from kequn.campaigns import playbooks

    req = playbooks.submit(_ops(), playbooks.shipped()[playbook_id], maker)
    _out(ctx).result({"playbook_id": playbook_id, "version": req.version, "status": req.status})


@playbooks_app.command("approve", help="Approve a playbook (not its maker).")
def pb_approve(ctx: typer.Context, playbook_id: str, checker: Annotated[str, typer.Option("--checker")]) -> None:
    from kequn.opstore import approvals

    pend = [r for r in approvals.pending(_ops(), "playbook") if r.item_id == playbook_id]
    if not pend:
        from kequn.errors import NotFoundError

        raise NotFoundError(f"playbook {playbook_id} has no version awaiting approval")
    req = approvals.approve(_ops(), pend[-1].id, checker)
    _out(ctx).result({"playbook_id": playbook_id, "version": req.version, "status": req.status})


@playbooks_app.command("stage", help="Create the campaign of a stage: pilot (pilot branches) or rollout (--branches).")
def pb_stage(ctx: typer.Context, playbook_id: str, stage: str, maker: Annotated[str, typer.Option("--maker")],
             branches: Annotated[str | None, typer.Option("--branches", help="Comma-separated branch ids.")] = None) -> None:
    from kequn.campaigns import playbooks, service
    from kequn.errors import ValidationError

    if stage not in ("pilot", "rollout"):
        raise ValidationError(f"stage {stage!r}: use pilot or rollout")
    engine = _ops()
    pb = playbooks.approved(engine, playbook_id)
    chosen = branches.split(",") if branches else list(pb.pilot_branches)
    spec = playbooks.instantiate(pb, stage, chosen)  # type: ignore[arg-type]
    service.submit(engine, spec, maker)
    playbooks.record(engine, pb, "do", f"{stage} campaign submitted", maker, branches=chosen, campaign_id=spec.campaign_id)
    _out(ctx).result({"campaign_id": spec.campaign_id, "branches": chosen})


@playbooks_app.command("history", help="The PDCA history of a playbook.")
def pb_history(ctx: typer.Context, playbook_id: str) -> None:
    from kequn.campaigns import playbooks

    rows = playbooks.history(_ops(), playbook_id)
    _out(ctx).table(rows, ["at", "version", "stage", "branches", "campaign_id", "note", "actor"], title=playbook_id)
