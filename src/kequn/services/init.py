"""Create the stores: the data folder, the warehouse's canonical tables (and the loader's own tables),
and the ops store migrated to the newest revision. Idempotent. (`kequn init`, and the demo's first step.)"""

from __future__ import annotations

import re
from typing import Any


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


