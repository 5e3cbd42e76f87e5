"""`kequn route …` (route an application, explain, review, PD model) and `kequn ladder …` (the ladder's
versions through maker-checker, replay, champion/challenger split).

``kequn route APPLICATION.json`` routes with the approved ladder and stores the decision;
``--ladder FILE`` is a dry run (试算) against an unapproved file, not stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup


class _DefaultToDecide(TyperGroup):
    """``kequn route FILE`` means ``kequn route decide FILE``; named subcommands still work."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["decide", *args]
        return super().parse_args(ctx, args)


route_app = typer.Typer(cls=_DefaultToDecide, no_args_is_help=True,
                        help="Loan routing (贷款路由): `kequn route APPLICATION.json` routes one application.")
ladder_app = typer.Typer(no_args_is_help=True, help="Loan product ladder (贷款产品阶梯): versions, approval, replay.")


def register(app: typer.Typer) -> None:
    app.add_typer(route_app, name="route")
    app.add_typer(ladder_app, name="ladder")


def _out(ctx: typer.Context) -> Any:
    from kequn.cli.main import console

    return console(ctx)


def _engine() -> Any:
    from kequn.errors import StoreError
    from kequn.opstore import current_revision, head_revision, open_default

    engine = open_default()
    if current_revision(engine) != head_revision():
        raise StoreError("the ops store is not migrated to the current version: run `kequn init`")
    return engine


# ------------------------------------------------------------------------------------------ route


@route_app.command("decide", help="Route one application (JSON file) and print the decision.")
def decide(
    ctx: typer.Context,
    application: Annotated[Path, typer.Argument(help="Application JSON file.")],
    ladder_file: Annotated[Path | None, typer.Option("--ladder", help="Dry run against this ladder YAML "
                                                     "(not approved, decision not stored).")] = None,
    pd_model: Annotated[Path | None, typer.Option("--pd-model", help="Scorecard JSON for applications "
                                                  "without a risk grade.")] = None,
    trail: Annotated[bool, typer.Option("--trail", help="Also print every rule of every product.")] = False,
) -> None:
    from kequn.routing import service
    from kequn.routing.explain import explain, trail_rows
    from kequn.routing.intake import read_application

    out = _out(ctx)
    app = read_application(application)
    model = _load_model(pd_model)
    if ladder_file is not None:
        from kequn.routing.ladder import load_ladder_file
        from kequn.routing.router import compile_ladder, route

        graded, version = service.grade_application(app, model)
        routed = service.Routed(None, "dry-run", route(compile_ladder(load_ladder_file(ladder_file)), graded,
                                                       model_version=version))
    else:
        routed = service.route_application(_engine(), app, pd_model=model)
    d = routed.decision
    if out.json_mode:
        out.result({"decision_id": routed.decision_id, "arm": routed.arm, **d.to_dict(),
                    "explanation": explain(d)})
        return
    head = "试算 (dry run, not stored)" if routed.decision_id is None else f"决策编号 decision {routed.decision_id}"
    out.result(None, human=f"{head} · {routed.arm}\n{explain(d)}")
    if trail:
        out.table(trail_rows(d), title="决策轨迹 trail")


def _load_model(path: Path | None) -> Any:
    if path is None:
        return None
    from kequn.models.pd import Scorecard

    return Scorecard.load(path)


@route_app.command("explain", help="Explain a stored decision in words (for the customer).")
def explain_cmd(ctx: typer.Context, decision_id: Annotated[int, typer.Argument()]) -> None:
    from kequn.routing import store
    from kequn.routing.explain import explain

    d = store.get_decision(_engine(), decision_id)
    text = explain(d.decision)
    _out(ctx).result({"decision_id": d.id, "explanation": text}, human=text)


@route_app.command("decisions", help="Recent decisions from the decision log.")
def decisions_cmd(ctx: typer.Context, limit: Annotated[int, typer.Option(help="How many.")] = 20) -> None:
    from kequn.routing import store

    rows = [{"id": d.id, "application": d.application_id, "branch": d.branch_id, "outcome": d.outcome,
             "product": d.product_id or "", "apr %": d.apr if d.apr is not None else "",
             "ladder": f"{d.ladder_id} v{d.ladder_version}", "arm": d.arm, "codes": ",".join(d.reason_codes)}
            for d in store.decisions(_engine(), limit=limit)]
    _out(ctx).table(rows, title="贷款决策日志 loan decisions")


@route_app.command("review-request", help="Ask a person to re-examine a decision (PIPL Art. 24).")
def review_request(
    ctx: typer.Context,
    decision_id: Annotated[int, typer.Argument()],
    by: Annotated[str, typer.Option("--by", help="Who asks (customer id or staff user).")],
    reason: Annotated[str, typer.Option("--reason", help="Why, in the customer's words.")],
) -> None:
    from kequn.routing import store

    rid = store.request_review(_engine(), decision_id, by, reason)
    _out(ctx).result({"review_id": rid, "decision_id": decision_id, "status": "open"},
                     human=f"复核申请 review {rid} opened for decision {decision_id}")


@route_app.command("reviews", help="The review queue.")
def reviews_cmd(ctx: typer.Context, status: Annotated[str, typer.Option(help="open|upheld|overturned|all")] = "open") -> None:
    from kequn.routing import store

    rows = store.reviews(_engine(), None if status == "all" else status)
    _out(ctx).table(rows, ["id", "decision_id", "requested_by", "request_reason", "status", "reviewer",
                           "review_note"], title="人工复核队列 review queue")


