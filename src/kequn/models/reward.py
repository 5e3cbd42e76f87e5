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
from decimal import Decimal
from typing import Any

import numpy as np

from kequn.errors import NotFoundError
from kequn.models import datasets as D
from kequn.models import metrics as M

NAME = "reward_sensitivity"
REWARD_ZH = {"coupon": "消费券", "cashback": "刷卡返现", "video_membership": "视频会员", "fuel": "加油券",
             "health_check": "体检权益"}
LEARNERS = ("dr-offer", "t", "x", "ct", "t-offer", "t-offer-logistic")
DEFAULT_LEARNER = "dr-offer"
FUEL_MCC = "5541"
AGE_BAND_MID = {"18-24": 21.0, "25-34": 30.0, "35-44": 40.0, "45-54": 50.0, "55-64": 60.0, "65+": 70.0}
#: the compact feature set of the ``dr-offer`` learner: tags that describe who a reward appeals to — life stage
#: (age), newcomers to the city, income (payroll salary, money in), card spending, car use (fuel among the top
#: spend categories), digital habits (app, logins, activity), holdings and tenure. Chosen by domain reasoning
#: (and, on the synthetic bank, knowing which traits drive its rewards' effects — see docs/models.md); a
#: short list matters because uplift is a small signal and every extra feature is room to fit noise.
DRIVER_FEATURES = ["age_band_mid", "new_citizen_flag", "salary_avg_90d", "money_in_30d", "money_in_90d",
                   "card_spend_90d", "fuel_top_spend", "app_active_flag", "login_days_30d", "active_days_30d",
                   "txn_count_30d", "payroll_flag", "aum", "tenure_months"]


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


def training_frame(wh: Any, since: dt.date | None = None) -> Any:
    """The randomised contacts (optionally only those whose snapshot is on or after ``since``) joined with the
    customer's features as of the snapshot before the contact."""
    df = contacts(wh)
    if since is not None:
        df = df[df["snapshot"] >= since]
        if df.empty:
            raise NotFoundError(f"no randomised campaign contacts (arm treatment/control) after {since}: run a "
                                f"campaign with a control group, let its conversions mature, then evaluate")
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


def simulated_frame(wh: Any, synth_dir: Any, as_of: dt.date, *, share: float = 1.0, seed: int = 0,
                    waves: int = 1) -> Any:
    """A randomised sandbox campaign run through the synthetic bank's response simulator (the "world"):
    every alive customer as of ``as_of`` (or a random ``share``) gets each reward type, arm drawn 50/50,
    channel ``sandbox``, contact 10 days after ``as_of``. ``waves`` > 1 repeats the campaign that many times
    (column ``wave``; a fresh arm draw each time; the simulator draws each contact's outcome independently):
    a bigger experiment on the same customers, the stand-in for a longer randomised history or a bigger bank.
    The model only sees features, arm and outcome; the simulator's expected uplift is kept in
    ``true_uplift`` for the evaluation alone."""
    import pandas as pd

    from kequn.synth.catalogue import REWARD_TYPES
    from kequn.synth.response import ResponseSimulator

    D.ensure_feature_snapshots(wh, "customer", [as_of])
    f = D.features_expr(wh, "customer", as_of)
    f = f.filter(f.lifecycle_stage != "churned").to_pandas()
    rng = np.random.default_rng(seed)
    f = f[rng.random(len(f)) < share].reset_index(drop=True)
    n, k = len(f), len(REWARD_TYPES)
    c = pd.DataFrame({"customer_id": np.tile(np.repeat(f["customer_id"].to_numpy(), k), waves),
                      "offer": np.tile(np.array(REWARD_TYPES), n * waves), "channel": "sandbox",
                      "date": pd.Timestamp(as_of + dt.timedelta(days=10)),
                      "wave": np.repeat(np.arange(waves), n * k),
                      "arm": np.where(rng.random(n * k * waves) < 0.5, "treatment", "control")})
    c["contact_id"] = (f"SIM-{as_of:%Y%m}-" + pd.Series(np.arange(len(c))).astype(str).str.zfill(9)).to_numpy()
    sim = ResponseSimulator(synth_dir, seed=seed)
    res, exp = sim.respond(c), sim.expected(c)
    c["converted"], c["true_uplift"] = res["converted"].to_numpy(), exp["true_uplift"].to_numpy()
    c["campaign_code"], c["ts"], c["snapshot"] = f"SIM-{as_of:%Y%m}", c["date"], as_of
    c["treatment"] = (c["arm"] == "treatment").astype(int)
    c["label"] = c["converted"].astype(int)
    return c.drop(columns=["channel", "date"]).merge(f, on="customer_id", how="inner")


