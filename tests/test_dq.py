"""Data quality on real warehouses: every rule kind passing and failing on small real data (DuckDB and
PostgreSQL), skipped rules on empty tables, history kept in the ops store, and distribution shift."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from kequn.opstore import engine_for, migrate
from kequn.quality import history, parse_rules, run
from kequn.warehouse import connect
from kequn.warehouse.schema import create_tables

AS_OF = dt.date(2024, 6, 30)

# A small bank with known faults: customer C2 has no phone, C3 a bad phone and gender 'X', account A3
# belongs to a customer who does not exist, transaction T1 appears twice (one of them negative), branch B3
# points at a parent branch B9 that does not exist.
SCENARIO_SQL = [
    "INSERT INTO branch (branch_id, name, level, parent_id, city) VALUES "
    "('B1', '总行', 'hq', NULL, '杭州'), ('B2', '西湖支行', 'branch', 'B1', '杭州'), "
    "('B3', '某分理处', 'sub_branch', 'B9', '杭州')",
    "INSERT INTO customer (customer_id, name, id_number, phone, gender, home_branch_id, onboarded_on, status) VALUES "
    "('C1', '张三', '110101199001011234', '13812345678', 'M', 'B1', '2020-01-01', 'active'), "
    "('C2', '李四', NULL, NULL, 'F', 'B1', '2021-01-01', 'active'), "
    "('C3', '王五', NULL, '12345', 'X', 'B1', '2022-01-01', 'active'), "
    "('C4', '赵六', NULL, '13912345678', 'F', 'B2', '2023-01-01', 'active')",
    "INSERT INTO product (product_id, name, category, provider, online_closable) VALUES "
    "('P1', '活期存款', 'deposit', 'bank', true)",
    "INSERT INTO account (account_id, customer_id, product_id, kind, branch_id, opened_on, status) VALUES "
    "('A1', 'C1', 'P1', 'deposit', 'B1', '2020-01-02', 'active'), "
    "('A2', 'C2', 'P1', 'deposit', 'B1', '2021-01-02', 'active'), "
    "('A3', 'C9', 'P1', 'deposit', 'B1', '2022-01-02', 'active')",
    'INSERT INTO "transaction" (txn_id, account_id, customer_id, ts, amount, channel, txn_type) VALUES '
    "('T1', 'A1', 'C1', '2024-06-28 10:00:00', 100.00, 'app', 'transfer_in'), "
    "('T1', 'A1', 'C1', '2024-06-28 10:00:00', -50.00, 'pos', 'card_spend'), "
    "('T3', 'A2', 'C2', '2024-06-29 09:30:00', 2000.00, 'counter', 'cash_deposit'), "
    "('T4', 'A2', 'C2', '2024-07-05 09:30:00', 10.00, 'app', 'transfer_in')",
    "INSERT INTO _load_batch (batch_id, table_name, file_name, content_hash, rows_read, rows_loaded, "
    "rows_quarantined, loaded_at) VALUES "
    "('b1', 'transaction', 'transaction.csv', 'h1', 100, 100, 0, '2024-06-01 08:00:00'), "
    "('b2', 'transaction', 'transaction.csv', 'h2', 125, 120, 5, '2024-06-02 08:00:00'), "
    "('b1', 'customer', 'customer.csv', 'h3', 4, 4, 0, '2024-06-01 08:00:00')",
]

D = {"zh": "测试规则", "en": "test rule"}
# (rule, expected status, expected measured value or None)
SCENARIO_RULES = [
    ({"id": "comp.pass", "kind": "completeness", "table": "customer", "column": "phone", "max_null_rate": 0.3}, "pass", 0.25),
    ({"id": "comp.fail", "kind": "completeness", "table": "customer", "column": "phone", "max_null_rate": 0.1}, "fail", 0.25),
    ({"id": "enum.fail", "kind": "validity", "table": "customer", "column": "gender", "allowed": ["M", "F"]}, "fail", 0.25),
    ({"id": "enum.pass", "kind": "validity", "table": "customer", "column": "status", "allowed": ["active", "closed"]}, "pass", 0.0),
    ({"id": "pattern.fail", "kind": "validity", "table": "customer", "column": "phone", "pattern": "^1[3-9][0-9]{9}$"}, "fail", 1 / 3),
    ({"id": "pattern.pass", "kind": "validity", "table": "customer", "column": "phone", "pattern": "^1[3-9][0-9]{9}$",
      "max_invalid_rate": 0.5}, "pass", 1 / 3),
    ({"id": "range.pass", "kind": "validity", "table": "transaction", "column": "amount", "min": -10000, "max": 10000}, "pass", 0.0),
    ({"id": "range.fail", "kind": "validity", "table": "transaction", "column": "amount", "min": 0}, "fail", 0.25),
    ({"id": "uniq.fail", "kind": "uniqueness", "table": "transaction", "columns": ["txn_id"]}, "fail", 1.0),
    ({"id": "uniq.pass", "kind": "uniqueness", "table": "customer", "columns": ["customer_id"]}, "pass", 0.0),
    ({"id": "uniq.nulls_ignored", "kind": "uniqueness", "table": "customer", "columns": ["id_number"]}, "pass", 0.0),
    ({"id": "ri.fail", "kind": "referential", "table": "account", "column": "customer_id", "parent_table": "customer",
      "parent_column": "customer_id"}, "fail", 1 / 3),
    ({"id": "ri.pass", "kind": "referential", "table": "transaction", "column": "account_id", "parent_table": "account",
      "parent_column": "account_id"}, "pass", 0.0),
    ({"id": "ri.self", "kind": "referential", "table": "branch", "column": "parent_id", "parent_table": "branch",
      "parent_column": "branch_id"}, "fail", 0.5),
    ({"id": "fresh.pass", "kind": "freshness", "table": "transaction", "column": "ts", "max_age_days": 3}, "pass", 1.0),
    ({"id": "fresh.fail", "kind": "freshness", "table": "transaction", "column": "ts", "max_age_days": 0}, "fail", 1.0),
    ({"id": "fresh.date", "kind": "freshness", "table": "customer", "column": "onboarded_on", "max_age_days": 365}, "fail", 546.0),
    ({"id": "vol.pass", "kind": "volume_change", "table": "transaction"}, "pass", 1.2),
    ({"id": "vol.fail", "kind": "volume_change", "table": "transaction", "min_ratio": 1.5, "max_ratio": 3}, "fail", 1.2),
    ({"id": "vol.one_batch", "kind": "volume_change", "table": "customer"}, "skip", None),
    ({"id": "empty.skip", "kind": "completeness", "table": "loan", "column": "days_past_due"}, "skip", None),
    ({"id": "empty.ri.skip", "kind": "referential", "table": "card", "column": "account_id", "parent_table": "account",
      "parent_column": "account_id"}, "skip", None),
    ({"id": "psi.baseline", "kind": "distribution_shift", "table": "transaction", "column": "amount"}, "skip", None),
]


def rules_of(*entries: dict, severity: str = "warning") -> tuple:
    return parse_rules({"rules": [{"severity": severity, "description": D} | e for e in entries]}, "test").rules


def _fill(wh) -> None:
    from kequn.ingest import ensure_internal_tables

    create_tables(wh)
    ensure_internal_tables(wh)
    for sql in SCENARIO_SQL:
        wh.sql(sql)


@pytest.fixture
def ops(tmp_path):
    eng = engine_for(f"sqlite:///{tmp_path / 'ops.sqlite'}")
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_wh(request, tmp_path):
    """The warehouse on each backend: a DuckDB file and a fresh PostgreSQL database."""
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if request.param == "duckdb" else request.getfixturevalue("pg_url")
    wh = connect(url)
    create_tables(wh)
    yield wh
    wh.close()


@pytest.fixture
def duck(tmp_path):
    wh = connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    create_tables(wh)
    yield wh
    wh.close()


def _assert_scenario(wh, ops) -> None:
    _fill(wh)
    rules = rules_of(*(r for r, _, _ in SCENARIO_RULES))
    report = run(wh, ops, rules, as_of=AS_OF, rules_file="inline")
    got = {r.rule_id: r for r in report.results}
    for rule, status, measured in SCENARIO_RULES:
        r = got[rule["id"]]
        assert r.status == status, f"{rule['id']}: {r.status} ({r.message})"
        if measured is None:
            assert r.measured is None, rule["id"]
        else:
            assert r.measured == pytest.approx(measured), f"{rule['id']}: {r.message}"
    assert report.status == "passed"  # all of them are warnings
    assert "latest ts is 2024-06-29" in got["fresh.pass"].message  # T4 lies after the as-of date


def test_every_rule_kind_passes_and_fails_on_duckdb(duck, ops):
    _assert_scenario(duck, ops)


@pytest.mark.postgres
def test_every_rule_kind_passes_and_fails_on_postgresql(pg_url, ops):
    wh = connect(pg_url)
    try:
        assert wh.kind == "postgres"
        _assert_scenario(wh, ops)
    finally:
        wh.close()


def test_blank_strings_count_as_missing_unless_told_otherwise(duck, ops):
    _fill(duck)
    duck.sql("UPDATE customer SET phone = '  ' WHERE customer_id = 'C4'")
    strict, lax = rules_of(
        {"id": "strict", "kind": "completeness", "table": "customer", "column": "phone"},
        {"id": "lax", "kind": "completeness", "table": "customer", "column": "phone", "blank_is_null": False},
    )
    results = {r.rule_id: r.measured for r in run(duck, ops, (strict, lax), as_of=AS_OF, rules_file="t").results}
    assert results == {"strict": 0.5, "lax": 0.25}


def test_blocking_failure_fails_the_run_and_history_is_kept(duck, ops):
    _fill(duck)
    rules = rules_of({"id": "txn.unique", "kind": "uniqueness", "table": "transaction", "columns": ["txn_id"]},
                     severity="blocking") + rules_of(
        {"id": "cust.unique", "kind": "uniqueness", "table": "customer", "columns": ["customer_id"]},
        {"id": "loan.empty", "kind": "completeness", "table": "loan", "column": "rate"})
    first = run(duck, ops, rules, as_of=AS_OF, rules_file="t")
    assert first.status == "failed" and [r.rule_id for r in first.blocking_failures] == ["txn.unique"]
    duck.sql("DELETE FROM \"transaction\" WHERE amount < 0")
    second = run(duck, ops, rules, as_of=AS_OF + dt.timedelta(days=1), rules_file="t")
    assert second.status == "passed"
    runs = history(ops, limit=10)
    assert [(r.id, r.status, r.passed, r.failed, r.skipped, r.blocking_failed) for r in runs] == [
        (second.run_id, "passed", 2, 0, 1, 0), (first.run_id, "failed", 1, 1, 1, 1)]
    assert runs[0].as_of == AS_OF + dt.timedelta(days=1) and runs[1].warehouse == "duckdb"
    assert len(history(ops, limit=1)) == 1


def test_numeric_distribution_shift_is_detected_after_a_change(any_wh, ops):
    duck = any_wh
    duck.sql("INSERT INTO balance_monthly (account_id, month_end, balance, avg_daily_balance) "
             "SELECT 'A' || i::VARCHAR, DATE '2024-06-30', (i * 10)::DECIMAL(18,2), 0 "
             "FROM generate_series(0, 199) AS t(i)")
    duck.sql("INSERT INTO balance_monthly (account_id, month_end, balance, avg_daily_balance) "
             "SELECT 'A' || i::VARCHAR, DATE '2024-04-30', 999999, 0 "
             "FROM generate_series(0, 49) AS t(i)")  # outside the window
    (rule,) = rules_of({"id": "bal.psi", "kind": "distribution_shift", "table": "balance_monthly",
                        "column": "balance", "window_days": 31, "max_psi": 0.2})
    baseline = run(duck, ops, [rule], as_of=AS_OF, rules_file="t").results[0]
    assert baseline.status == "skip" and "baseline" in baseline.message
    assert baseline.details["n"] == 200 and sum(baseline.details["counts"].values()) == 200
    assert len(baseline.details["edges"]) == 9  # deciles
    same = run(duck, ops, [rule], as_of=AS_OF, rules_file="t").results[0]
    assert same.status == "pass" and same.measured == pytest.approx(0.0, abs=1e-9)
    duck.sql("UPDATE balance_monthly SET balance = balance * 5 WHERE month_end = DATE '2024-06-30'")
    shifted = run(duck, ops, [rule], as_of=AS_OF, rules_file="t").results[0]
    assert shifted.status == "fail" and shifted.measured > 1.0
    assert shifted.details["edges"] == baseline.details["edges"]  # compared on the baseline's bins


def test_categorical_distribution_shift_is_detected(any_wh, ops):
    duck = any_wh

    def channels(app: int, pos: int) -> None:
        duck.sql('DELETE FROM "transaction"')
        duck.sql('INSERT INTO "transaction" (txn_id, account_id, ts, amount, channel, txn_type) '
                 f"SELECT 'T' || i::VARCHAR, 'A1', TIMESTAMP '2024-06-20 10:00:00', 1, "
                 f"CASE WHEN i < {app} THEN 'app' ELSE 'pos' END, 'card_spend' "
                 f"FROM generate_series(0, {app + pos - 1}) AS t(i)")

    (rule,) = rules_of({"id": "chan.psi", "kind": "distribution_shift", "table": "transaction",
                        "column": "channel", "window_days": 30, "max_psi": 0.1})
    channels(80, 20)
    base = run(duck, ops, [rule], as_of=AS_OF, rules_file="t").results[0]
    assert base.status == "skip" and base.details["counts"] == {"app": 80, "pos": 20}
    channels(78, 22)
    assert run(duck, ops, [rule], as_of=AS_OF, rules_file="t").results[0].status == "pass"
    channels(30, 70)
    shifted = run(duck, ops, [rule], as_of=AS_OF, rules_file="t").results[0]
    assert shifted.status == "fail"
    assert shifted.measured == pytest.approx((0.3 - 0.78) * __import__("math").log(0.3 / 0.78)
                                             + (0.7 - 0.22) * __import__("math").log(0.7 / 0.22))


def test_missing_tables_are_skipped_not_failed(tmp_path, ops):
    wh = connect(f"duckdb:///{tmp_path / 'bare.duckdb'}")  # no canonical tables, no _load_batch
    try:
        rules = rules_of({"id": "c", "kind": "completeness", "table": "customer", "column": "phone"},
                         {"id": "v", "kind": "volume_change", "table": "transaction"})
        results = run(wh, ops, rules, as_of=AS_OF, rules_file="t").results
        assert [(r.status, "not in the warehouse" in r.message or "no load history" in r.message)
                for r in results] == [("skip", True), ("skip", True)]
    finally:
        wh.close()


def test_default_rule_set_is_valid_and_broad():
    from kequn.quality import RULE_KINDS, load_rules

    rules = load_rules()
    assert len(rules) >= 30
    assert {r.kind for r in rules} == set(RULE_KINDS)
    assert {"customer.phone.completeness", "transaction.amount.range", "account.customer.fk",
            "transaction.freshness", "transaction.volume", "balance_monthly.balance.psi"} <= {r.id for r in rules}
    assert all(r.description.zh and r.description.en for r in rules)
    assert {r.severity for r in rules} == {"blocking", "warning"}


def test_default_rules_run_on_the_scenario(duck, ops):
    from kequn.quality import load_rules

    _fill(duck)
    report = run(duck, ops, load_rules(), as_of=AS_OF, rules_file="default")
    by_id = {r.rule_id: r.status for r in report.results}
    assert by_id["account.customer.fk"] == "fail" and by_id["transaction.txn_id.unique"] == "fail"
    assert by_id["customer.customer_id.unique"] == "pass" and by_id["loan.rate.range"] == "skip"
    assert report.status == "failed" and not any(r.message.startswith("check could not run") for r in report.results)


def test_rule_file_round_trips_through_yaml(tmp_path):
    from kequn.quality import load_rules

    p = tmp_path / "rules.yaml"
    p.write_text(yaml.safe_dump({"version": 1, "rules": [
        {"id": "x.y", "kind": "freshness", "table": "event", "column": "ts", "max_age_days": 2,
         "severity": "blocking", "description": {"zh": "事件及时", "en": "events are fresh"}}]},
        allow_unicode=True), encoding="utf-8")
    (rule,) = load_rules(p)
    assert (rule.kind, rule.max_age_days, rule.description.zh) == ("freshness", 2, "事件及时")
