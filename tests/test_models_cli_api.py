"""`kequn models …` and the models API router end to end on a small synthetic bank; the reward-sensitivity
uplift model against the oracle; the generic train-table path."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from models_bank import make_bank


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    root = tmp_path_factory.mktemp("models_cli")
    wh, truth, engine = make_bank(root)
    yield root, wh, truth, engine
    wh.close()


@pytest.fixture
def env(bank, monkeypatch):
    from kequn.settings import get_settings

    root = bank[0]
    monkeypatch.setenv("KEQUN_DATA_DIR", str(root / "kdata"))
    monkeypatch.setenv("KEQUN_WAREHOUSE_URL", f"duckdb:///{root / 'wh.duckdb'}")
    monkeypatch.setenv("KEQUN_OPSTORE_URL", f"sqlite:///{root / 'ops.sqlite'}")
    get_settings.cache_clear()
    yield bank
    get_settings.cache_clear()


def _cli(*args: str) -> Any:
    from kequn.cli import cmd_models
    from kequn.cli.console import Console

    app = typer.Typer()

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = Console(json_mode=True)

    cmd_models.register(app)
    r = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_cli_life_cycle_score_and_api(env, tmp_path):
    from kequn.errors import PermissionDenied

    root, wh, truth, engine = env
    out = _cli("models", "train", "merchant_churn", "--as", "alice", "--truth", str(truth),
               "--report", str(tmp_path / "rep"))
    ref = out["model"]
    name, version = ref.split("@v")[0], ref.split("@v")[1]
    assert out["status"] == "draft" and out["metrics"]["test"]["n"] > 50
    assert (tmp_path / "rep.html").exists() and (tmp_path / "rep.json").exists()
    assert (root / "kdata" / "models" / f"{name}-v{version}.joblib").exists()
    with pytest.raises(PermissionDenied):
        _cli("models", "score", name, "--version", version)
    _cli("models", "submit", name, "--version", version, "--as", "alice")
    with pytest.raises(PermissionDenied):
        _cli("models", "approve", name, "--version", version, "--as", "alice")
    assert _cli("models", "approve", name, "--version", version, "--as", "bob")["status"] == "approved"
    assert _cli("models", "promote", name, "--version", version, "--as", "bob")["status"] == "champion"
    listed = _cli("models", "list")
    assert any(r["model"] == name and r["status"] == "champion" for r in listed)
    run = _cli("models", "score", name)
    assert run["rows"] > 50 and run["score_name"] == "merchant_churn_risk"
    ev = _cli("models", "evaluate", name, "--truth", str(truth))
    # ~80 merchants: a month may have no closing merchant (AUC undefined, reported as NaN, never faked)
    assert ev["test"]["n"] > 50 and "decay" in ev and "oracle" in ev and "psi_vs_train" in ev
    assert (ev["test"]["base_rate"] == 0) == np.isnan(ev["test"]["auc"])

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from kequn.api.app import _errors
    from kequn.api.routes_models import router

    app = FastAPI()
    _errors(app)  # the console app's one KequnError handler
    app.include_router(router)
    app.state.models_warehouse, app.state.models_engine = wh, engine
    client = TestClient(app)
    models = client.get("/api/models").json()
    assert any(m["name"] == name and m["status"] == "champion" for m in models)
    assert all("artifact_path" not in m for m in models)
    leads = client.get("/api/models/leads/merchant_churn_risk", params={"limit": 5}).json()["rows"]
    assert len(leads) == 5 and leads[0]["score"] >= leads[-1]["score"]
    assert all(isinstance(r["reasons"], list) and r["reasons"] for r in leads)
    assert client.get("/api/models/no_such_model").status_code == 404


def test_reward_uplift_against_the_oracle(env):
    from kequn.models import reward

    _, wh, truth, _ = env
    import datetime as dt

    import pandas as pd

    hist = reward.training_frame(wh)
    assert set(hist["treatment"]) == {0, 1} and hist["offer"].nunique() >= 3
    # features as of the month end before each contact (point in time)
    assert (pd.to_datetime(hist["snapshot"]) < pd.to_datetime(hist["ts"])).all()
    # a randomised sandbox experiment: 8 waves × every alive customer × 5 rewards, arms 50/50
    df = reward.simulated_frame(wh, truth.parent, dt.date(2026, 9, 30), waves=8)
    per_wave = df[df["wave"] == 0]
    assert len(per_wave) == 5 * per_wave["customer_id"].nunique() and abs(df["treatment"].mean() - 0.5) < 0.01
    train, test = reward.split(reward.enrich(df))
    assert not set(train["customer_id"]) & set(test["customer_id"])  # held out by customer
    art, m = reward.fit_evaluate(df, "dr-offer", truth)
    assert "true_uplift" not in art["features"] and set(art["model"]) == set(df["offer"])
    assert set(art["features"]) <= set(reward.DRIVER_FEATURES)
    assert m["oracle_qini"] > 0 and m["oracle_qini"] >= m["expected_qini"]
    assert np.isfinite(m["qini"]) and len(m["qini_ci"]) == 2 and m["qini_ci"][0] <= m["qini"] <= m["qini_ci"][1]
    # measured on this small bank (≈1,600 training customers): 27 % of the oracle's expected Qini, rank
    # correlation 0.26 — the goal (≥ 70 %) is NOT met here; the 20k-customer figure is in docs/models.md
    assert m["qini_share_of_oracle"] >= 0.2, m
    assert m["rank_corr_with_true_uplift"] > 0.15, m
    scored = reward.score_frame(art, df.drop_duplicates("customer_id").head(50))
    assert len(scored) == 50 and all("预计转化提升" in json.loads(r)[0] for r in scored["reasons"])


def test_train_table_generic_path(env, tmp_path):
    _, wh, _, _ = env
    import datetime as dt

    from kequn.models import datasets as D

    df = D.frame(wh, D.target("retail_churn"), dt.date(2026, 8, 31))
    path = tmp_path / "table.csv"
    df.drop(columns=["as_of"]).assign(churned=np.where(df["label"] == 1, "yes", "no")).drop(columns=["label"]) \
        .to_csv(path, index=False)
    res = _cli("models", "train-table", str(path), "--target", "churned", "--positive", "yes")
    assert "customer_id" not in res["features"] and "churned" not in res["features"]
    assert res["test"]["auc"] > 0.6 and res["logistic"]["auc"] > 0.5
    from kequn.errors import ValidationError

    with pytest.raises(ValidationError):
        _cli("models", "train-table", str(path), "--target", "nope")


def test_evaluate_customer_value_and_reward_sensitivity(env, tmp_path):
    """`kequn models evaluate` for the two models that are not classifiers: customer value (BG/NBD) on the
    latest matured hold-out, reward sensitivity on randomised contacts it was not trained on."""
    import datetime as dt

    from kequn.errors import NotFoundError
    from kequn.models import registry, reward, train

    root, wh, truth, engine = env
    out = _cli("models", "train", "customer_value", "--as", "alice", "--as-of", "2026-06-30")
    ev = _cli("models", "evaluate", "customer_value", "--report", str(tmp_path / "clv"))
    h = ev["holdout"]
    # registered on 2026-06-30; the latest matured hold-out is the three months before the data end
    assert ev["model"] == out["model"] and ev["as_of"] == "2026-07-31" and "2026-10-31" in ev["split"]
    assert h["customers"] > 1000 and 0.7 < h["total_ratio"] < 1.4 and h["spearman"] > 0.5, h
    assert h["by_decile"][0]["actual"] > h["by_decile"][-1]["actual"]
    assert ev["decay"]["at_registration"] == out["metrics"]["holdout"]["spearman"]
    assert ev["decay"]["change"] == pytest.approx(h["spearman"] - ev["decay"]["at_registration"])
    assert np.isfinite(ev["psi_vs_train"]) and ev["psi_vs_train"] >= 0
    page = (tmp_path / "clv.html").read_text(encoding="utf-8")
    assert "客户价值留出期评估" in page and f"{h['actual_total']:,.0f}" in page
    # a hold-out that has not matured yet is refused, naming the last date that works
    with pytest.raises(Exception, match="choose --as-of on or before 2026-07-31"):
        train.evaluate(wh, engine, "customer_value", as_of=dt.date(2026, 9, 30))

    # reward sensitivity trained on a sandbox experiment as of 2026-09-30 …
    mv, _ = reward.train(wh, engine, user="alice", simulate=truth.parent, as_of=dt.date(2026, 9, 30), waves=2)
    # … has no randomised contacts after its training snapshot: a clear refusal
    with pytest.raises(NotFoundError, match="after 2026-10-01"):
        train.evaluate(wh, engine, "reward_sensitivity", mv.version)
    # … evaluated on the bank's own legacy randomised campaigns (never seen in training)
    hist = reward.training_frame(wh)
    first = min(hist["snapshot"])
    ev = train.evaluate(wh, engine, "reward_sensitivity", mv.version, as_of=first)
    known = hist[hist["offer"].isin(ev_offers := registry.load(registry.get(engine, "reward_sensitivity", mv.version),
                                                                for_scoring=False)["offers"])]
    assert ev["test_rows"] == len(known) > 100 and set(known["offer"]) <= set(ev_offers)
    assert ev["qini_ci"][0] <= ev["qini"] <= ev["qini_ci"][1]
    y, t = known["label"].to_numpy(), known["treatment"].to_numpy()
    assert ev["observed_uplift"] == pytest.approx(y[t == 1].mean() - y[t == 0].mean())
    assert ev["decay"]["metric"] == "qini" and ev["decay"]["now"] == ev["qini"]
