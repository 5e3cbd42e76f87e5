"""Batch scoring on Spark: features computed on Spark, the approved model applied per partition through
``mapInPandas``, scores with reasons written back as the Spark table ``model_score``.

The same model, the same features and the same table as :mod:`kequn.models.scoring` (the DuckDB/PostgreSQL
path); only where the work happens differs:

1. the features as of D are the Ibis expression :func:`kequn.models.datasets.features_expr` (the tag
   snapshots as of D, −1 and −3 months; missing snapshots are computed on Spark first), compiled to Spark
   SQL — nothing is pulled to the driver;
2. the approved artefact (``registry.load`` refuses drafts and retired versions; its hash is checked) is
   shipped to the executors inside the ``mapInPandas`` function; each pandas batch (≤ 10,000 rows, Spark's
   ``spark.sql.execution.arrow.maxRecordsPerBatch``) is prepared and predicted there;
3. reasons (exact SHAP contributions, the costly part) go to the ``reason_rows`` highest scores of the run,
   as on DuckDB: when the run is bigger than that, a first predict-only pass finds the cut-off score and the
   second pass explains the rows at or above it (ties at the cut-off all get reasons);
4. ``model_score`` on Spark is a Parquet table partitioned by (``score_name``, ``as_of``); the run replaces its
   partition with ``INSERT OVERWRITE … PARTITION`` (kequn.warehouse.spark.replace_partition), so re-scoring
   a day is idempotent as on DuckDB.

Executors need the driver's Python packages (kequn, lightgbm, pandas, pyarrow): in local mode they run the
driver's interpreter; on a cluster ship the virtualenv (docs/deploy-spark.md).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from kequn.errors import ValidationError
from kequn.models import datasets as D
from kequn.models.scoring import REASON_ROWS, SCHEMA, SCORE_TABLE, ScoreRun

#: the Spark schema of what each batch returns
BATCH_SCHEMA = "customer_id string, score double, reasons string"
PARTITION = ("score_name", "as_of")


def batch_scorer(art: dict[str, Any], key: str, *, reasons: int = 3,
                 cutoff: float | None = None) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The ``mapInPandas`` function: pandas batches of feature rows → (customer_id, score, reasons JSON).

    Reasons for the rows whose score is ≥ ``cutoff`` (every row when ``cutoff`` is None); none when
    ``reasons`` is 0. Pure per row, so the result does not depend on how Spark splits the data."""

    def run(frames: Iterator[Any]) -> Iterator[Any]:
        import numpy as np
        import pandas as pd

        from kequn.models import datasets
        from kequn.models.reasons import top_reasons

        dumps = json.JSONEncoder(ensure_ascii=False).encode
        for df in frames:
            if df.empty:
                continue
            df = df.reset_index(drop=True)
            X = datasets.prepare(df, art["features"])
            p = art["model"].predict_proba(X)[:, 1]
            words: list[list[str]] = [[] for _ in range(len(df))]
            if reasons:
                top = np.arange(len(df)) if cutoff is None else np.flatnonzero(p >= cutoff)
                if len(top):
                    for i, w in zip(top, top_reasons(art["model"], X.iloc[top], df.iloc[top], k=reasons), strict=True):
                        words[i] = w
            yield pd.DataFrame({"customer_id": df[key].astype(str).to_numpy(), "score": p.astype("float64"),
                                "reasons": [dumps(w) for w in words]})

    return run


def reward_batch_scorer(art: dict[str, Any]) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The ``mapInPandas`` function of the reward-sensitivity (uplift) model."""

    def run(frames: Iterator[Any]) -> Iterator[Any]:
        from kequn.models import reward

        for df in frames:
            if not df.empty:
                out = reward.score_frame(art, df.reset_index(drop=True))
                yield out.assign(score=out["score"].astype("float64"))[["customer_id", "score", "reasons"]]

    return run


def score(wh: Any, engine: Any, name: str, version: int | None = None, *, as_of: dt.date | None = None,
          reasons: int = 3, reason_rows: int = REASON_ROWS) -> ScoreRun:
    """Score every eligible entity as of ``as_of`` (default: the latest snapshot) on the Spark warehouse
    ``wh`` with an approved model; the scores replace (``score_name``, ``as_of``) in ``model_score``."""
    from pyspark.sql import functions as F

    from kequn.models import registry
    from kequn.tags.store import computed_dates
    from kequn.warehouse.spark import replace_partition

    if getattr(wh, "kind", None) != "spark":
        raise ValidationError(f"spark_scoring needs a Spark warehouse, not {getattr(wh, 'kind', wh)!r}; "
                              "use kequn.models.scoring.score")
    t0 = time.perf_counter()
    mv = registry.get(engine, name, version)
    art = registry.load(mv)  # refuses drafts and retired versions; checks the artefact's hash
    reward_model = mv.target == "reward_sensitivity"
    if reward_model:
        from kequn.models import reward

        entity, score_name = "customer", reward.NAME
    else:
        tgt = D.target(mv.target)
        entity, score_name = tgt.entity, tgt.score_name
    day = as_of or max(computed_dates(wh, entity) or [D.data_end(wh)])
    D.ensure_feature_snapshots(wh, entity, [day])
    key = "merchant_id" if entity == "merchant" else "customer_id"
    expr = D.features_expr(wh, entity, day)
    if entity == "customer" and "lifecycle_stage" in expr.columns:
        expr = expr.filter(expr.lifecycle_stage != "churned")
    spark = wh.con._session
    feats = spark.sql(str(wh.con.compile(expr)))
    if not reward_model:  # only what predict and the reasons read travels to the Python workers
        feats = feats.select(*[f"`{c}`" for c in dict.fromkeys([key, *art["features"]]) if c in feats.columns])
    feats = feats.persist()
    try:
        rows = feats.count()
        t1 = time.perf_counter()
        cutoff: float | None = None
        if reward_model:
            fn = reward_batch_scorer(art)
        else:
            if reasons and rows > reason_rows:
                first = feats.mapInPandas(batch_scorer(art, key, reasons=0), BATCH_SCHEMA)
                cutoff = first.orderBy(F.desc("score")).limit(reason_rows).agg(F.min("score")).first()[0]
            fn = batch_scorer(art, key, reasons=reasons, cutoff=cutoff)
        t2 = time.perf_counter()
        scored = feats.mapInPandas(fn, BATCH_SCHEMA).select(
            F.lit(entity).alias("entity"), "customer_id", "score", "reasons", F.lit(mv.ref).alias("model"))
        replace_partition(wh, SCORE_TABLE, {"score_name": score_name, "as_of": day}, scored, schema=SCHEMA)
    finally:
        feats.unpersist()
    t3 = time.perf_counter()
    from kequn.opstore import audit

    audit.record(engine, "kequn-models", "model.score", f"model:{mv.ref}",
                 details={"as_of": str(day), "rows": rows, "engine": "spark"})
    return ScoreRun(mv.ref, score_name, day, rows, {"features": round(t1 - t0, 2), "reason_cutoff": round(t2 - t1, 2),
                                                    "predict_and_write": round(t3 - t2, 2)})


__all__ = ["BATCH_SCHEMA", "batch_scorer", "reward_batch_scorer", "score"]
