"""Customer value: BG/NBD (Fader, Hardie & Lee 2005) fitted with scipy, for repeat transactions.

``fit(frequency, recency, T)`` estimates r, alpha, a, b by maximum likelihood (log-parameters, L-BFGS-B);
``expected_purchases(params, t, frequency, recency, T)`` is each customer's conditional expected number of
transactions in the next ``t`` periods; ``p_alive`` the probability the customer is still active.
Checked against the published CDNOW fit (r 0.243, alpha 4.414, a 0.793, b 2.426; weeks, 39-week
calibration) in tests/test_models_clv.py.

In the bank, a "transaction" is a day with card spending (``rfm(wh, as_of)``: frequency = repeat spend
days, recency = week of the last minus the first, T = weeks since the first, all as of D); expected value
= expected spend days × the customer's mean spend per day × the card contribution rate of the tag
``contribution_estimate``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1


@dataclass(frozen=True)
class BGNBD:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float


def _ll(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> float:
    r, alpha, a, b = np.exp(params)
    ln_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    ln_a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    ln_a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore"):
        ln_a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + tx), -np.inf)
    ll = ln_a1 + ln_a2 + np.logaddexp(ln_a3, ln_a4)
    return -float(ll.sum())


def fit(frequency: Any, recency: Any, T: Any) -> BGNBD:
    x, tx, t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    res = minimize(_ll, np.zeros(4), args=(x, tx, t), method="L-BFGS-B")
    r, alpha, a, b = np.exp(res.x)
    return BGNBD(float(r), float(alpha), float(a), float(b), float(-res.fun))


def expected_purchases(p: BGNBD, t: float, frequency: Any, recency: Any, T: Any) -> np.ndarray:
    """E[transactions in (T, T + t] | x, t_x, T]."""
    x, tx, TT = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    r, alpha, a, b = p.r, p.alpha, p.a, p.b
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + TT + t))
    first = (a + b + x - 1) / (a - 1) * (1 - ((alpha + TT) / (alpha + TT + t)) ** (r + x) * hyp)
    second = 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + TT) / (alpha + tx)) ** (r + x)
    return np.asarray(first / second)


def p_alive(p: BGNBD, frequency: Any, recency: Any, T: Any) -> np.ndarray:
    x, tx, TT = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    r, alpha, a, b = p.r, p.alpha, p.a, p.b
    odds = (a / (b + x - 1)) * ((alpha + TT) / (alpha + tx)) ** (r + x)
    return np.asarray(np.where(x > 0, 1 / (1 + odds), 1.0))


def rfm(wh: Any, as_of: dt.date, days: int = 365) -> Any:
    """Per customer (weeks): frequency (repeat card-spend days), recency, T, mean spend per day — as of D."""
    import ibis

    from kequn.tags.model import AsOf

    a = AsOf(as_of)
    x = wh.table("transaction")
    x = x.filter(x.customer_id.notnull(), x.txn_type == "card_spend", x.amount < 0, x.ts >= a.since_ts(days),
                 x.ts < a.end_ts)
    per_day = x.group_by(x.customer_id, day=x.ts.date()).aggregate(spend=(-x.amount).sum().cast("float64"))
    g = per_day.group_by("customer_id").aggregate(n=per_day.count(), first=per_day.day.min(),
                                                  last=per_day.day.max(), spend=per_day.spend.mean())
    d = ibis.date(as_of)
    g = g.select("customer_id", "spend", frequency=(g.n - 1).cast("float64"),
                 recency=g.last.delta(g.first, unit="day").cast("float64") / 7,
                 T=(d.delta(g.first, unit="day") + 1).cast("float64") / 7)
    return g.to_pandas()


def customer_value(wh: Any, as_of: dt.date, horizon_weeks: float = 52, rate: float = 0.005) -> Any:
    """Expected card-spend contribution over the horizon per customer (BG/NBD × mean spend × rate)."""
    df = rfm(wh, as_of)
    p = fit(df["frequency"], df["recency"], df["T"])
    df["expected_days"] = expected_purchases(p, horizon_weeks, df["frequency"], df["recency"], df["T"])
    df["p_alive"] = p_alive(p, df["frequency"], df["recency"], df["T"])
    df["expected_value"] = df["expected_days"] * df["spend"] * rate
    return df, p


# --- registered model: `kequn models train customer_value` -------------------------------------------------

NAME = "customer_value"
#: the score written into model_score (and read by the tag slot of the same name)
SCORE_NAME = "customer_value"
#: weeks per month (horizons in months are converted to BG/NBD's weeks)
WEEKS_PER_MONTH = 365.25 / 12 / 7


def _spend_days(wh: Any, start: dt.date, end: dt.date) -> Any:
    """Per customer: card-spend days and spend in the window (start, end] (the hold-out period)."""

    from kequn.tags.model import AsOf

    x = wh.table("transaction")
    lo = AsOf(start).end_ts
    x = x.filter(x.customer_id.notnull(), x.txn_type == "card_spend", x.amount < 0, x.ts >= lo, x.ts < AsOf(end).end_ts)
    per_day = x.group_by(x.customer_id, day=x.ts.date()).aggregate(spend=(-x.amount).sum().cast("float64"))
    g = per_day.group_by("customer_id").aggregate(actual_days=per_day.count().cast("float64"),
                                                  actual_spend=per_day.spend.sum())
    return g.to_pandas()


def alive_customers(wh: Any, as_of: dt.date) -> Any:
    """Customer ids onboarded on or before ``as_of`` and not closed by then."""
    import ibis

    c = wh.table("customer")
    d = ibis.date(as_of)
    return c.filter(c.closed_on.isnull() | (c.closed_on > d)).select("customer_id").to_pandas()["customer_id"]


def holdout_metrics(pred_days: Any, actual_days: Any, frequency: Any, T: Any, horizon_weeks: float) -> dict[str, Any]:
    """Predicted vs actual purchases in the hold-out period (one row per calibration customer), beside the
    naive baseline "the same rate as so far" (frequency / T × horizon)."""
    from scipy.stats import spearmanr

    pred, act = np.asarray(pred_days, float), np.asarray(actual_days, float)
    naive = np.asarray(frequency, float) / np.maximum(np.asarray(T, float), 1e-9) * horizon_weeks
    order = np.argsort(-pred, kind="stable")
    deciles = np.array_split(order, 10)
    out = {
        "customers": int(pred.size), "horizon_weeks": round(horizon_weeks, 2),
        "actual_total": float(act.sum()), "predicted_total": float(pred.sum()),
        "total_ratio": float(pred.sum() / act.sum()) if act.sum() else float("nan"),
        "mae": float(np.abs(pred - act).mean()), "rmse": float(np.sqrt(((pred - act) ** 2).mean())),
        "spearman": float(spearmanr(pred, act).statistic),
        "naive_mae": float(np.abs(naive - act).mean()),
        "naive_spearman": float(spearmanr(naive, act).statistic),
        "top_decile_share_of_actual": float(act[deciles[0]].sum() / act.sum()) if act.sum() else float("nan"),
        "by_decile": [{"decile": i + 1, "predicted": float(pred[ix].mean()), "actual": float(act[ix].mean())}
                      for i, ix in enumerate(deciles) if ix.size],
    }
    return out


def _alive_rfm(wh: Any, cal: dt.date) -> Any:
    """:func:`rfm` as of ``cal`` for the customers alive then, in customer order."""
    df = rfm(wh, cal)
    df = df[df["customer_id"].isin(set(alive_customers(wh, cal)))]
    return df.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _holdout(wh: Any, df: Any, params: BGNBD, cal: dt.date, test_end: dt.date, rate: float) -> tuple[Any, Any, dict]:
    """The calibration frame ``df`` joined with the actual spend days in (cal, test_end], the predicted spend
    days for that period and the hold-out metrics (with predicted and actual card contribution)."""
    weeks = (test_end - cal).days / 7
    df = df.merge(_spend_days(wh, cal, test_end), on="customer_id", how="left").fillna(
        {"actual_days": 0.0, "actual_spend": 0.0})
    pred = expected_purchases(params, weeks, df["frequency"], df["recency"], df["T"])
    hold = holdout_metrics(pred, df["actual_days"], df["frequency"], df["T"], weeks)
    hold["value_predicted_total"] = float((pred * df["spend"].to_numpy() * rate).sum())
    hold["value_actual_total"] = float((df["actual_spend"] * rate).sum())
    return df, pred, hold


def train(wh: Any, engine: Any, *, user: str, calibration_end: dt.date | None = None, horizon_months: int = 3,
          value_months: int = 12, rate: float = 0.005, folder: Any = None) -> tuple[Any, dict[str, Any]]:
    """Fit BG/NBD on the card-spend history known at ``calibration_end`` (default: ``horizon_months`` before
    the data end), evaluate out of time on the following ``horizon_months`` (predicted vs actual spend days
    per customer), register a draft version (kind ``bgnbd``). Scoring later applies the fitted parameters to
    each customer's history as of the scoring day; the value horizon is ``value_months``."""
    import hashlib

    import pandas as pd

    from kequn.errors import ValidationError
    from kequn.models import registry
    from kequn.models.datasets import add_months, data_end

    end = data_end(wh)
    cal = calibration_end or add_months(end, -horizon_months)
    test_end = add_months(cal, horizon_months)
    if test_end > end:
        raise ValidationError(f"customer_value: the hold-out period {cal} … {test_end} runs past the data end {end}; "
                              f"choose an earlier calibration end or a shorter horizon")
    df = _alive_rfm(wh, cal)
    if len(df) < 100:
        raise ValidationError(f"customer_value: only {len(df)} customers with card spending up to {cal}; "
                              f"BG/NBD needs at least 100")
    params = fit(df["frequency"], df["recency"], df["T"])
    df, pred, hold = _holdout(wh, df, params, cal, test_end, rate)
    metrics: dict[str, Any] = {
        "split": f"out-of-time: BG/NBD fitted on card-spend days in the 365 days to {cal}; hold-out = the "
                 f"same customers' spend days in {cal + dt.timedelta(days=1)} … {test_end}",
        "train_rows": len(df),
        "params": {"r": params.r, "alpha": params.alpha, "a": params.a, "b": params.b,
                   "log_likelihood": params.log_likelihood},
        "holdout": hold,
    }
    value_pred = pred * df["spend"].to_numpy() * rate
    artifact = {"kind": "bgnbd", "target": NAME, "params": params, "rate": rate, "value_weeks": value_months
                * WEEKS_PER_MONTH, "features": ["frequency", "recency", "T", "spend"],
                "train_scores": value_pred[: 20_000]}
    h = hashlib.sha256(pd.util.hash_pandas_object(df[["customer_id", "frequency", "recency", "T", "spend"]]
                                                  .astype(str), index=False).to_numpy().tobytes()).hexdigest()
    mv = registry.register(engine, name=NAME, target=NAME, entity="customer", kind="bgnbd", artifact=artifact,
                           created_by=user, train_dates=[cal - dt.timedelta(days=364), cal], test_dates=[test_end],
                           fingerprint=h, features=artifact["features"],
                           params={"horizon_months": horizon_months, "value_months": value_months, "rate": rate},
                           metrics=metrics, folder=folder)
    return mv, metrics


