"""Reward sensitivity (权益敏感度) as an uplift model trained on randomised campaign history.

Training rows are the contacts of randomised campaigns in ``contact_history`` (arm treatment/control),
each with the customer's tag features as of the month end before the contact (point in time) and the
offered reward type (from the campaign code, e.g. LEGACY-202609-COUPON → coupon); the outcome is
``converted``. Held-out: a random share of contacts (stratified by arm and offer) — assignment was
random, so this is an honest test of ranking by uplift. The model (T-learner by default) predicts the
conversion uplift of each reward type; the customer's score is the largest predicted uplift over the
reward types, its reason names that reward.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np

from kequn.errors import NotFoundError
from kequn.models import datasets as D
from kequn.models import metrics as M

NAME = "reward_sensitivity"
REWARD_ZH = {"coupon": "消费券", "cashback": "刷卡返现", "video_membership": "视频会员", "fuel": "加油券",
             "health_check": "体检权益"}
LEARNERS = ("t", "x", "ct", "t-offer", "t-offer-logistic")
FUEL_MCC = "5541"


def contacts(wh: Any) -> Any:
    """Randomised contacts (both arms) with the reward type, contact day and the snapshot date before it."""
    import pandas as pd

    h = wh.table("contact_history")
    h = h.filter(h.arm.isin(("treatment", "control")))
    df = h.select("contact_id", "customer_id", "campaign_code", "ts", "arm", "converted").to_pandas()
    if df.empty:
        raise NotFoundError("no randomised campaign contacts (arm treatment/control) in contact_history")
    df["offer"] = df["campaign_code"].str.rsplit("-", n=1).str[-1].str.lower()
    day = pd.to_datetime(df["ts"]).dt.date
    df["snapshot"] = [D.add_months(d - dt.timedelta(days=d.day), 0) for d in day]
    df["treatment"] = (df["arm"] == "treatment").astype(int)
    df["label"] = df["converted"].fillna(False).astype(int)
    return df


def training_frame(wh: Any) -> Any:
    df = contacts(wh)
    start = D.data_start(wh)
    dates = sorted(d for d in set(df["snapshot"]) if d >= start)
    D.ensure_feature_snapshots(wh, "customer", dates)
    import pandas as pd

    parts = []
    for d in dates:
        f = D.features_expr(wh, "customer", d).to_pandas()
        rows = df[df["snapshot"] == d]
        parts.append(rows.merge(f, on="customer_id", how="inner"))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values("contact_id", kind="stable").reset_index(drop=True)


def simulated_frame(wh: Any, synth_dir: Any, as_of: dt.date, *, share: float = 1.0, seed: int = 0) -> Any:
    """A randomised sandbox campaign run through the synthetic bank's response simulator (the "world"):
    every alive customer as of ``as_of`` (or a random ``share``) gets each reward type, arm drawn 50/50,
    channel ``sandbox``, contact 10 days after ``as_of``. The model only sees features, arm and outcome;
    the simulator's expected uplift is kept in ``true_uplift`` for the evaluation alone."""
    import pandas as pd

    from kequn.synth.catalogue import REWARD_TYPES
    from kequn.synth.response import ResponseSimulator

    D.ensure_feature_snapshots(wh, "customer", [as_of])
    f = D.features_expr(wh, "customer", as_of)
    f = f.filter(f.lifecycle_stage != "churned").to_pandas()
    rng = np.random.default_rng(seed)
    f = f[rng.random(len(f)) < share].reset_index(drop=True)
    n, k = len(f), len(REWARD_TYPES)
    c = pd.DataFrame({"customer_id": np.repeat(f["customer_id"].to_numpy(), k),
                      "offer": np.tile(np.array(REWARD_TYPES), n), "channel": "sandbox",
                      "date": pd.Timestamp(as_of + dt.timedelta(days=10)),
                      "arm": np.where(rng.random(n * k) < 0.5, "treatment", "control")})
    c["contact_id"] = [f"SIM-{as_of:%Y%m}-{i:08d}" for i in range(len(c))]
    sim = ResponseSimulator(synth_dir, seed=seed)
    res, exp = sim.respond(c), sim.expected(c)
    c["converted"], c["true_uplift"] = res["converted"].to_numpy(), exp["true_uplift"].to_numpy()
    c["campaign_code"], c["ts"], c["snapshot"] = f"SIM-{as_of:%Y%m}", c["date"], as_of
    c["treatment"] = (c["arm"] == "treatment").astype(int)
    c["label"] = c["converted"].astype(int)
    return c.drop(columns=["channel", "date"]).merge(f, on="customer_id", how="inner")


def _learner(kind: str) -> Any:
    from kequn.models.estimators import KequnClassifier
    from kequn.models.uplift import ClassTransformation, TLearner, XLearner

    if kind == "t-offer-logistic":
        return TLearner(KequnClassifier(kind="logistic", calibrate=None, C=0.1))
    if kind == "t-offer":
        return TLearner()
    return {"t": TLearner, "x": XLearner, "ct": ClassTransformation}[kind]()


def enrich(df: Any) -> Any:
    """Reward-specific features from tags: fuel among the top spend categories (car owners → fuel reward)."""
    if "top_spend_categories" in df.columns:
        df = df.assign(fuel_top_spend=df["top_spend_categories"].fillna("").str.contains(FUEL_MCC).astype(float))
    return df


def predict(art: dict[str, Any], df: Any) -> np.ndarray:
    """Predicted uplift of each row for the row's ``offer``."""
    model = art["model"]
    if not isinstance(model, dict):
        return np.asarray(model.predict(D.prepare(enrich(df), art["features"])))
    out = np.full(len(df), np.nan)
    offers = df["offer"].to_numpy()
    for offer, m in model.items():
        sel = offers == offer
        if sel.any():
            out[sel] = m.predict(D.prepare(enrich(df[sel]), art["features"]))
    return out


