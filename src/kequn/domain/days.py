"""Dates typed by users (CLI options, query parameters): one parser, one message naming the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kequn.errors import ValidationError


def optional_day(value: Any, name: str = "--as-of", *, required: bool = False) -> dt.date | None:
    """``YYYY-MM-DD`` → date; a missing value (None or "") → None, or a clear error when ``required``.
    Anything else that is not an ISO date is a ValidationError naming the field and the value."""
    if value is None or value == "":
        if required:
            raise ValidationError(f"{name} DATE is required (YYYY-MM-DD)")
        return None
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} {value!r} is not a date: use YYYY-MM-DD") from None


def day_or_today(value: Any, name: str = "--as-of") -> dt.date:
    """As :func:`optional_day`, with today for a missing value."""
    return optional_day(value, name) or dt.date.today()