def _learner(kind: str) -> Any:
    from kequn.models.estimators import KequnClassifier
    from kequn.models.uplift import ClassTransformation, DRLearner, TLearner, XLearner

    if kind == "dr-offer":
        return DRLearner(KequnClassifier(calibrate=None, n_estimators=150, learning_rate=0.03, num_leaves=15,
                                         min_child_samples=200, n_jobs=1))
    if kind == "t-offer-logistic":
        return TLearner(KequnClassifier(kind="logistic", calibrate=None, C=0.1))
    if kind == "t-offer":
        return TLearner()
    return {"t": TLearner, "x": XLearner, "ct": ClassTransformation}[kind]()


def enrich(df: Any) -> Any:
    """Reward-specific features from tags: fuel among the top spend categories (car owners → fuel reward),
    the age band as a number (its midpoint, so trees can split on age order)."""
    if "top_spend_categories" in df.columns:
        df = df.assign(fuel_top_spend=df["top_spend_categories"].fillna("").str.contains(FUEL_MCC).astype(float))
    if "age_band" in df.columns:
        df = df.assign(age_band_mid=df["age_band"].map(AGE_BAND_MID).astype(float))
    # money tags arrive as Decimal objects; as numbers, not as text categories
    money = [c for c in df.columns if df[c].dtype == object and isinstance(_first(df[c]), Decimal)]
    if money:
        df = df.assign(**{c: df[c].astype(float) for c in money})
    return df


def _first(s: Any) -> Any:
    v = s.dropna()
    return v.iloc[0] if len(v) else None


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
    if not _per_offer(kind):
        return _learner(kind).fit(D.prepare(train, feats), train["label"].to_numpy(), train["treatment"].to_numpy())
    out = {}
    for offer, rows in train.groupby("offer"):
        out[offer] = _learner(kind).fit(D.prepare(rows, feats), rows["label"].to_numpy(), rows["treatment"].to_numpy())
    return out


def split(df: Any, test_share: float = 0.4, seed: int = 0) -> tuple[Any, Any]:
    """Hold out a random ``test_share`` of the *customers*: all their contacts leave the training part (a
    customer's uplift is a trait, so the same customer on both sides would flatter the model). With several
    waves, the test part is the held-out customers' first wave (one contact per customer and reward, so the
    bootstrap resamples independent rows); their later waves are not used."""
    rng = np.random.default_rng(seed)
    cust = np.sort(df["customer_id"].astype(str).unique())
    held = set(cust[rng.random(len(cust)) < test_share])
    test = df["customer_id"].astype(str).isin(held).to_numpy()
    train = df[~test]
    te = df[test]
    if "wave" in te.columns:
        te = te[te["wave"] == te["wave"].min()]
    return train.reset_index(drop=True), te.reset_index(drop=True)


def _per_offer(kind: str) -> bool:
    return kind.startswith("t-offer") or kind == "dr-offer"


