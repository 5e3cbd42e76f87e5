"""Validated loading of canonical bank exports into the warehouse (``kequn load``).

Public API (see ``docs/loading.md``):

- ``load_dir(wh, directory, *, fmt=None, batch_id=None) -> LoadSummary``
- ``ensure_internal_tables(wh)`` — creates ``_load_batch`` and ``_quarantine`` when missing.
"""

from __future__ import annotations

from kequn.ingest.loader import LoadSummary, TableLoad, ensure_internal_tables, load_dir

__all__ = ["LoadSummary", "TableLoad", "ensure_internal_tables", "load_dir"]
