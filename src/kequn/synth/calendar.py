"""Calendar helpers of the synthetic bank: month windows, weekdays, paydays and Spring Festival (春节).

Days are integers counted from 1970-01-01 (numpy-friendly); timestamps are microseconds since then.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

EPOCH = dt.date(1970, 1, 1)
US_PER_DAY = 86_400_000_000

#: Spring Festival (春节, lunar new year's day) by Gregorian year.
SPRING_FESTIVAL = {
    2010: dt.date(2010, 2, 14), 2011: dt.date(2011, 2, 3), 2012: dt.date(2012, 1, 23), 2013: dt.date(2013, 2, 10),
    2014: dt.date(2014, 1, 31), 2015: dt.date(2015, 2, 19), 2016: dt.date(2016, 2, 8), 2017: dt.date(2017, 1, 28),
    2018: dt.date(2018, 2, 16), 2019: dt.date(2019, 2, 5), 2020: dt.date(2020, 1, 25),
    2021: dt.date(2021, 2, 12), 2022: dt.date(2022, 2, 1), 2023: dt.date(2023, 1, 22),
    2024: dt.date(2024, 2, 10), 2025: dt.date(2025, 1, 29), 2026: dt.date(2026, 2, 17),
    2027: dt.date(2027, 2, 6), 2028: dt.date(2028, 1, 26), 2029: dt.date(2029, 2, 13),
    2030: dt.date(2030, 2, 3), 2031: dt.date(2031, 1, 23), 2032: dt.date(2032, 2, 11),
}


def day_number(d: dt.date) -> int:
    return (d - EPOCH).days


def to_date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


@dataclass(frozen=True)
class Month:
    """One calendar month of the simulation window."""

    index: int  # 0 = first month of the window
    year: int
    month: int
    first_day: int  # day number of the 1st
    n_days: int

    @property
    def last_day(self) -> int:
        return self.first_day + self.n_days - 1

    @property
    def month_end(self) -> dt.date:
        return to_date(self.last_day)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def weekday(self) -> np.ndarray:
        """Weekday (0 = Monday) of each day of the month."""
        return (np.arange(self.first_day, self.first_day + self.n_days) + 3) % 7  # 1970-01-01 was a Thursday

    def festival_factor(self) -> np.ndarray:
        """Spending multiplier per day: the run-up to 春节 is busy, the holiday week itself quiet."""
        sf = SPRING_FESTIVAL.get(self.year)
        f = np.ones(self.n_days)
        if sf is None:
            return f
        rel = np.arange(self.first_day, self.first_day + self.n_days) - day_number(sf)
        f[(rel >= -14) & (rel < -1)] = 1.7
        f[(rel >= -1) & (rel <= 6)] = 0.55
        return f

    def is_festival_month(self) -> bool:
        sf = SPRING_FESTIVAL.get(self.year)
        return sf is not None and (sf.month == self.month or (sf - dt.timedelta(days=14)).month == self.month)


def window(end: dt.date, months: int) -> list[Month]:
    """The ``months`` calendar months ending with the month of ``end`` (which must be a month end)."""
    out: list[Month] = []
    y, m = end.year, end.month
    for _ in range(months):
        first = dt.date(y, m, 1)
        nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
        out.append(Month(0, y, m, day_number(first), (nxt - first).days))
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    out.reverse()
    return [Month(i, mo.year, mo.month, mo.first_day, mo.n_days) for i, mo in enumerate(out)]


def is_month_end(d: dt.date) -> bool:
    return (d + dt.timedelta(days=1)).day == 1