def fit_evaluate(df: Any, kind: str = DEFAULT_LEARNER, truth: Any = None, test_share: float = 0.4,
                 n_boot: int = 100) -> tuple[dict, dict]:
    train, test = split(enrich(df), test_share)
    if kind == "dr-offer":
        feats = [f for f in DRIVER_FEATURES if f in train.columns]
    else:
        feats = D.feature_columns(train.drop(columns=["contact_id", "campaign_code", "ts", "arm", "converted",
                                                      "snapshot", "treatment", "true_uplift", "wave"],
                                             errors="ignore"))
    if _per_offer(kind):
        feats = [f for f in feats if f != "offer"]
    model = _fit(kind, train, feats)
    art = {"model": model, "features": feats, "target": NAME, "kind": f"uplift-{kind}",
           "offers": sorted(df["offer"].unique())}
    u = predict(art, test)
    y, t = test["label"].to_numpy(), test["treatment"].to_numpy()
    metrics: dict[str, Any] = {
        "split": f"random {test_share:.0%} of customers held out (all their contacts; first wave tested)",
        "train_rows": len(train), "test_rows": len(test),
        "qini": M.qini_coefficient(y, t, u), "uplift_at_30pct": M.uplift_at_k(y, t, u, 0.3),
        "observed_uplift": float(y[t == 1].mean() - y[t == 0].mean()),
    }
    q = M.bootstrap_ci(M.qini_coefficient, y, t, u, n_boot=n_boot)
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


def train(wh: Any, engine: Any, *, user: str, kind: str = DEFAULT_LEARNER, truth: Any = None, folder: Any = None,
          simulate: Any = None, as_of: dt.date | None = None, waves: int = 1) -> tuple[Any, dict[str, Any]]:
    """Train on the campaign history (default) or, with ``simulate`` = the synthetic bank folder, on a
    randomised sandbox campaign run through its response simulator as of ``as_of``."""
    from kequn.models import registry

    if simulate is not None:
        df = simulated_frame(wh, simulate, as_of or D.add_months(D.data_end(wh), -1), waves=waves)
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
                           features=art["features"], params={"learner": kind, "waves": waves}, metrics=metrics, folder=folder)
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


def evaluate(wh: Any, mv: Any, art: dict[str, Any], as_of: dt.date | None = None, n_boot: int = 100) -> dict[str, Any]:
    """A registered version on randomised contacts it has not seen: those whose snapshot is after its last
    training date (or on or after ``as_of``), for the reward types it knows. Qini with a bootstrap CI, uplift
    in the top 30 %, the observed average uplift, and decay (Qini at registration vs now)."""
    since = as_of or (dt.date.fromisoformat(mv.train_dates[-1]) + dt.timedelta(days=1))
    df = training_frame(wh, since)
    df = df[df["offer"].isin(art["offers"])].reset_index(drop=True)
    y, t = df["label"].to_numpy(), df["treatment"].to_numpy()
    if df.empty or t.min() == t.max():
        raise NotFoundError(f"no randomised contacts with both arms for the rewards {', '.join(art['offers'])} "
                            f"on or after {since}")
    u = predict(art, df)
    q = M.bootstrap_ci(M.qini_coefficient, y, t, u, n_boot=n_boot)
    out: dict[str, Any] = {
        "model": mv.ref, "status": mv.status, "as_of": str(since), "target": NAME,
        "split": f"out-of-time: randomised contacts with snapshots {min(df['snapshot'])} … {max(df['snapshot'])} "
                 f"(trained on {mv.train_dates[0]} … {mv.train_dates[-1]})",
        "test_rows": len(df), "qini": q[0], "qini_ci": [q[1], q[2]],
        "uplift_at_30pct": M.uplift_at_k(y, t, u, 0.3),
        "observed_uplift": float(y[t == 1].mean() - y[t == 0].mean()),
    }
    reg = mv.metrics.get("qini")
    if reg is not None:
        out["decay"] = {"metric": "qini", "at_registration": reg, "now": q[0], "change": q[0] - reg}
    return out
