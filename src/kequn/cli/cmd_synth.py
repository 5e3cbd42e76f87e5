"""`kequn synth` — generate the synthetic regional bank (模拟银行) with its hidden ground truth."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("synth", help="Generate a synthetic regional bank (模拟银行): canonical files for `kequn load`, "
                              "plus truth/ (for evaluations only) and manifest.json.")(synth)


def synth(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write (created if missing).")],
    customers: Annotated[int, typer.Option("--customers", help="Number of retail customers.")] = 20_000,
    months: Annotated[int, typer.Option("--months", help="Months of history, ending with --end's month.")] = 12,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives identical files.")] = 42,
    end: Annotated[str, typer.Option("--end", help="Last day of the window (a month end, YYYY-MM-DD).")] = "2026-10-31",
    fmt: Annotated[str, typer.Option("--format", help="parquet (default) or csv.")] = "parquet",
    shard: Annotated[int, typer.Option("--shard", help="Write only slice K (0-based) of the bank (with --shards).")] = 0,
    shards: Annotated[int, typer.Option("--shards", help="Split the bank of --customers into N disjoint slices; "
                                                         "every slice loads into the same warehouse.")] = 1,
) -> None:
    from kequn.cli.main import console
    from kequn.errors import ValidationError
    from kequn.synth.generate import SynthParams, generate

    out = console(ctx)
    try:
        end_date = dt.date.fromisoformat(end)
    except ValueError:
        raise ValidationError(f"--end {end!r} is not a date (YYYY-MM-DD)") from None
    params = SynthParams(customers=customers, months=months, seed=seed, end=end_date, fmt=fmt, shard=shard, shards=shards)
    manifest = generate(out_dir, params, progress=out.info)
    counts = manifest["row_counts"]
    human = (f"模拟银行 written to {out_dir}: {counts['customer']:,} customers, {counts['transaction']:,} transactions, "
             f"{counts['event']:,} events, {len(counts)} tables in {manifest['elapsed_seconds']}s "
             f"(truth in {out_dir / 'truth'}, manifest.json)")
    if shards > 1:
        human += f" — shard {shard} of {shards} (customers from C{manifest['shard']['first_customer']:09d})"
    out.result({"out": str(out_dir), "seed": seed, "row_counts": counts, "shard": manifest.get("shard"),
                "elapsed_seconds": manifest["elapsed_seconds"]}, human=human)
