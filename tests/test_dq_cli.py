"""`kequn init` and `kequn dq` end to end through the CLI entry point, on the embedded stores."""

from __future__ import annotations

import json

import pytest

from kequn.cli.main import main

BLOCKING_RULES = """\
rules:
  - id: customer.customer_id.unique
    kind: uniqueness
    table: customer
    columns: [customer_id]
    severity: {severity}
    description: {{zh: 客户号唯一, en: customer ids are unique}}
  - id: customer.phone.completeness
    kind: completeness
    table: customer
    column: phone
    severity: warning
    description: {{zh: 手机号完整, en: phones are present}}
"""


def _customers(*ids: str) -> None:
    from kequn.warehouse import open_default

    wh = open_default()
    try:
        wh.sql("INSERT INTO branch (branch_id, name, level, city) VALUES ('B1', '总行', 'hq', '杭州')")
        values = ", ".join(f"('{i}', '客户{i}', '13800000000', 'B1', DATE '2024-01-01', 'active')" for i in ids)
        wh.sql(f"INSERT INTO customer (customer_id, name, phone, home_branch_id, onboarded_on, status) VALUES {values}")
    finally:
        wh.close()


def test_init_creates_both_stores_and_is_idempotent(data_dir, capsys):
    assert main(["init"]) == 0
    first = capsys.readouterr().out
    assert "created 22 canonical table(s)" in first and "migrated empty →" in first
    assert (data_dir / "warehouse.duckdb").is_file() and (data_dir / "ops.sqlite").is_file()
    assert main(["init", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["tables_created"] == [] and again["data_dir_created"] is False
    assert again["opstore_revision_before"] == again["opstore_revision"] is not None
    assert again["loader_tables"] == "already present"


def test_dq_exits_1_when_a_blocking_rule_fails(data_dir, tmp_path, capsys):
    assert main(["init"]) == 0
    _customers("C1", "C1", "C2")
    rules = tmp_path / "rules.yaml"
    rules.write_text(BLOCKING_RULES.format(severity="blocking"), encoding="utf-8")
    capsys.readouterr()
    assert main(["dq", "--as-of", "2024-06-30", "--rules", str(rules)]) == 1
    out = capsys.readouterr()
    assert "customer.customer_id.unique" in out.out and "fail 失败" in out.out
    assert "1 blocking data-quality rule(s) failed: customer.customer_id.unique" in out.err
    assert "Traceback" not in out.err

    rules.write_text(BLOCKING_RULES.format(severity="warning"), encoding="utf-8")
    assert main(["dq", "--as-of", "2024-06-30", "--rules", str(rules)]) == 0
    capsys.readouterr()

    assert main(["--json", "dq", "--history", "5"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [(r["status"], r["fail"], r["pass"], r["blocking_failed"]) for r in runs] == [
        ("passed", 1, 1, 0), ("failed", 1, 1, 1)]


def test_dq_json_output_is_one_document_and_keeps_the_exit_code(data_dir, tmp_path, capsys):
    assert main(["init"]) == 0
    _customers("C1", "C1")
    rules = tmp_path / "rules.yaml"
    rules.write_text(BLOCKING_RULES.format(severity="blocking"), encoding="utf-8")
    capsys.readouterr()
    assert main(["dq", "--json", "--as-of", "2024-06-30", "--rules", str(rules)]) == 1
    err = json.loads(capsys.readouterr().out)  # one document: the error, with the whole report
    assert err["error"] == "quality_gate_failed" and err["details"][0]["rule"] == "customer.customer_id.unique"
    doc = err["report"]
    assert doc["status"] == "failed" and doc["blocking_failed"] == ["customer.customer_id.unique"]
    assert {r["rule_id"]: r["status"] for r in doc["results"]} == {
        "customer.customer_id.unique": "fail", "customer.phone.completeness": "pass"}


def test_dq_with_default_rules_on_empty_stores_skips_everything(data_dir, capsys):
    assert main(["init"]) == 0
    capsys.readouterr()
    assert main(["--json", "dq"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rules"] >= 30 and doc["skip"] == doc["rules"] and doc["status"] == "passed"


@pytest.mark.parametrize(("args", "code", "words"), [
    (["dq", "--as-of", "30/06/2024"], 2, "--as-of '30/06/2024' is not a date"),
    (["dq", "--rules", "missing.yaml"], 4, "missing.yaml does not exist"),
])
def test_dq_bad_input_is_one_line(data_dir, capsys, args, code, words):
    assert main(["init"]) == 0
    capsys.readouterr()
    assert main(args) == code
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_dq_before_init_says_what_to_do(data_dir, capsys):
    assert main(["dq"]) == 7
    assert "run `kequn init` first" in capsys.readouterr().err
