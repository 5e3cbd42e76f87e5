"""`kequn init` — create the data folder, the warehouse's canonical tables (and the loader's own tables)
and migrate the ops store to the newest revision. Idempotent: a second run reports nothing to do."""

from __future__ import annotations

from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    app.command("init", help="Create the stores (初始化): data folder, warehouse tables, ops-store migrations.")(init)


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
    from kequn.services.init import init_stores

    result = init_stores()
    out.result(result, human=_human(result))
