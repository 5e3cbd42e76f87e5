"""The oracle: what a perfect model would score, from the synthetic bank's truth/ folder.

Only evaluation reads truth/ (never training or scoring). For churn the oracle score of an entity as of D
is the generator's true churn hazard of the month after D (P(close in that month | latent state at its
start)); its AUC on the same held-out rows is the ceiling a model built from observable data can approach.
For reward uplift the oracle score is the true uplift of each contact.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from kequn.errors import NotFoundError
from kequn.models import metrics as M
from kequn.models.datasets import add_months


def _read(truth: Path, name: str, columns: list[str], **filters: Any) -> Any:
    import pandas as pd

    path = Path(truth) / f"{name}.parquet"
    if not path.exists():
        raise NotFoundError(f"no {path}: the oracle needs the synthetic bank's truth/ folder")
    df = pd.read_parquet(path, columns=columns)
    for col, value in filters.items():
        df = df[df[col] == value]
    return df


def churn_hazards(truth: Path, entity: str, as_of: dt.date) -> Any:
    """Series key → true churn hazard of the month after ``as_of``."""
    import pandas as pd

    key = "merchant_id" if entity == "merchant" else "customer_id"
    name = "merchant_month" if entity == "merchant" else "customer_month"
    nxt = pd.Timestamp(add_months(as_of, 1))
    df = _read(truth, name, [key, "month_end", "churn_hazard"])
    df = df[pd.to_datetime(df["month_end"]) == nxt]
    return df.set_index(key)["churn_hazard"]


def churn_oracle(truth: Path, test: Any, entity: str) -> dict[str, Any]:
    """Oracle AUC (and PR-AUC) on the held-out rows ``test`` (columns key, as_of, label)."""
    key = "merchant_id" if entity == "merchant" else "customer_id"
    parts, labels = [], []
    for d, rows in test.groupby("as_of"):
        h = churn_hazards(truth, entity, d)
        parts.append(rows[key].map(h).to_numpy(dtype=float))
        labels.append(rows["label"].to_numpy())
    score, y = np.concatenate(parts), np.concatenate(labels)
    known = ~np.isnan(score)
    return {"auc": M.roc_auc(y[known], score[known]), "pr_auc": M.pr_auc(y[known], score[known]),
            "rows": int(known.sum()), "rows_without_truth": int((~known).sum())}


def uplift_truth(truth: Path, contact_ids: Any) -> np.ndarray:
    """True uplift of each contact (aligned with ``contact_ids``)."""
    df = _read(truth, "campaign_contacts", ["contact_id", "true_uplift"]).set_index("contact_id")
    return np.asarray(df["true_uplift"].reindex(list(contact_ids)).to_numpy(), dtype=float)


def expected_qini(true_uplift: Any, score: Any) -> float:
    """Qini coefficient in expectation: targeting by ``score``, the incremental conversions of the top k are
    the sum of the true uplifts of those k (no outcome noise); area between that curve and random
    targeting, divided by the population size (same scale as metrics.qini_coefficient)."""
    u = np.asarray(true_uplift, dtype=float)
    s = np.asarray(score, dtype=float)
    order = np.argsort(-s, kind="mergesort")
    gain = np.concatenate([[0.0], np.cumsum(u[order])])
    frac = np.linspace(0, 1, u.size + 1)
    return float(np.trapezoid(gain - frac * gain[-1], frac) / u.size)
