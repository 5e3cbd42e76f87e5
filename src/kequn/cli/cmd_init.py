"""`kequn init` — create the data folder, the warehouse's canonical tables (and the loader's own tables)
and migrate the ops store to the newest revision. Idempotent: a second run reports nothing to do."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    app.command("init", help="Create the stores (初始化): data folder, warehouse tables, ops-store migrations.")(init)


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (URLs are printed and logged)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _loader_tables(wh: Any) -> str:
    try:
        from kequn.ingest import ensure_internal_tables
    except ImportError:
        return "skipped: the loader (kequn.ingest.ensure_internal_tables) is not installed in this build"
    before = {"_load_batch", "_quarantine"} & set(wh.con.list_tables())
    ensure_internal_tables(wh)
    after = {"_load_batch", "_quarantine"} & set(wh.con.list_tables())
    return f"created {', '.join(sorted(after - before))}" if after - before else "already present"


def init_stores() -> dict[str, Any]:
    """Do the work of ``kequn init`` with the current settings; returns what was done."""
    from kequn import opstore
    from kequn.settings import get_settings
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    s = get_settings()
    data_dir_existed = s.data_dir.is_dir()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    wh = connect(s.resolved_warehouse_url, threads=s.threads)
    try:
        created = create_tables(wh)
        loader = _loader_tables(wh)
    finally:
        wh.close()
    engine = opstore.engine_for(s.resolved_opstore_url)
    try:
        before = opstore.current_revision(engine)
        opstore.migrate(engine)
        after = opstore.current_revision(engine)
    finally:
        engine.dispose()
    return {
        "data_dir": str(s.data_dir), "data_dir_created": not data_dir_existed,
        "warehouse": redact(s.resolved_warehouse_url), "tables_created": created,
        "loader_tables": loader,
        "opstore": redact(s.resolved_opstore_url), "opstore_revision_before": before,
        "opstore_revision": after,
    }


def _human(r: dict[str, Any]) -> str:
    tables = (f"created {len(r['tables_created'])} canonical table(s): {', '.join(r['tables_created'])}"
              if r["tables_created"] else "canonical tables already present")
    if r["opstore_revision_before"] == r["opstore_revision"]:
        ops = f"already at revision {r['opstore_revision']}"
    else:
        ops = f"migrated {r['opstore_revision_before'] or 'empty'} → {r['opstore_revision']}"
    return "\n".join([
        f"数据目录 data folder: {r['data_dir']} ({'created' if r['data_dir_created'] else 'exists'})",
        f"数据仓库 warehouse:   {r['warehouse']} — {tables}",
        f"装载表 loader tables: {r['loader_tables']}",
        f"运营库 ops store:     {r['opstore']} — {ops}",
    ])


def init(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
) -> None:
    from kequn.cli.main import console

    out = console(ctx)
    out.json_mode = out.json_mode or json_
    result = init_stores()
    out.result(result, human=_human(result))