@route_app.command("review-decide", help="A reviewer upholds or overturns a decision, with a note.")
def review_decide(
    ctx: typer.Context,
    review_id: Annotated[int, typer.Argument()],
    reviewer: Annotated[str, typer.Option("--reviewer")],
    status: Annotated[str, typer.Option("--status", help="upheld or overturned")],
    note: Annotated[str, typer.Option("--note", help="What the reviewer found.")],
) -> None:
    from kequn.routing import store

    row = store.decide_review(_engine(), review_id, reviewer, status, note)
    _out(ctx).result(row, human=f"review {review_id}: {row['status']} by {row['reviewer']}")


@route_app.command("pd-evaluate", help="Fit and evaluate the PD scorecard on German credit and Lending Club.")
def pd_evaluate(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option("--data", help="Folder laid out like ../shared/datasets.")],
    only: Annotated[list[str] | None, typer.Option("--only", help="german_credit and/or lending_club.")] = None,
    save: Annotated[Path | None, typer.Option("--save", help="Write each scorecard as <dir>/<dataset>.json.")] = None,
) -> None:
    from kequn.models.pd import evaluate

    out = _out(ctx)
    results = evaluate(data, only)
    for r in results:
        card = r.pop("scorecard")
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)
            card.save(save / f"{r['dataset']}.json")
    out.table(results, ["dataset", "rows", "bad_rate", "train_auc", "test_auc", "model_version", "split"],
              title="PD scorecard (WoE + logistic regression)", json_obj=results)


# ------------------------------------------------------------------------------------------ ladder


@ladder_app.command("list", help="Every version of the ladder with status, maker and checker.")
def ladder_list(ctx: typer.Context, ladder_id: Annotated[str, typer.Option("--id")] = "main") -> None:
    from kequn.routing.ladder import history

    _out(ctx).table(history(_engine(), ladder_id), title=f"贷款产品阶梯 {ladder_id}")


@ladder_app.command("show", help="The products of a ladder (a file, a stored version, or the approved one).")
def ladder_show(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Option("--file", help="A ladder YAML (validated).")] = None,
    version: Annotated[int | None, typer.Option("--version", help="A stored version.")] = None,
    ladder_id: Annotated[str, typer.Option("--id")] = "main",
) -> None:
    from kequn.routing import ladder

    if file is not None:
        spec = ladder.load_ladder_file(file)
    elif version is not None:
        spec = ladder.version_of(_engine(), ladder_id, version).spec
    else:
        spec = ladder.approved(_engine(), ladder_id).spec
    rows = [{"level": p.level, "id": p.id, "name": p.name, "provider": p.provider,
             "grades": ",".join(p.pricing.spread_by_grade), "floor %": p.pricing.floor,
             "ceiling %": p.pricing.ceiling, "amount": f"{p.limits.amount_min}–{p.limits.amount_max}",
             "term": f"{p.limits.term_min}–{p.limits.term_max}", "online": p.online_closable,
             "rules": len(p.rules)} for p in spec.products]
    _out(ctx).table(rows, title=f"{spec.ladder_id} v{spec.version} {spec.title}",
                    json_obj=ladder.ladder_payload(spec))


@ladder_app.command("submit", help="Submit a ladder YAML as a new version (a second person approves it).")
def ladder_submit(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Ladder YAML.")],
    maker: Annotated[str, typer.Option("--maker", help="Who submits.")],
) -> None:
    from kequn.routing import ladder

    req = ladder.submit(_engine(), ladder.load_ladder_file(file), maker)
    _out(ctx).result({"request_id": req.id, "target": req.target, "status": req.status},
                     human=f"submitted {req.target} as change request {req.id}: awaiting a checker "
                           f"(`kequn ladder replay --version {req.version}` shows what it would change)")


@ladder_app.command("approve", help="Approve a submitted ladder version or split (checker ≠ maker).")
def ladder_approve(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument()],
    checker: Annotated[str, typer.Option("--checker", help="Who approves (not the maker).")],
) -> None:
    from kequn.routing import ladder

    req = ladder.approve(_engine(), request_id, checker)
    _out(ctx).result({"request_id": req.id, "target": req.target, "status": req.status},
                     human=f"approved {req.target} (change request {req.id}) by {checker}")


@ladder_app.command("replay", help="Run a ladder version over past applications and compare with the approved one.")
def ladder_replay(
    ctx: typer.Context,
    version: Annotated[int, typer.Option("--version", help="The candidate version (draft or approved).")],
    ladder_id: Annotated[str, typer.Option("--id")] = "main",
    limit: Annotated[int, typer.Option(help="How many past decisions to read.")] = 10000,
) -> None:
    from kequn.routing.service import replay_version

    report = replay_version(_engine(), version, ladder_id=ladder_id, limit=limit)
    out = _out(ctx)
    out.table(report.rows(), ["measure", "baseline", "candidate"],
              title=f"回放 replay: approved v{report.baseline.ladder_version} → v{report.candidate.ladder_version}",
              json_obj={"rows": report.rows(), "changes": report.changes})
    if not out.json_mode and report.changes:
        out.table([c.__dict__ for c in report.changes[:20]], title="changed decisions (first 20)")


@ladder_app.command("split", help="Propose a champion/challenger split (a second person approves it).")
def ladder_split(
    ctx: typer.Context,
    challenger_version: Annotated[int, typer.Option("--challenger-version")],
    share: Annotated[float, typer.Option("--share", help="Share of applications for the challenger, 0–0.5.")],
    maker: Annotated[str, typer.Option("--maker")],
    ladder_id: Annotated[str, typer.Option("--id")] = "main",
) -> None:
    from kequn.routing.service import submit_split

    req = submit_split(_engine(), ladder_id, challenger_version, share, maker)
    _out(ctx).result({"request_id": req.id, "target": req.target},
                     human=f"split proposed as change request {req.id}: `kequn ladder approve {req.id} --checker …`")
