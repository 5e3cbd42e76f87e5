"""Models on a small synthetic bank (3,000 customers × 10 months, generated once per session):
point-in-time training sets, registry life cycle, scoring into tags with reasons in words, the evaluation
report and the oracle comparison (tolerances for small data; full-size figures are in docs/models.md)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from kequn.errors import PermissionDenied
from kequn.models import datasets as D
from kequn.models import registry, report, scoring, train
from models_bank import make_bank

SMALL = {"n_estimators": 80, "calibrate": "sigmoid"}
DATES = [dt.date(2026, 6, 30), dt.date(2026, 7, 31), dt.date(2026, 8, 31), dt.date(2026, 9, 30)]


@pytest.fixture(scope="session")
def bank(tmp_path_factory):
    wh, truth, engine = make_bank(tmp_path_factory.mktemp("models_bank"))
    yield wh, truth, engine
    wh.close()


@pytest.fixture(scope="session")
def churn(bank, tmp_path_factory):
    wh, truth, engine = bank
    mv, metrics = train.train(wh, engine, "retail_churn", user="analyst", dates=DATES, truth=truth,
                              folder=tmp_path_factory.mktemp("artifacts"), **SMALL)
    return mv, metrics


def test_labels_read_only_the_window_after_d(bank):
    wh, _, _ = bank
    d = dt.date(2026, 8, 31)
    df = D.frame(wh, D.target("retail_churn"), d)
    c = wh.table("customer").to_pandas().set_index("customer_id")
    import pandas as pd

    closed = pd.to_datetime(c.loc[df["customer_id"], "closed_on"])
    expect = closed.notna() & (closed > pd.Timestamp(d)) & (closed <= pd.Timestamp(2026, 9, 30))
    assert (df["label"].to_numpy() == expect.to_numpy().astype(int)).all()
    assert df["label"].sum() > 0, "the small bank must have churners in September"
    # the eligible population is alive at D: nobody closed on or before D
    assert not ((closed.notna()) & (closed <= pd.Timestamp(d))).any()


def test_features_as_of_d_do_not_change_when_later_data_is_added(bank, tmp_path):
    """Features as of D computed on data cut at D equal those computed on the full history."""
    from kequn.tags.model import AsOf
    from kequn.warehouse import connect

    wh, _, _ = bank
    d = dt.date(2026, 7, 31)
    full = D.features_expr(wh, "customer", d).to_pandas().set_index("customer_id").sort_index()
    cut = connect(f"duckdb:///{tmp_path / 'cut.duckdb'}")
    src = wh.con.con
    path = tmp_path / "cut"
    path.mkdir()
    end_ts = f"TIMESTAMP '{AsOf(d).end_ts.op().value}'"
    dated = {"transaction": f"ts < {end_ts}", "event": f"ts < {end_ts}", "balance_monthly": f"month_end <= DATE '{d}'",
             "acquiring_daily": f"date <= DATE '{d}'", "contact_history": f"ts < {end_ts}"}
    for t in wh.con.list_tables():
        if t.startswith(("tag_snapshot_", "profile_", "_tag_run", "_", "model_score")):
            continue
        where = dated.get(t, "TRUE")
        src.execute(f"COPY (SELECT * FROM \"{t}\" WHERE {where}) TO '{path / t}.parquet' (FORMAT parquet)")
    for t in wh.con.list_tables():
        if (path / f"{t}.parquet").exists():
            cut.sql(f"CREATE TABLE \"{t}\" AS SELECT * FROM read_parquet('{path / t}.parquet')")
    D.ensure_snapshots(cut, "customer", [D.add_months(d, -3), D.add_months(d, -1), d])
    early = D.features_expr(cut, "customer", d).to_pandas().set_index("customer_id").sort_index()
    cut.close()
    assert list(early.index) == list(full.index)
    cols = [c for c in full.columns if c != "lifecycle_stage"]
    import pandas as pd

    pd.testing.assert_frame_equal(early[cols], full[cols], check_dtype=False)


def test_out_of_time_split_and_registry_entry(churn):
    mv, metrics = churn
    assert mv.status == "draft" and mv.version >= 1
    assert mv.train_dates == [str(d) for d in DATES[:-1]] and mv.test_dates == [str(DATES[-1])]
    assert len(mv.data_fingerprint) == 64 and len(mv.artifact_hash) == 64
    assert "customer_id" not in mv.features and "churn_risk" not in mv.features
    assert metrics["test"]["n"] > 1000 and 0 < metrics["test"]["base_rate"] < 0.1


def test_churn_auc_close_to_the_oracle_on_the_small_bank(churn):
    _, metrics = churn
    auc, oracle = metrics["test"]["auc"], metrics["oracle"]["auc"]
    assert oracle > 0.7
    # small data (a few dozen churners in the test month): a wider tolerance than the 0.03 full-size target
    assert auc >= oracle - 0.08, (auc, oracle)


def test_only_approved_models_score_and_approval_needs_a_second_person(bank, churn):
    wh, _, engine = bank
    mv, _ = churn
    with pytest.raises(PermissionDenied):
        scoring.score(wh, engine, mv.name, mv.version)
    registry.submit(engine, mv.name, mv.version, "analyst")
    with pytest.raises(PermissionDenied):
        registry.approve(engine, mv.name, mv.version, "analyst")
    approved = registry.approve(engine, mv.name, mv.version, "risk_officer")
    assert approved.status == "approved" and approved.approved_by == "risk_officer"
    champ = registry.promote(engine, mv.name, mv.version, "risk_officer", reason="first model")
    assert champ.status == "champion"
    from kequn.opstore import audit

    actions = {e.action for e in audit.entries(engine, target=f"model:{mv.ref}")}
    assert {"model.register", "model.approve", "model.promote"} <= actions


def test_scoring_writes_tags_with_reasons_in_words(bank, churn):
    wh, _, engine = bank
    mv, _ = churn
    if registry.get(engine, mv.name, mv.version).status == "draft":
        test_only_approved_models_score_and_approval_needs_a_second_person(bank, churn)
    run = scoring.score(wh, engine, mv.name, mv.version, as_of=dt.date(2026, 10, 31))
    s = wh.table("model_score").to_pandas()
    s = s[s.score_name == "churn_risk"]
    assert len(s) == run.rows > 2000
    assert s["score"].between(0, 1).all()
    reasons = [json.loads(r) for r in s.sort_values("score", ascending=False)["reasons"].head(50)]
    assert all(1 <= len(r) <= 3 for r in reasons)
    flat = [x for r in reasons for x in r]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in x) for x in flat), flat[:5]
    assert not any("_chg_" in x or "_prev_" in x for x in flat)
    # the tag system's score slot reads the written score
    from kequn.tags.build import profile_expr
    from kequn.tags.model import Tables

    top = s.sort_values("score", ascending=False).iloc[0]
    prof = profile_expr("customer", Tables(wh), dt.date(2026, 10, 31), ["churn_risk"]).to_pandas()
    got = prof.set_index("customer_id").loc[top.customer_id, "churn_risk"]
    assert got == pytest.approx(top.score)
    # and the 360 view shows score and reasons
    from kequn.services.profile import customer_360

    view = customer_360(wh, top.customer_id, dt.date(2026, 10, 31))
    sc = {x["score_name"]: x for x in view["scores"]}
    assert sc["churn_risk"]["score"] == pytest.approx(top.score)
    assert json.loads(sc["churn_risk"]["reasons"]) == json.loads(top.reasons)


def test_report_has_every_block_and_accuracy_only_beside_the_base_rate(churn, tmp_path):
    mv, metrics = churn
    j, h = report.write({"model": mv.ref, "target": mv.target, **metrics}, tmp_path / "r")
    data = json.loads(j.read_text(encoding="utf-8"))
    ev = data["test"]
    for key in ("auc", "pr_auc", "at_capacity", "lift_by_decile", "calibration", "base_rate", "accuracy_of_always_no"):
        assert key in ev
    assert len(ev["lift_by_decile"]) == 10
    assert ev["lift_by_decile"][0]["rate"] >= ev["lift_by_decile"][-1]["rate"]
    page = h.read_text(encoding="utf-8")
    for word in ("AUC", "PR-AUC", "precision@k", "recall@k", "基准率", "校准曲线", "PSI"):
        assert word in page
    assert page.index("基准率") < page.index("准确率 accuracy")


def test_reason_sentences():
    from kequn.models.reasons import sentence

    assert sentence("login_days_30d_chg_3m", -0.7) == "近30天登录天数较上季度下降70%"
    assert sentence("aum_trend_1m", -0.45) == "资产较1个月前下降45%"
    assert sentence("days_since_last_txn", 31) == "已31天没有交易"
    assert sentence("aum", 12345.6).startswith("资产规模")


def test_evaluate_on_matured_labels_reports_drift_and_decay(bank, churn):
    wh, truth, engine = bank
    mv, _ = churn
    ev = train.evaluate(wh, engine, mv.name, mv.version, as_of=dt.date(2026, 9, 30), truth=truth)
    assert ev["decay"]["auc_at_registration"] == pytest.approx(ev["test"]["auc"], abs=1e-9)
    assert np.isfinite(ev["psi_vs_train"]) and ev["psi_vs_train"] >= 0


def test_batch_scoring_equals_the_straightforward_reference(bank, churn):
    """The batch path (Arrow read, one predict, contributions per decision pattern, reasons formatted once
    per distinct value) gives exactly the scores and reason texts of the per-row reference."""
    import pandas as pd

    wh, _, engine = bank
    mv, _ = churn
    art = registry.load(registry.get(engine, mv.name, mv.version), for_scoring=False)
    d = dt.date(2026, 10, 31)
    D.ensure_feature_snapshots(wh, "customer", [d])
    df = scoring.features_frame(wh, "customer", d)
    expr = D.features_expr(wh, "customer", d)
    old = expr.filter(expr.lifecycle_stage != "churned").to_pandas()
    pd.testing.assert_frame_equal(df, old)
    fast = scoring.score_frame(art, df, "customer_id", reason_rows=1200)
    ref = scoring.score_frame_reference(art, df, "customer_id", reason_rows=1200)
    pd.testing.assert_frame_equal(fast, ref)
    assert (fast["reasons"] != "[]").sum() == 1200
    # streamed in chunks (how 10M customers are scored): the same frames, the same scores and reasons — the
    # reason rows are the overall best, even when one chunk holds more of them than another
    chunks = list(scoring.feature_chunks(wh, "customer", d, chunk_rows=700))
    assert len(chunks) >= 3 and all(len(c) <= 700 for c in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), df)
    timings: dict = {}
    streamed = scoring.score_chunks(art, iter(chunks), "customer_id", reason_rows=1200, timings=timings)
    pd.testing.assert_frame_equal(streamed, fast)
    assert timings["predict"] > 0 and timings["features"] >= 0
    # the tree-by-tree contributions equal LightGBM's pred_contrib
    from kequn.models.reasons import contributions, fast_contributions

    X = D.prepare(df, art["features"]).iloc[:600]
    np.testing.assert_allclose(fast_contributions(art["model"], X, check_rows=0), contributions(art["model"], X),
                               rtol=1e-9, atol=1e-12)


def test_customer_value_is_fitted_registered_and_scored(bank, tmp_path):
    from kequn.models import clv

    wh, _, engine = bank
    mv, m = clv.train(wh, engine, user="analyst", folder=tmp_path)
    h = m["holdout"]
    assert mv.name == "customer_value" and mv.kind == "bgnbd" and mv.status == "draft"
    assert m["split"].startswith("out-of-time") and mv.test_dates == ["2026-10-31"]
    # held out: the next three months' card-spend days of the same customers
    assert h["customers"] > 1000 and h["actual_total"] > 0
    assert 0.8 < h["total_ratio"] < 1.25, h
    assert h["spearman"] > 0.5 and h["by_decile"][0]["actual"] > h["by_decile"][-1]["actual"]
    registry.submit(engine, mv.name, mv.version, "analyst")
    registry.approve(engine, mv.name, mv.version, "risk_officer")
    run = scoring.score(wh, engine, mv.name, mv.version, as_of=dt.date(2026, 10, 31))
    s = wh.table("model_score").to_pandas()
    s = s[s.score_name == "customer_value"]
    assert run.score_name == "customer_value" and len(s) == run.rows > 1000
    assert (s["score"] > 0).all()
    top = s.sort_values("score").iloc[-1]
    r = json.loads(top["reasons"])
    assert len(r) == 1 and r[0].startswith("预计未来12个月刷卡消费约")
    # the score fills the customer_value tag slot
    from kequn.tags.build import profile_expr
    from kequn.tags.model import Tables

    prof = profile_expr("customer", Tables(wh), dt.date(2026, 10, 31), ["customer_value"]).to_pandas()
    assert prof.set_index("customer_id").loc[top.customer_id, "customer_value"] == pytest.approx(top.score)
