"""Train, evaluate and compare registered models on point-in-time training sets (out-of-time by default).

The artifact saved in the registry is a dict: ``model`` (a fitted KequnClassifier), ``features``, ``target``,
``train_scores`` (a sample of the training scores, the PSI reference) and ``kind``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from kequn.models import datasets as D
from kequn.models import metrics as M
from kequn.models.estimators import KequnClassifier

#: default contact capacity of a branch (top k per evaluation), overridable per call
DEFAULT_CAPACITY = 500


def evaluate_scores(y: Any, p: Any, capacity: int | None = None) -> dict[str, Any]:
    """The report's classification block, with the contact capacity never above the population."""
    y = np.asarray(y)
    k = min(capacity or DEFAULT_CAPACITY, len(y)) if len(y) else 1
    return M.classification_summary(y, p, capacity=k)


def fit(ts: D.TrainingSet, kind: str = "lightgbm", **params: Any) -> KequnClassifier:
    X = D.prepare(ts.train, ts.features)
    return KequnClassifier(kind=kind, **params).fit(X, ts.train["label"].to_numpy())


def predict(artifact: dict[str, Any], df: Any) -> np.ndarray:
    return artifact["model"].predict_proba(D.prepare(df, artifact["features"]))[:, 1]


def train(wh: Any, engine: Any, name: str, *, user: str, kind: str = "lightgbm", dates: list[dt.date] | None = None,
          test_dates: int = 1, capacity: int | None = None, truth: Any = None, folder: Any = None,
          **params: Any) -> tuple[Any, dict[str, Any]]:
    """Build the training set, fit, evaluate out of time on the later dates, register a draft version.

    ``truth`` (the synthetic bank's truth/ folder) adds the oracle AUC to the evaluation only."""
    from kequn.models import registry

    ts = D.build(wh, name, dates=dates, test_dates=test_dates)
    model = fit(ts, kind, **params)
    artifact = {"model": model, "features": ts.features, "target": name, "kind": kind}
    p_train = predict(artifact, ts.train)
    p_test = predict(artifact, ts.test)
    rng = np.random.default_rng(0)
    artifact["train_scores"] = rng.choice(p_train, size=min(len(p_train), 20_000), replace=False)
    metrics: dict[str, Any] = {"split": f"out-of-time: train {ts.train_dates[0]}…{ts.train_dates[-1]}, "
                        f"test {', '.join(map(str, ts.test_dates))}",
               "train_rows": len(ts.train), "train_base_rate": float(ts.train["label"].mean()),
               "test": evaluate_scores(ts.test["label"], p_test, capacity),
               "train_auc": M.roc_auc(ts.train["label"], p_train),
               "psi_test_vs_train": M.psi(p_train, p_test)}
    if truth is not None and name in ("retail_churn", "merchant_churn"):
        from kequn.models.oracle import churn_oracle

        metrics["oracle"] = churn_oracle(truth, ts.test, ts.target.entity)
        metrics["gap_to_oracle"] = metrics["oracle"]["auc"] - metrics["test"]["auc"]
    mv = registry.register(engine, name=name, target=name, entity=ts.target.entity, kind=kind, artifact=artifact,
                           created_by=user, train_dates=ts.train_dates, test_dates=ts.test_dates,
                           fingerprint=ts.fingerprint(), features=ts.features,
                           params={**model.get_params(), "test_dates": test_dates}, metrics=metrics, folder=folder)
    return mv, metrics


def evaluate(wh: Any, engine: Any, name: str, version: int | None = None, *, as_of: dt.date | None = None,
             capacity: int | None = None, truth: Any = None) -> dict[str, Any]:
    """Evaluate a registered version on the latest snapshot date with matured labels (or ``as_of``):
    discrimination, capacity metrics, calibration, drift (PSI against the training scores) and decay
    (AUC at registration vs now)."""
    from kequn.models import registry

    mv = registry.get(engine, name, version)
    art = registry.load(mv, for_scoring=False)
    if mv.target == "customer_value":
        from kequn.models import clv

        return clv.evaluate(wh, mv, art, as_of)
    if mv.target == "reward_sensitivity":
        from kequn.models import reward

        return reward.evaluate(wh, mv, art, as_of)
    tgt = D.target(mv.target)
    day = as_of or D.matured_dates(wh, tgt)[-1]
    D.ensure_feature_snapshots(wh, tgt.entity, [day])
    df = D.frame(wh, tgt, day)
    p = predict(art, df)
    out: dict[str, Any] = {"model": mv.ref, "status": mv.status, "as_of": str(day), "target": mv.target,
                           "split": f"evaluated on snapshot {day} (trained on {', '.join(mv.train_dates)})",
                           "test": evaluate_scores(df["label"], p, capacity),
                           "psi_vs_train": M.psi(art["train_scores"], p)}
    reg_auc = mv.metrics.get("test", {}).get("auc")
    if reg_auc is not None:
        out["decay"] = {"auc_at_registration": reg_auc, "auc_now": out["test"]["auc"],
                        "change": out["test"]["auc"] - reg_auc}
    if truth is not None and tgt.name in ("retail_churn", "merchant_churn"):
        from kequn.models.oracle import churn_oracle

        out["oracle"] = churn_oracle(truth, df[[c for c in df.columns if c in ("customer_id", "merchant_id", "as_of",
                                                                               "label")]], tgt.entity)
    return out


def compare(wh: Any, engine: Any, name: str, *, as_of: dt.date | None = None,
            capacity: int | None = None) -> dict[str, Any]:
    """Champion vs the newest approved challenger on the same matured snapshot."""
    from kequn.errors import NotFoundError
    from kequn.models import registry

    versions = registry.list_models(engine, name)
    champ = [m for m in versions if m.status == "champion"]
    chall = [m for m in versions if m.status in ("approved", "draft")]
    if not champ or not chall:
        raise NotFoundError(f"model {name}: need a champion and a challenger (approved or draft) to compare; "
                            f"have {[(m.version, m.status) for m in versions]}")
    rows = [evaluate(wh, engine, name, m.version, as_of=as_of, capacity=capacity) for m in (champ[-1], chall[-1])]
    return {"champion": rows[0], "challenger": rows[1],
            "auc_difference": rows[1]["test"]["auc"] - rows[0]["test"]["auc"],
            "precision_at_capacity_difference": rows[1]["test"]["at_capacity"]["precision"]
            - rows[0]["test"]["at_capacity"]["precision"]}
