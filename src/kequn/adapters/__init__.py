"""Source adapters: turn a bank's (or a public dataset's) own export format into canonical files.

An adapter never touches the warehouse: it reads ``src`` and writes canonical CSV or Parquet files (one
per canonical table, named ``<table>.csv`` / ``<table>.parquet``) into ``out``; ``kequn load --source NAME``
then validates and loads ``out`` like any canonical folder. A bank adds its own format by registering an
adapter under the ``kequn.adapters`` entry-point group — no change to the core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass
class AdapterReport:
    """What an adapter wrote: rows per canonical table, and notes on what it could not map."""

    source: str
    rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class SourceAdapter(Protocol):
    name: str
    description: str

    def convert(self, src: Path, out: Path) -> AdapterReport:
        """Read the source folder ``src`` and write canonical files into ``out``."""
        ...


#: built-in adapters: name -> "module:attribute" (imported on demand)
BUILTIN: dict[str, str] = {
    "berka": "kequn.adapters.berka:ADAPTER",
    "bank-marketing": "kequn.adapters.bank_marketing:ADAPTER",
}


def available() -> dict[str, str]:
    """All adapter names (built-in and from installed plug-ins) with where they come from."""
    from importlib.metadata import entry_points

    found = dict(BUILTIN)
    for ep in entry_points(group="kequn.adapters"):
        found.setdefault(ep.name, ep.value)
    return found


def get_adapter(name: str) -> SourceAdapter:
    import importlib

    from kequn.errors import NotFoundError

    spec = available().get(name)
    if spec is None:
        raise NotFoundError(f"unknown source {name!r}; available: {', '.join(sorted(available()))}")
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
