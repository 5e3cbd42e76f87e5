"""Batch scoring: features as of D → predict → write scores with reasons back as tags.

Scores go to the warehouse table ``model_score`` (entity, customer_id, score_name, as_of, score, reasons,
model): the tag system's score slots (``churn_risk``, ``potential_score``, ``reward_sensitivity``) read the
latest score on or before their as-of day, and the Customer 360 view shows score and reasons. For merchant
models the entity id (merchant_id) is stored in the ``customer_id`` column with ``entity = 'merchant'``.
``reasons`` is a JSON list of plain-Chinese sentences. Re-scoring the same (score_name, as_of) replaces it.
Only approved or champion models score (registry.load refuses others).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

import ibis

from kequn.models import datasets as D

SCORE_TABLE = "model_score"
#: reasons (exact SHAP contributions, costly) are computed for this many highest scores per run — the lists
#: RMs work from; lower scores carry an empty reason list. Every row gets reasons when the run is smaller.
REASON_ROWS = 50_000
#: scoring streams the population from the warehouse in chunks of this many rows: memory stays that of one
#: chunk (features, matrix, predictions) at any population size — 10M customers score in 1M-row pieces
CHUNK_ROWS = 1_000_000
SCHEMA = {"entity": "string", "customer_id": "string", "score_name": "string", "as_of": "date",
          "score": "float64", "reasons": "string", "model": "string"}


@dataclass(frozen=True)
class ScoreRun:
    model: str
    score_name: str
    as_of: dt.date
    rows: int
    seconds: dict[str, float]


def ensure_table(wh: Any) -> None:
    if not wh.has_table(SCORE_TABLE):
        wh.con.create_table(SCORE_TABLE, schema=ibis.schema(SCHEMA))


def write_scores(wh: Any, frame: Any, score_name: str, as_of: dt.date) -> int:
    """Replace the scores of ``score_name`` as of ``as_of`` with ``frame`` (columns of SCHEMA)."""
    import pyarrow as pa

    ensure_table(wh)
    wh.sql(f"DELETE FROM {SCORE_TABLE} WHERE score_name = '{score_name}' AND as_of = DATE '{as_of.isoformat()}'")
    tbl = pa.Table.from_pandas(frame[list(SCHEMA)], preserve_index=False)
    if wh.kind == "duckdb":
        con = wh.con.con
        con.register("_kequn_scores", tbl)
        try:
            con.execute(f"INSERT INTO {SCORE_TABLE} SELECT * FROM _kequn_scores")
        finally:
            con.unregister("_kequn_scores")
    else:
        wh.con.insert(SCORE_TABLE, ibis.memtable(tbl))
    return len(frame)


def score_frame(art: dict[str, Any], df: Any, key: str, *, reasons: int = 3, reason_rows: int = REASON_ROWS) -> Any:
    """A frame (key, score, reasons JSON) for the feature rows ``df``; reasons for the ``reason_rows``
    highest scores.

    Batch path: one predict over all rows, contributions (``pred_contrib``) only for the reason rows, the
    top reasons picked with numpy, each distinct (feature, value) sentence formatted once and each row's JSON
    assembled from already-encoded sentences. Equal to :func:`score_frame_reference` (tested)."""
    return score_chunks(art, [df], key, reasons=reasons, reason_rows=reason_rows)


def score_chunks(art: dict[str, Any], chunks: Any, key: str, *, reasons: int = 3, reason_rows: int = REASON_ROWS,
                 timings: dict[str, float] | None = None) -> Any:
    """:func:`score_frame` over feature frames that arrive one after another (``chunks``, an iterable):
    each chunk is predicted and dropped, keeping its ids, scores and its own ``reason_rows`` best rows as
    candidates; the reasons are then computed once for the overall best ``reason_rows`` (ties in input
    order, as in one frame). The result equals :func:`score_frame` on the concatenated frames (tested).
    ``timings`` (when given) gets ``features`` (waiting for chunks) and ``predict`` seconds added."""
    import numpy as np
    import pandas as pd

    from kequn.models.reasons import reason_json

    ids: list[Any] = []
    scores: list[Any] = []
    cand: Any = None  # candidate feature rows for reasons, with their score and overall position
    cand_p = np.empty(0)
    cand_pos = np.empty(0, dtype=np.int64)
    offset = 0
    clock = time.perf_counter()
    it = iter(chunks)
    while True:
        df = next(it, None)
        now = time.perf_counter()
        if timings is not None:
            timings["features"] = timings.get("features", 0.0) + now - clock
        if df is None:
            break
        p = predict_batch(art["model"], D.prepare(df, art["features"]))
        ids.append(df[key].astype(str).to_numpy())
        scores.append(p)
        if reasons and len(df):
            top = np.argsort(-p, kind="stable")[:reason_rows]
            rows = df.iloc[top]
            cand = rows if cand is None else pd.concat([cand, rows], ignore_index=True)
            cand_p = np.concatenate([cand_p, p[top]])
            cand_pos = np.concatenate([cand_pos, top.astype(np.int64) + offset])
            keep = np.lexsort((cand_pos, -cand_p))[:reason_rows]  # score descending, then input order
            cand, cand_p, cand_pos = cand.iloc[keep].reset_index(drop=True), cand_p[keep], cand_pos[keep]
        offset += len(df)
        clock = time.perf_counter()
        if timings is not None:
            timings["predict"] = timings.get("predict", 0.0) + clock - now
    t0 = time.perf_counter()
    all_ids = np.concatenate(ids) if ids else np.empty(0, dtype=object)
    p_all = np.concatenate(scores) if scores else np.empty(0)
    text = np.full(len(p_all), "[]", dtype=object)
    if cand is not None and len(cand):
        text[cand_pos] = reason_json(art["model"], D.prepare(cand, art["features"]), cand, k=reasons)
    if timings is not None:
        timings["predict"] = timings.get("predict", 0.0) + time.perf_counter() - t0
    return pd.DataFrame({"customer_id": all_ids, "score": p_all, "reasons": text})


def predict_batch(model: Any, X: Any) -> Any:
    """``model.predict_proba(X)[:, 1]`` with the frame converted to LightGBM's float matrix once (not once per
    calibration fold): the same numbers reach the same boosters, so the scores are identical."""
    import warnings

    from kequn.models.reasons import lightgbm_matrix

    if model.kind != "lightgbm" or not len(X):
        return model.predict_proba(X)[:, 1]
    A = lightgbm_matrix(model._matrix(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "X does not have valid feature names": positions match
        return model.model_.predict_proba(A)[:, 1]


def score_frame_reference(art: dict[str, Any], df: Any, key: str, *, reasons: int = 3,
                          reason_rows: int = REASON_ROWS) -> Any:
    """The straightforward version of :func:`score_frame` (reasons as Python lists, one JSON dump per row):
    the reference the batch path is tested against."""
    import numpy as np
    import pandas as pd

    from kequn.models.reasons import top_reasons

    X = D.prepare(df, art["features"])
    p = art["model"].predict_proba(X)[:, 1]
    words: list[list[str]] = [[] for _ in range(len(df))]
    if reasons:
        top = np.argsort(-p, kind="stable")[:reason_rows]
        for i, w in zip(top, top_reasons(art["model"], X.iloc[top], df.iloc[top], k=reasons), strict=True):
            words[i] = w
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    return pd.DataFrame({"customer_id": df[key].astype(str).to_numpy(), "score": p,
                         "reasons": [dumps(w) for w in words]})


def _population(wh: Any, entity: str, day: dt.date) -> Any:
    """The scoring population's feature expression (customers in lifecycle stage ``churned`` left out)."""
    expr = D.features_expr(wh, entity, day)
    if entity == "customer" and "lifecycle_stage" in expr.columns:
        expr = expr.filter(expr.lifecycle_stage != "churned")
    return expr