def score_frame(art: dict[str, Any], wh: Any, as_of: dt.date) -> Any:
    """(customer_id, score = expected card contribution in yuan over the value horizon, reasons JSON) for the
    customers alive at ``as_of`` with card spending in the year to ``as_of``."""
    import json

    import pandas as pd

    p: BGNBD = art["params"]
    df = rfm(wh, as_of)
    df = df[df["customer_id"].isin(set(alive_customers(wh, as_of)))].reset_index(drop=True)
    weeks = float(art["value_weeks"])
    days = expected_purchases(p, weeks, df["frequency"], df["recency"], df["T"])
    alive = p_alive(p, df["frequency"], df["recency"], df["T"])
    value = days * df["spend"].to_numpy() * float(art["rate"])
    months = round(weeks / WEEKS_PER_MONTH)
    enc = json.JSONEncoder(ensure_ascii=False).encode
    reasons = [enc([f"预计未来{months}个月刷卡消费约{d:.0f}天、每个消费日平均{s:,.0f}元，仍活跃的概率{a:.0%}"])
               for d, s, a in zip(days, df["spend"].to_numpy(), alive, strict=True)]
    return pd.DataFrame({"customer_id": df["customer_id"].astype(str).to_numpy(), "score": value,
                         "reasons": reasons})


