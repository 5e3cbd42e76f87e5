"""Vectorised sampling helpers: days within a month from a per-row weight profile, times of day."""

from __future__ import annotations

import numpy as np

HOURS_SPEND = np.array([1, .5, .3, .2, .2, .4, 1.5, 4, 6, 5, 5, 7, 9, 6, 5, 5, 6, 8, 10, 10, 9, 7, 4, 2], float)
HOURS_APP = np.array([2, 1, .5, .3, .3, .5, 2, 6, 8, 7, 6, 6, 8, 7, 6, 6, 6, 7, 8, 9, 10, 10, 8, 4], float)
HOURS_OFFICE = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 10, 10, 6, 5, 9, 10, 9, 7, 0, 0, 0, 0, 0, 0], float)
HOURS_EVENING = np.array([0, 0, 0, 0, 0, 0, 0, 1, 3, 6, 8, 8, 7, 7, 8, 8, 8, 8, 7, 7, 6, 4, 1, 0], float)
NIGHT = np.array([22, 23, 0, 1])


class DayPicker:
    """Draw a day of the month for each row from one of several weight profiles, within [lo, hi]."""

    def __init__(self, profiles: np.ndarray) -> None:
        p = np.asarray(profiles, dtype=float)
        self.n_days = p.shape[1]
        c = np.cumsum(p, axis=1)
        c = c / c[:, -1:]
        self.cdf = c
        self.flat = (c + np.arange(len(c))[:, None]).ravel()

    def __call__(self, rng: np.random.Generator, profile: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Relative days (0-based). ``profile``, ``lo``, ``hi`` are per row; lo <= hi."""
        c = self.cdf
        a = np.where(lo > 0, c[profile, np.maximum(lo - 1, 0)], 0.0)
        b = c[profile, hi]
        u = profile + a + rng.random(len(lo)) * (b - a)
        d = np.searchsorted(self.flat, u, side="left") - profile * self.n_days
        return np.clip(d, lo, hi)


def seconds(rng: np.random.Generator, n: int, hours: np.ndarray, night: np.ndarray | None = None,
            p_night: float = 0.25) -> np.ndarray:
    """Seconds after midnight from an hourly profile; rows flagged ``night`` often fall at 22:00–01:59."""
    h = rng.choice(24, n, p=hours / hours.sum())
    if night is not None:
        h = np.where(night & (rng.random(n) < p_night), rng.choice(NIGHT, n), h)
    return h * 3600 + rng.integers(0, 3600, n)


def poisson(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    return rng.poisson(np.maximum(lam, 0.0))