def _fit(kind: str, train: Any, feats: list[str]) -> Any:
    if not kind.startswith("t-offer"):
        return _learner(kind).fit(D.prepare(train, feats), train["label"].to_numpy(), train["treatment"].to_numpy())
    out = {}
    for offer, rows in train.groupby("offer"):
        out[offer] = _learner(kind).fit(D.prepare(rows, feats), rows["label"].to_numpy(), rows["treatment"].to_numpy())
    return out


def split(df: Any, test_share: float = 0.4, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    test = np.zeros(len(df), dtype=bool)
    for _, idx in df.groupby(["offer", "arm"]).indices.items():
        idx = rng.permutation(idx)
        test[idx[: int(round(test_share * len(idx)))]] = True
    return df[~test].reset_index(drop=True), df[test].reset_index(drop=True)


def fit_evaluate(df: Any, kind: str = "t", truth: Any = None, test_share: float = 0.4) -> tuple[dict, dict]:
    train, test = split(enrich(df), test_share)
    feats = D.feature_columns(train.drop(columns=["contact_id", "campaign_code", "ts", "arm", "converted",
                                                  "snapshot", "treatment", "true_uplift"], errors="ignore"))
    if kind.startswith("t-offer"):
        feats = [f for f in feats if f != "offer"]
    model = _fit(kind, train, feats)
    art = {"model": model, "features": feats, "target": NAME, "kind": f"uplift-{kind}",
           "offers": sorted(df["offer"].unique())}
    u = predict(art, test)
    y, t = test["label"].to_numpy(), test["treatment"].to_numpy()
    metrics: dict[str, Any] = {
        "split": f"random {test_share:.0%} of randomised contacts held out (stratified by offer and arm)",
        "train_rows": len(train), "test_rows": len(test),
        "qini": M.qini_coefficient(y, t, u), "uplift_at_30pct": M.uplift_at_k(y, t, u, 0.3),
        "observed_uplift": float(y[t == 1].mean() - y[t == 0].mean()),
    }
    q = M.bootstrap_ci(lambda a, b, c: M.qini_coefficient(a, b, c), y, t, u, n_boot=100)
    metrics["qini_ci"] = [q[1], q[2]]
    if truth is not None or "true_uplift" in test.columns:
        from kequn.models.oracle import expected_qini, uplift_truth

        true_u = (test["true_uplift"].to_numpy(dtype=float) if "true_uplift" in test.columns
                  else uplift_truth(truth, test["contact_id"]))
        ok = ~np.isnan(true_u)
        metrics["oracle_qini_observed"] = M.qini_coefficient(y[ok], t[ok], true_u[ok])
        # noise-free: the expected incremental conversions when targeting by each score
        metrics["expected_qini"] = expected_qini(true_u[ok], u[ok])
        metrics["oracle_qini"] = expected_qini(true_u[ok], true_u[ok])
        metrics["qini_share_of_oracle"] = (metrics["expected_qini"] / metrics["oracle_qini"]
                                           if metrics["oracle_qini"] > 0 else float("nan"))
        metrics["rank_corr_with_true_uplift"] = float(np.corrcoef(np.argsort(np.argsort(u[ok])),
                                                                  np.argsort(np.argsort(true_u[ok])))[0, 1])
    return art, {**metrics, "_train": train}


def train(wh: Any, engine: Any, *, user: str, kind: str = "t-offer", truth: Any = None, folder: Any = None,
          simulate: Any = None, as_of: dt.date | None = None) -> tuple[Any, dict[str, Any]]:
    """Train on the campaign history (default) or, with ``simulate`` = the synthetic bank folder, on a
    randomised sandbox campaign run through its response simulator as of ``as_of``."""
    from kequn.models import registry

    if simulate is not None:
        df = simulated_frame(wh, simulate, as_of or D.add_months(D.data_end(wh), -1))
    else:
        df = training_frame(wh)
    art, metrics = fit_evaluate(df, kind, truth)
    tr = metrics.pop("_train")
    import hashlib

    import pandas as pd

    fp = hashlib.sha256(pd.util.hash_pandas_object(tr[["contact_id", "label", "treatment"]].astype(str),
                                                   index=False).to_numpy().tobytes()).hexdigest()
    dates = sorted({str(d) for d in tr["snapshot"]})
    mv = registry.register(engine, name=NAME, target=NAME, entity="customer", kind=art["kind"], artifact=art,
                           created_by=user, train_dates=dates, test_dates=dates, fingerprint=fp,
                           features=art["features"], params={"learner": kind}, metrics=metrics, folder=folder)
    return mv, metrics


def score_frame(art: dict[str, Any], df: Any) -> Any:
    """(customer_id, score = best predicted uplift, reasons naming the best reward)."""
    import pandas as pd

    best = np.full(len(df), -np.inf)
    best_offer = np.array([""] * len(df), dtype=object)
    for offer in art["offers"]:
        u = predict(art, df.assign(offer=offer))
        better = u > best
        best = np.where(better, u, best)
        best_offer = np.where(better, offer, best_offer)
    reasons = [json.dumps([f"对「{REWARD_ZH.get(o, o)}」的预计转化提升最高（{u * 100:+.1f}个百分点）"], ensure_ascii=False)
               for o, u in zip(best_offer, best, strict=True)]
    return pd.DataFrame({"customer_id": df["customer_id"].astype(str).to_numpy(), "score": best, "reasons": reasons})