def evaluate(wh: Any, mv: Any, art: dict[str, Any], as_of: dt.date | None = None) -> dict[str, Any]:
    """A registered version on the latest matured hold-out: calibration end ``as_of`` (default: the data end
    minus the model's hold-out horizon), the fitted parameters applied to each alive customer's card-spend
    history up to then, compared with the spend days that followed; drift (PSI of the value scores against
    the training scores) and decay (Spearman at registration vs now)."""
    from kequn.errors import ValidationError
    from kequn.models import metrics as M
    from kequn.models.datasets import add_months, data_end

    months = int(mv.params.get("horizon_months", 3))
    end = data_end(wh)
    cal = as_of or add_months(end, -months)
    test_end = add_months(cal, months)
    if test_end > end:
        raise ValidationError(f"customer_value: labels for {cal} mature on {test_end}, after the data end {end}; "
                              f"choose --as-of on or before {add_months(end, -months)}")
    p: BGNBD = art["params"]
    df = _alive_rfm(wh, cal)
    if df.empty:
        raise ValidationError(f"customer_value: no customers with card spending up to {cal}")
    df, _pred, hold = _holdout(wh, df, p, cal, test_end, float(art["rate"]))
    value = expected_purchases(p, float(art["value_weeks"]), df["frequency"], df["recency"], df["T"]) \
        * df["spend"].to_numpy() * float(art["rate"])
    out: dict[str, Any] = {
        "model": mv.ref, "status": mv.status, "as_of": str(cal), "target": NAME,
        "split": f"out-of-time: parameters fitted up to {mv.train_dates[-1]}; applied to the card-spend days up to "
                 f"{cal}, compared with the same customers' spend days in {cal + dt.timedelta(days=1)} … {test_end}",
        "holdout": hold,
        "psi_vs_train": M.psi(np.asarray(art["train_scores"], float), value),
    }
    reg = mv.metrics.get("holdout", {}).get("spearman")
    if reg is not None:
        out["decay"] = {"metric": "spearman", "at_registration": reg, "now": hold["spearman"],
                        "change": hold["spearman"] - reg}
    return out
