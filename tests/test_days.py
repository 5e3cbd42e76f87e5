"""Typed dates: one parser for the CLI, the API and the console, with messages naming the field."""

import datetime as dt

import pytest

from kequn.domain.days import day_or_today, optional_day
from kequn.errors import ValidationError


def test_dates_parse_and_missing_values_follow_the_caller():
    assert optional_day("2026-10-31") == dt.date(2026, 10, 31)
    assert optional_day(None) is None and optional_day("") is None
    assert day_or_today(None) == dt.date.today() and day_or_today("", "as_of") == dt.date.today()
    with pytest.raises(ValidationError, match=r"^--as-of DATE is required \(YYYY-MM-DD\)$"):
        optional_day(None, required=True)


@pytest.mark.parametrize("bad", ["30/06/2024", "2024-02-30", "tomorrow", 20240630, ["2024-06-30"]])
def test_a_bad_date_names_the_field_and_the_value(bad):
    with pytest.raises(ValidationError) as e:
        day_or_today(bad, "--until")
    assert str(e.value) == f"--until {bad!r} is not a date: use YYYY-MM-DD"