def _arrow_frame(tbl: Any, dates: list[str]) -> Any:
    import pandas as pd

    df = tbl.to_pandas()
    for name in dates:  # dates as ibis's own to_pandas gives them (datetime64[s])
        df[name] = pd.Series(tbl.column(name).to_pandas(date_as_object=False).to_numpy()
                             .astype("datetime64[s]"), index=df.index)
    return df


def features_frame(wh: Any, entity: str, day: dt.date) -> Any:
    """The scoring population's features as of ``day``: one query, read as Arrow, converted to pandas once.
    Same frame as ``expr.to_pandas()``, several times faster."""
    expr = _population(wh, entity, day)
    return _arrow_frame(expr.to_pyarrow(), [n for n, t in expr.schema().items() if t.is_date()])


def feature_chunks(wh: Any, entity: str, day: dt.date, chunk_rows: int = CHUNK_ROWS) -> Any:
    """:func:`features_frame` streamed: frames of at most ``chunk_rows`` rows, read from one query as Arrow
    record batches (the warehouse connection is busy until the last chunk has been taken)."""
    import pyarrow as pa

    expr = _population(wh, entity, day)
    dates = [n for n, t in expr.schema().items() if t.is_date()]
    reader = expr.to_pyarrow_batches(chunk_size=chunk_rows)
    for batch in reader:
        if batch.num_rows:
            yield _arrow_frame(pa.Table.from_batches([batch]), dates)


