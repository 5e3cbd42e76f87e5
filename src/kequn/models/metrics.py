"""Model metrics that say something to a branch with limited calling capacity.

Pure numpy over arrays already in memory (a scored list is at most a few million rows). Accuracy is only
ever reported next to the base rate; the useful figures are ranking quality (AUC, PR-AUC), what a branch
gets from its top k calls (precision/recall at k, lift by decile), calibration, and for uplift models the
Qini curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _arrays(y_true, score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).ravel()
    s = np.asarray(score, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but score has {s.size}")
    return y, s


def roc_auc(y_true, score) -> float:
    """Area under the ROC curve (ties count half), by the rank-sum formula."""
    from scipy.stats import rankdata

    y, s = _arrays(y_true, score)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_auc(y_true, score) -> float:
    """Average precision (area under the precision-recall curve, step-wise)."""
    y, s = _arrays(y_true, score)
    order = np.argsort(-s, kind="mergesort")
    y = y[order]
    n_pos = y.sum()
    if n_pos == 0:
        return float("nan")
    tp = np.cumsum(y)
    precision = tp / np.arange(1, y.size + 1)
    return float((precision * y).sum() / n_pos)


def at_k(y_true, score, k: int) -> dict[str, float]:
    """Precision, recall and lift among the ``k`` highest scores (a branch's contact capacity)."""
    y, s = _arrays(y_true, score)
    k = max(1, min(int(k), y.size))
    top = np.argsort(-s, kind="mergesort")[:k]
    hits = y[top].sum()
    base = y.mean() if y.size else float("nan")
    precision = hits / k
    return {
        "k": k,
        "precision": float(precision),
        "recall": float(hits / y.sum()) if y.sum() else float("nan"),
        "lift": float(precision / base) if base else float("nan"),
    }


def lift_by_decile(y_true, score, bins: int = 10) -> list[dict[str, float]]:
    """Rate of positives per score decile (decile 1 = highest scores) and its lift over the base rate."""
    y, s = _arrays(y_true, score)
    order = np.argsort(-s, kind="mergesort")
    base = y.mean()
    out = []
    for i, idx in enumerate(np.array_split(order, bins), start=1):
        rate = y[idx].mean() if idx.size else float("nan")
        out.append({"decile": i, "n": int(idx.size), "rate": float(rate),
                    "lift": float(rate / base) if base else float("nan"),
                    "min_score": float(s[idx].min()) if idx.size else float("nan")})
    return out


def calibration_curve(y_true, prob, bins: int = 10) -> list[dict[str, float]]:
    """Mean predicted probability vs observed rate in equal-count bins; plus the Brier score overall."""
    y, p = _arrays(y_true, prob)
    order = np.argsort(p, kind="mergesort")
    return [
        {"bin": i, "n": int(idx.size), "predicted": float(p[idx].mean()), "observed": float(y[idx].mean())}
        for i, idx in enumerate(np.array_split(order, bins), start=1)
        if idx.size
    ]


def brier(y_true, prob) -> float:
    y, p = _arrays(y_true, prob)
    return float(np.mean((p - y) ** 2))


def psi(expected, actual, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` over the expected's quantile bins."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    edges = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:
        return 0.0
    edges[0], edges[-1] = -np.inf, np.inf
    pe = np.histogram(e, edges)[0] / e.size
    pa = np.histogram(a, edges)[0] / a.size
    pe, pa = np.clip(pe, 1e-6, None), np.clip(pa, 1e-6, None)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


# ------------------------------------------------------------------ uplift


@dataclass(frozen=True)
class QiniCurve:
    fraction: np.ndarray  # share of the population targeted, 0..1
    gain: np.ndarray  # incremental positives gained by targeting that share (Qini, in counts)
    coefficient: float  # area between the curve and the random line, normalised by population size


def qini_curve(y, treatment, uplift_score) -> QiniCurve:
    """Qini curve: Q(k) = Y_t(k) - Y_c(k) * N_t(k) / N_c(k) over the top-k by predicted uplift.

    The coefficient is the area between the model's curve and the straight line from (0, 0) to
    (1, Q(N)) — the gain of targeting at random — divided by N, so it is comparable across sizes.
    """
    y = np.asarray(y, dtype=float).ravel()
    t = np.asarray(treatment, dtype=int).ravel()
    s = np.asarray(uplift_score, dtype=float).ravel()
    order = np.argsort(-s, kind="mergesort")
    y, t = y[order], t[order]
    yt = np.cumsum(y * (t == 1))
    yc = np.cumsum(y * (t == 0))
    nt = np.cumsum(t == 1)
    nc = np.cumsum(t == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = yt - np.where(nc > 0, yc * nt / nc, 0.0)
    n = y.size
    frac = np.arange(1, n + 1) / n
    q = np.concatenate([[0.0], q])
    frac = np.concatenate([[0.0], frac])
    random_line = frac * q[-1]
    area = np.trapezoid(q - random_line, frac) / n
    return QiniCurve(frac, q, float(area))


def qini_coefficient(y, treatment, uplift_score) -> float:
    return qini_curve(y, treatment, uplift_score).coefficient


def uplift_at_k(y, treatment, uplift_score, k: float = 0.3) -> float:
    """Observed response-rate difference (treated − control) among the top ``k`` share by predicted uplift."""
    y = np.asarray(y, dtype=float).ravel()
    t = np.asarray(treatment, dtype=int).ravel()
    s = np.asarray(uplift_score, dtype=float).ravel()
    top = np.argsort(-s, kind="mergesort")[: max(1, int(round(k * y.size)))]
    yt, tt = y[top], t[top]
    if (tt == 1).sum() == 0 or (tt == 0).sum() == 0:
        return float("nan")
    return float(yt[tt == 1].mean() - yt[tt == 0].mean())


def bootstrap_ci(fn, *arrays, n_boot: int = 200, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """Point estimate and percentile bootstrap interval of ``fn(*arrays)`` (rows resampled together)."""
    rng = np.random.default_rng(seed)
    arrays = tuple(np.asarray(a) for a in arrays)
    n = arrays[0].shape[0]
    stats = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        stats.append(fn(*(a[idx] for a in arrays)))
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(fn(*arrays)), float(lo), float(hi)


def classification_summary(y_true, prob, capacity: int | None = None) -> dict[str, object]:
    """The evaluation block every report shows: base rate first, accuracy only beside it."""
    y, p = _arrays(y_true, prob)
    base = float(y.mean())
    acc = float(((p >= 0.5) == (y == 1)).mean())
    k = capacity or max(1, int(round(0.1 * y.size)))
    return {
        "n": int(y.size),
        "base_rate": base,
        "auc": roc_auc(y, p),
        "pr_auc": pr_auc(y, p),
        "at_capacity": at_k(y, p, k),
        "accuracy": acc,
        "accuracy_of_always_no": 1 - base,
        "brier": brier(y, p),
        "lift_by_decile": lift_by_decile(y, p),
        "calibration": calibration_curve(y, p),
    }
