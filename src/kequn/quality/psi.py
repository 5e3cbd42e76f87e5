"""Population stability index (PSI) over two small histograms — pure Python, no warehouse.

PSI = Σ (p_i − q_i) · ln(p_i / q_i) over aligned bins, where q is the baseline and p the current share.
Empty bins get a small floor (``EPSILON``) so the log stays finite. Reading: < 0.1 stable, 0.1–0.25 a
moderate shift, > 0.25 a major shift (common credit-risk practice, not a statute).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

EPSILON = 1e-4


def shares(counts: Mapping[str, float], keys: list[str]) -> list[float]:
    total = float(sum(counts.get(k, 0) for k in keys))
    if total <= 0:
        return [1.0 / len(keys)] * len(keys)
    return [max(counts.get(k, 0) / total, EPSILON) for k in keys]


def psi(baseline: Mapping[str, float], current: Mapping[str, float]) -> float:
    """PSI of ``current`` against ``baseline`` (bin label → count); bins missing on one side count 0."""
    keys = sorted(set(baseline) | set(current))
    if not keys:
        return 0.0
    q = shares(baseline, keys)
    p = shares(current, keys)
    return float(sum((pi - qi) * math.log(pi / qi) for pi, qi in zip(p, q, strict=True)))


__all__ = ["EPSILON", "psi", "shares"]