def score(wh: Any, engine: Any, name: str, version: int | None = None, *, as_of: dt.date | None = None,
          reasons: int = 3) -> ScoreRun:
    """Score every eligible entity as of ``as_of`` (default: the latest snapshot) with an approved model."""
    from kequn.models import registry
    from kequn.tags.store import computed_dates

    t0 = time.perf_counter()
    mv = registry.get(engine, name, version)
    art = registry.load(mv)  # refuses drafts and retired versions
    if mv.target == "customer_value":
        return _score_value(wh, engine, mv, art, as_of, t0)
    if mv.target == "reward_sensitivity":
        from kequn.models import reward

        entity, score_name = "customer", reward.NAME
    else:
        tgt = D.target(mv.target)
        entity, score_name = tgt.entity, tgt.score_name
    day = as_of or max(computed_dates(wh, entity) or [D.data_end(wh)])
    D.ensure_feature_snapshots(wh, entity, [day])
    key = "merchant_id" if entity == "merchant" else "customer_id"
    seconds: dict[str, float] = {"features": time.perf_counter() - t0}
    chunks = feature_chunks(wh, entity, day)
    if mv.target == "reward_sensitivity":
        import pandas as pd

        parts, clock = [], time.perf_counter()
        for df in chunks:
            got = time.perf_counter()
            seconds["features"] += got - clock
            parts.append(reward.score_frame(art, df))
            clock = time.perf_counter()
            seconds["predict"] = seconds.get("predict", 0.0) + clock - got
        out = pd.concat(parts, ignore_index=True) if parts else reward.score_frame(art, features_frame(wh, entity, day))
    else:
        out = score_chunks(art, chunks, key, reasons=reasons, timings=seconds)
    t2 = time.perf_counter()
    out.insert(0, "entity", entity)
    out["score_name"], out["as_of"], out["model"] = score_name, day, mv.ref
    n = write_scores(wh, out, score_name, day)
    t3 = time.perf_counter()
    from kequn.opstore import audit

    audit.record(engine, "kequn-models", "model.score", f"model:{mv.ref}", details={"as_of": str(day), "rows": n})
    return ScoreRun(mv.ref, score_name, day, n, {"features": round(seconds["features"], 2),
                                                      "predict": round(seconds.get("predict", 0.0), 2),
                                                      "write": round(t3 - t2, 2)})


def _score_value(wh: Any, engine: Any, mv: Any, art: dict[str, Any], as_of: dt.date | None, t0: float) -> ScoreRun:
    """Customer value (BG/NBD, kequn.models.clv): score = expected card contribution in yuan over the value
    horizon, with one reason sentence; as of ``as_of`` (default: the data end)."""
    from kequn.models import clv
    from kequn.opstore import audit

    day = as_of or D.data_end(wh)
    t1 = time.perf_counter()
    out = clv.score_frame(art, wh, day)
    t2 = time.perf_counter()
    out.insert(0, "entity", "customer")
    out["score_name"], out["as_of"], out["model"] = clv.SCORE_NAME, day, mv.ref
    n = write_scores(wh, out, clv.SCORE_NAME, day)
    t3 = time.perf_counter()
    audit.record(engine, "kequn-models", "model.score", f"model:{mv.ref}", details={"as_of": str(day), "rows": n})
    return ScoreRun(mv.ref, clv.SCORE_NAME, day, n, {"features": round(t1 - t0, 2), "predict": round(t2 - t1, 2),
                                                          "write": round(t3 - t2, 2)})
