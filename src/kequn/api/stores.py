"""The stores a capability router works on, found in one way for all of them.

Inside the console app they are the app's own (``app.state.kequn.engine`` and ``app.state.kequn.data``,
whose warehouse is used under its lock); a bare app — a test or a bench mounting one router — sets
``app.state.<capability>_engine`` / ``app.state.<capability>_warehouse`` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request

from kequn.errors import StoreError


def engine(request: Request, capability: str, label: str | None = None) -> Any:
    """The ops-store Engine for ``capability`` (StoreError when none is configured)."""
    st = getattr(request.app.state, "kequn", None)
    found = getattr(st, "engine", None) if st is not None else getattr(request.app.state, f"{capability}_engine", None)
    if found is None:
        raise StoreError(f"no ops store configured for {label or capability}")
    return found


@contextmanager
def warehouse(request: Request, capability: str) -> Iterator[Any]:
    """The warehouse for ``capability``, held under the console's lock when there is one."""
    st = getattr(request.app.state, "kequn", None)
    data = getattr(st, "data", None)
    if data is not None:
        with data.locked() as wh:
            yield wh
        return
    wh = getattr(request.app.state, f"{capability}_warehouse", None)
    if wh is None:
        raise StoreError(f"no warehouse configured for {capability}")
    yield wh
