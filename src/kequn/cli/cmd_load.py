"""`kequn load DIR` — validate and load a folder of canonical files (or a source's export) into the warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    app.command("load", help="Load a folder of canonical files (装载数据): validate, quarantine bad rows, "
                             "all-or-nothing per batch.")(load)


def load(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder of <table>.csv / <table>.parquet files.")],
    fmt: Annotated[str | None, typer.Option("--format", help="Only load files of this format: csv or parquet.")] = None,
    batch_id: Annotated[str | None, typer.Option("--batch-id", help="Batch id (default: hash of the files).")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Convert DIR with this source adapter first "
                                               "(e.g. berka, bank-marketing).")] = None,
) -> None:
    import tempfile

    from kequn.cli.main import console
    from kequn.ingest import ensure_internal_tables, load_dir
    from kequn.warehouse import open_default
    from kequn.warehouse.schema import create_tables

    out = console(ctx)
    wh = open_default()
    try:
        create_tables(wh)
        ensure_internal_tables(wh)
        if source is None:
            summary = load_dir(wh, directory, fmt=fmt, batch_id=batch_id, progress=out.info)
        else:
            with tempfile.TemporaryDirectory(prefix=f"kequn-{source}-") as tmp:
                _convert(source, directory, Path(tmp), out)
                summary = load_dir(wh, Path(tmp), fmt=fmt, batch_id=batch_id, progress=out.info)
    finally:
        wh.close()
    _report(out, summary)


def _convert(source: str, directory: Path, tmp: Path, out: Any) -> None:
    from kequn.adapters import get_adapter
    from kequn.errors import LoadError

    if not directory.is_dir():
        raise LoadError(f"folder not found: {directory}")
    report = get_adapter(source).convert(directory, tmp)
    rows = ", ".join(f"{t} {n}" for t, n in report.rows.items())
    out.info(f"{source}: converted → {rows or 'no tables'}")
    for note in report.notes:
        out.info(f"  note: {note}")


def _report(out: Any, summary: Any) -> None:
    if summary.already_loaded:
        out.info(f"批次 batch {summary.batch_id} was already loaded — nothing changed")
    rows = [{"表 table": t.table, "文件 file": t.file, "读取 read": t.read, "装载 loaded": t.loaded,
             "隔离 quarantined": t.quarantined} for t in summary.tables]
    rows.append({"表 table": "合计 total", "文件 file": "", "读取 read": summary.read,
                 "装载 loaded": summary.loaded, "隔离 quarantined": summary.quarantined})
    out.table(rows, title=f"批次 batch {summary.batch_id}", json_obj=summary.to_dict())
    if summary.quarantined and not summary.already_loaded:
        out.info(f"{summary.quarantined} row(s) quarantined: see table _quarantine "
                 f"(batch_id = '{summary.batch_id}') for row number, column, rule and message")
