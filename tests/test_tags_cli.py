"""`kequn tags …` and `kequn profile` end to end on the embedded stores (real DuckDB + SQLite)."""

from __future__ import annotations

import json

import pytest

from kequn.cli.main import main
from test_tags_golden import GOLDEN, load_csv_dir


@pytest.fixture
def loaded(data_dir):
    from kequn.warehouse import open_default
    from kequn.warehouse.schema import create_tables

    wh = open_default()
    create_tables(wh)
    load_csv_dir(wh, GOLDEN / "input")
    wh.close()
    return data_dir


def test_list_show_explain(capsys):
    assert main(["--json", "tags", "list", "--entity", "merchant"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in rows} >= {"turnover_30d", "refund_rate_90d"} and all(r["status"] == "approved" for r in rows)
    assert main(["--json", "tags", "show", "aum_trend_3m"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name_zh"] == "AUM近3月变化" and shown["depends_on"] == ["aum", "_aum_m3"]
    assert shown["incremental"].startswith("no")
    assert main(["--json", "tags", "show", "days_since_last_login"]) == 0
    assert json.loads(capsys.readouterr().out)["incremental"].startswith("yes: carried forward")
    assert main(["tags", "explain", "money_in_30d", "--as-of", "2024-06-30"]) == 0
    sql = capsys.readouterr().out
    assert "SELECT" in sql and '"transaction"' in sql and "2024" in sql


def test_bad_input_is_one_line_error(capsys):
    assert main(["tags", "show", "no_such_tag"]) == 4
    assert "unknown tag" in capsys.readouterr().err
    assert main(["tags", "compute", "--as-of", "30/06/2024"]) == 2


def test_compute_then_profile_then_report(loaded, capsys):
    assert main(["--json", "tags", "compute", "--as-of", "2024-06-30"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["entity"], r["rows"]) for r in out["results"]] == [("customer", 4), ("enterprise", 3), ("merchant", 2)]
    assert main(["--json", "tags", "compute", "--as-of", "2024-06-30"]) == 0
    assert all(r["status"].startswith("skipped") for r in json.loads(capsys.readouterr().out)["results"])
    # the next day carries the recency tags forward; --full scans again
    assert main(["--json", "tags", "compute", "--as-of", "2024-07-01", "--entity", "customer"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["mode"] == "incremental 增量 (from 2024-06-30)"
    assert main(["--json", "tags", "compute", "--as-of", "2024-07-01", "--entity", "customer", "--force", "--full"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["mode"] == "full 全量"
    # back-fill a range: every day in order, each carrying from the day before; computed days are skipped
    assert main(["--json", "tags", "compute", "--from", "2024-06-28", "--as-of", "2024-07-02", "--entity", "customer"]) == 0
    fill = json.loads(capsys.readouterr().out)
    assert [(r["as_of"], r["status"][:8]) for r in fill["results"]] == [
        ("2024-06-28", "computed"), ("2024-06-29", "computed"), ("2024-06-30", "skipped "), ("2024-07-01", "skipped "),
        ("2024-07-02", "computed")]
    assert fill["results"][1]["mode"] == "incremental 增量 (from 2024-06-28)"
    assert main(["--json", "tags", "compute", "--from", "2024-03-15", "--as-of", "2024-05-20", "--month-ends",
                 "--entity", "customer"]) == 0
    assert json.loads(capsys.readouterr().out)["days"] == ["2024-03-31", "2024-04-30", "2024-05-20"]
    assert main(["tags", "compute", "--from", "2024-07-05", "--as-of", "2024-07-01"]) == 2
    assert "must run forwards" in capsys.readouterr().err
    assert main(["tags", "compute", "--from", "5/7/2024", "--as-of", "2024-07-01"]) == 2
    assert "--from" in capsys.readouterr().err
    assert main(["tags", "compute", "--as-of", "2024-07-01", "--month-ends"]) == 2
    assert "needs --from" in capsys.readouterr().err
    # the runs kept, newest first
    assert main(["--json", "tags", "runs", "--entity", "customer"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [(r["as_of"], r["mode"]) for r in history][:3] == [
        ("2024-07-02", "incremental"), ("2024-07-01", "full"), ("2024-06-30", "full")]
    assert main(["tags", "runs", "--entity", "shop"]) == 2
    assert "choose one of" in capsys.readouterr().err
    assert main(["profile", "C1"]) == 0
    text = capsys.readouterr().out
    assert "张*" in text and "138****5678" in text and "13812345678" not in text and "生命周期阶段" in text
    assert main(["tags", "report", "--target", "overdue_flag"]) == 0
    rep = capsys.readouterr().out
    assert "asset_potential_band" in rep and "建议 Recommendations" in rep
    # a model in the registry that uses night_spend_share (through its change) counts as its usage
    from kequn.models import registry
    from kequn.opstore import migrate, open_default
    from kequn.settings import get_settings

    migrate(get_settings().resolved_opstore_url)
    registry.register(open_default(), name="retail_churn", target="churn", entity="customer", kind="classifier",
                      artifact={"demo": True}, created_by="alice", train_dates=[], test_dates=[], fingerprint="f",
                      features=["tenure_months", "night_spend_share_chg_1m"], params={}, metrics={},
                      folder=loaded / "models")
    assert main(["--json", "tags", "report"]) == 0
    usage = {t["id"]: t["usage"] for t in json.loads(capsys.readouterr().out)["tags"]}
    assert usage["night_spend_share"] == ["models/retail_churn v1 (draft)"]
    assert "models/retail_churn v1 (draft)" in usage["tenure_months"] and usage["city"] == []


def test_submit_and_approve_need_two_people(data_dir, capsys):
    from kequn.opstore import migrate
    from kequn.settings import get_settings

    migrate(get_settings().resolved_opstore_url)
    # the shipped version is already approved: nothing to submit
    assert main(["tags", "submit", "aum", "--as", "alice"]) == 5
    assert "already approved" in capsys.readouterr().err
    assert main(["tags", "approve", "aum", "--as", "bob"]) == 4
