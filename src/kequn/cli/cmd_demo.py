"""`kequn demo` (a synthetic bank, end to end, on the embedded stores) and `kequn run` (the daily run)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    app.command("demo", help="演示: build a synthetic bank and run everything on it (embedded DuckDB + SQLite).")(demo)
    app.command("run", help="每日批处理 The daily run for one business date: DQ, tags, segments, journeys, growth.")(run)


def _summary(results: list[Any]) -> list[dict[str, Any]]:
    return [{"step": r.step, "seconds": r.seconds, "figures": r.figures} for r in results]


def demo(
    ctx: typer.Context,
    customers: Annotated[int, typer.Option(help="Customers in the synthetic bank.", min=100)] = 20_000,
    months: Annotated[int, typer.Option(help="Months of history.", min=3, max=36)] = 12,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bank).")] = 42,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the console afterwards.")] = False,
) -> None:
    import os

    from kequn.cli.main import console
    from kequn.pipeline import DEMO_STEPS, default_context, run_steps
    from kequn.settings import get_settings

    os.environ.setdefault("KEQUN_DEMO", "1")
    get_settings.cache_clear()
    out = console(ctx)
    run_ctx = default_context(customers=customers, months=months, seed=seed)
    run_ctx.log = out.info
    try:
        results = run_steps(run_ctx, DEMO_STEPS)
        users = _demo_users(run_ctx)
    finally:
        run_ctx.close()
    doc = {"as_of": run_ctx.as_of, "steps": _summary(results), "demo_users": users}
    lines = [f"演示银行已就绪 demo bank ready as of {run_ctx.as_of} "
             f"(data in {run_ctx.settings.data_dir}/)."]
    if users:
        lines.append("演示用户 demo users (username / password / role / branch):")
        lines += [f"  {u['username']:<24} {u['password']:<20} {u['role']:<22} {u['branch'] or '全行 bank-wide'}"
                  for u in users]
    lines.append("Next: `KEQUN_DEMO=1 .venv/bin/kequn serve` (or `make serve-demo`) and open http://127.0.0.1:8000"
                 " — or `kequn --help`. Outside demo mode `kequn serve` needs KEQUN_SECRET_KEY.")
    out.result(doc, human="\n".join(lines))
    if serve:
        from kequn.cli.cmd_serve import serve as serve_cmd

        serve_cmd(ctx)


def _demo_users(run_ctx: Any) -> list[dict[str, Any]]:
    try:
        from kequn.services.users import ensure_demo_users
    except ImportError:
        return []
    branches = _demo_branches(run_ctx)
    return [{"username": u, "password": p, "role": r, "branch": b}
            for u, p, r, b in ensure_demo_users(run_ctx.engine, branches)]


def _demo_branches(run_ctx: Any) -> list[str]:
    """A branch and one of its sub-branches (for the branch manager and the RM)."""
    b = run_ctx.warehouse.table("branch")
    subs = b.filter(b.level == "sub_branch").select("branch_id", "parent_id").order_by("branch_id").limit(1).execute()
    if len(subs):
        return [str(subs.iloc[0]["parent_id"]), str(subs.iloc[0]["branch_id"])]
    firsts = b.filter(b.level == "branch").order_by("branch_id").limit(1).execute()
    return [str(firsts.iloc[0]["branch_id"])] if len(firsts) else []


def run(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option("--as-of", help="Business date YYYY-MM-DD.")],
    force: Annotated[bool, typer.Option("--force", help="Recompute profiles already computed for the date.")] = False,
    full: Annotated[bool, typer.Option(
        "--full", help="Tags: scan every source in full, carry nothing forward from the previous day.")] = False,
) -> None:
    from kequn.cli.main import console
    from kequn.errors import ValidationError
    from kequn.pipeline import DAILY_STEPS, default_context, run_steps

    try:
        day = dt.date.fromisoformat(as_of)
    except ValueError:
        raise ValidationError(f"--as-of {as_of!r} is not a date; use YYYY-MM-DD") from None
    out = console(ctx)
    run_ctx = default_context(force=force, full=full)
    run_ctx.as_of = day
    run_ctx.log = out.info
    try:
        results = run_steps(run_ctx, DAILY_STEPS)
    finally:
        run_ctx.close()
    out.result({"as_of": day, "steps": _summary(results)}, human=f"每日批处理完成 daily run done for {day}")
