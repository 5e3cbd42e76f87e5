"""`kequn dq` — placeholder module; the owner of this capability replaces it."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app (nothing yet)."""
