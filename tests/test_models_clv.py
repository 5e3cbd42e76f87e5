"""BG/NBD against the published CDNOW fit (Fader, Hardie & Lee 2005: r 0.243, alpha 4.414, a 0.793,
b 2.426 on the 2,357-customer sample, weeks, 39-week calibration)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kequn.models import clv

CDNOW = Path("/work/shared/datasets/cdnow/cdnow_customers_summary.csv")


def test_bgnbd_recovers_simulated_parameters():
    rng = np.random.default_rng(1)
    n, T = 4000, 40.0
    lam = rng.gamma(0.5, 1 / 5.0, n)  # r 0.5, alpha 5
    p = rng.beta(0.7, 3.0, n)
    x = np.zeros(n)
    tx = np.zeros(n)
    for i in range(n):
        t, alive = 0.0, True
        while alive:
            t += rng.exponential(1 / lam[i])
            if t > T:
                break
            x[i] += 1
            tx[i] = t
            alive = rng.random() > p[i]
    fit = clv.fit(x, tx, np.full(n, T))
    assert fit.r == pytest.approx(0.5, rel=0.25) and fit.alpha == pytest.approx(5.0, rel=0.3)
    e = clv.expected_purchases(fit, 10, x, tx, np.full(n, T))
    assert (e >= 0).all() and e[x > 3].mean() > e[x == 0].mean()


@pytest.mark.skipif(not CDNOW.exists(), reason="CDNOW summary not present")
def test_bgnbd_matches_the_published_cdnow_fit():
    import pandas as pd

    df = pd.read_csv(CDNOW)
    p = clv.fit(df["frequency"], df["recency"], df["T"])
    assert p.r == pytest.approx(0.243, abs=0.005)
    assert p.alpha == pytest.approx(4.414, abs=0.05)
    assert p.a == pytest.approx(0.793, abs=0.01)
    assert p.b == pytest.approx(2.426, abs=0.05)
    assert p.log_likelihood == pytest.approx(-9582.4, abs=1.0)
