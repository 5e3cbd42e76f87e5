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
