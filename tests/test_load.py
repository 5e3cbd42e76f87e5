"""`kequn load`: every quarantine rule with a real bad file, on top of the example bank (DuckDB)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kequn.ingest import load_dir
from kequn.warehouse import connect
from kequn.warehouse.schema import create_tables

ROOT = Path(__file__).resolve().parents[1]
BANK = ROOT / "examples" / "bank"
BAD = ROOT / "examples" / "bad"
FIX = Path(__file__).parent / "fixtures" / "load"


@pytest.fixture
def wh(tmp_path):
    w = connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    create_tables(w)
    yield w
    w.close()


@pytest.fixture(scope="module")
def bank_file(tmp_path_factory):
    """A DuckDB file holding the example bank, built once per module."""
    path = tmp_path_factory.mktemp("bank") / "bank.duckdb"
    w = connect(f"duckdb:///{path}")
    create_tables(w)
    assert load_dir(w, BANK).quarantined == 0
    w.close()
    return path


@pytest.fixture
def bank(bank_file, tmp_path):
    """A fresh copy of the example-bank warehouse for one test."""
    path = tmp_path / "bank.duckdb"
    shutil.copy(bank_file, path)
    w = connect(f"duckdb:///{path}")
    yield w
    w.close()


def count(wh, table: str) -> int:
    return wh.sql(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def problems(wh, batch_id: str) -> list[tuple]:
    return wh.sql(
        "SELECT table_name, row_number, row_key, column_name, rule FROM _quarantine "
        f"WHERE batch_id = '{batch_id}' ORDER BY table_name, row_number, column_name").fetchall()


def assert_balanced(summary) -> None:
    for t in summary.tables:
        assert t.read == t.loaded + t.quarantined, t


def test_example_bank_loads_every_table_without_quarantine(wh):
    summary = load_dir(wh, BANK)
    assert_balanced(summary)
    assert len(summary.tables) == 22 and summary.quarantined == 0
    for t in summary.tables:
        assert t.read > 0 and count(wh, t.table) == t.loaded
    batches = wh.sql(f"SELECT count(*), sum(rows_loaded) FROM _load_batch WHERE batch_id = '{summary.batch_id}'")
    assert batches.fetchone() == (22, summary.loaded)


# (fixture folder, table, read, loaded, expected problems as (row_number, row_key, column, rule))
RULES = [
    ("type", "transaction", 3, 1, [(2, "TX1002", "ts", "type"), (3, "TX1003", "amount", "type")]),
    ("required", "customer", 2, 1, [(2, "C000102", "name", "required")]),
    ("enum", "account", 2, 1, [(2, "A10000102", "kind", "enum"), (2, "A10000102", "status", "enum")]),
    ("range", "loan", 3, 1, [(2, "L20240102", "rate", "range"), (3, "L20240103", "principal", "range"),
                             (3, "L20240103", "term_months", "range")]),
    ("future", "event", 2, 1, [(2, "EV100002", "ts", "future")]),
    ("duplicate_key", "transaction", 4, 2, [(3, "TX2001", "txn_id", "duplicate_key"),
                                            (4, "TX2001", "txn_id", "duplicate_key")]),
    ("foreign_key", "transaction", 3, 1, [(2, "TX3002", "account_id", "foreign_key"),
                                          (3, "TX3003", "customer_id", "foreign_key"),
                                          (3, "TX3003", "merchant_id", "foreign_key")]),
    ("endpoint", "relationship", 3, 2, [(2, "enterprise|E0001|customer|E0002|employer_employee|2024-01-01",
                                         "to_id", "foreign_key")]),
]


@pytest.mark.parametrize(("folder", "table", "read", "loaded", "expected"), RULES, ids=[r[0] for r in RULES])
def test_each_quarantine_rule(bank, folder, table, read, loaded, expected):
    before = count(bank, table)
    summary = load_dir(bank, FIX / folder)
    assert_balanced(summary)
    got = {t.table: t for t in summary.tables}[table]
    assert (got.read, got.loaded, got.quarantined) == (read, loaded, read - loaded)
    assert count(bank, table) == before + loaded
    assert [p[1:] for p in problems(bank, summary.batch_id) if p[0] == table] == expected


def test_foreign_key_is_satisfied_by_a_row_of_the_same_batch(bank):
    summary = load_dir(bank, FIX / "foreign_key")
    by = {t.table: t for t in summary.tables}
    assert by["account"].loaded == 1
    loaded = bank.sql("SELECT txn_id FROM \"transaction\" WHERE account_id = 'A10000201'").fetchall()
    assert loaded == [("TX3001",)]


def test_row_with_several_problems_is_quarantined_once_with_every_problem_recorded(bank):
    summary = load_dir(bank, FIX / "multi")
    assert (summary.tables[0].read, summary.tables[0].loaded, summary.tables[0].quarantined) == (2, 1, 1)
    rules = {(p[3], p[4]) for p in problems(bank, summary.batch_id)}
    assert rules == {("account_id", "foreign_key"), ("ts", "future"), ("amount", "type"),
                     ("channel", "enum"), ("txn_type", "enum")}
    assert {p[1] for p in problems(bank, summary.batch_id)} == {1}


def test_quarantine_keeps_the_raw_row_and_a_readable_message(bank):
    summary = load_dir(bank, FIX / "type")
    raw, message = bank.sql(
        f"SELECT raw, message FROM _quarantine WHERE batch_id = '{summary.batch_id}' AND row_number = 3").fetchone()
    assert "amount=十二元" in raw and raw.startswith("txn_id=TX1003")
    assert message == "amount: 十二元 is not a decimal(18,2) amount"


def test_examples_bad_shows_every_rule(bank):
    summary = load_dir(bank, BAD)
    assert_balanced(summary)
    by = {t.table: (t.read, t.loaded, t.quarantined) for t in summary.tables}
    assert by == {"transaction": (7, 1, 6), "customer": (2, 1, 1), "relationship": (2, 1, 1)}
    rules = {p[4] for p in problems(bank, summary.batch_id)}
    assert rules == {"type", "enum", "range", "future", "duplicate_key", "foreign_key", "required"}


def test_later_batch_with_existing_key_replaces_the_row(bank, tmp_path):
    d = tmp_path / "update"
    d.mkdir()
    lines = (BANK / "customer.csv").read_text(encoding="utf-8").splitlines()
    header, first = lines[0], lines[1].replace("企业职员", "企业高管")
    (d / "customer.csv").write_text(f"{header}\n{first}\n", encoding="utf-8")
    before = count(bank, "customer")
    summary = load_dir(bank, d)
    assert (summary.tables[0].loaded, summary.quarantined) == (1, 0)
    assert count(bank, "customer") == before
    assert bank.sql("SELECT occupation FROM customer WHERE customer_id = 'C000001'").fetchone() == ("企业高管",)


def test_reload_of_the_same_batch_is_idempotent(bank):
    tables = ("transaction", "customer", "_quarantine", "_load_batch")
    first = load_dir(bank, BAD)
    counts = {t: count(bank, t) for t in tables}
    again = load_dir(bank, BAD)
    assert again.already_loaded and again.batch_id == first.batch_id
    assert [(t.table, t.read, t.loaded, t.quarantined) for t in again.tables] == \
        [(t.table, t.read, t.loaded, t.quarantined) for t in first.tables]
    assert {t: count(bank, t) for t in tables} == counts


def test_explicit_batch_id_and_content_hash(bank, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(FIX / "future", copy)
    a = load_dir(bank, copy, batch_id="2024-06-01-core")
    assert a.batch_id == "2024-06-01-core" and not a.already_loaded
    assert load_dir(bank, copy, batch_id="2024-06-01-core").already_loaded
    # same bytes under the default id: a new batch id (content hash), and the upsert keeps counts stable
    before = count(bank, "event")
    b = load_dir(bank, copy)
    assert b.batch_id != a.batch_id and not b.already_loaded
    assert count(bank, "event") == before


def test_parquet_loads_like_csv(wh, tmp_path):
    import duckdb

    d = tmp_path / "pq"
    d.mkdir()
    con = duckdb.connect()
    for name in ("branch", "product"):
        con.execute(f"COPY (SELECT * FROM read_csv('{BANK / (name + '.csv')}', all_varchar=true)) "
                    f"TO '{d / (name + '.parquet')}'")
    summary = load_dir(wh, d, fmt="parquet")
    assert summary.quarantined == 0 and count(wh, "branch") == 5 and count(wh, "product") == 7
    assert wh.sql("SELECT online_closable FROM product WHERE product_id = 'PD005'").fetchone() == (False,)


def test_typed_parquet_is_checked_too(bank, tmp_path):
    import duckdb

    d = tmp_path / "typed"
    d.mkdir()
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES
        ('TP9001', 'A10000002', 'C000002', TIMESTAMP '2024-06-01 09:00:00', CAST(-8.50 AS DECIMAL(18,2)), 'app', 'fee'),
        ('TP9002', 'A10000002', 'C000002', TIMESTAMP '2099-06-01 09:00:00', CAST(-8.50 AS DECIMAL(18,2)), 'app', 'fee'),
        ('TP9001', 'A10000002', 'C000002', TIMESTAMP '2024-06-01 09:00:00', CAST(-8.50 AS DECIMAL(18,2)), 'app', 'fee'),
        ('TP9003', '', 'C000002', TIMESTAMP '2024-06-01 09:00:00', CAST(99999999999 AS DECIMAL(18,2)), 'app', 'fee'))
        t(txn_id, account_id, customer_id, ts, amount, channel, txn_type),
        (SELECT NULL::VARCHAR AS counterparty, NULL::VARCHAR AS merchant_id, NULL::VARCHAR AS mcc))
        TO '{d / 'transaction.parquet'}'""")
    summary = load_dir(bank, d)
    assert (summary.tables[0].read, summary.tables[0].loaded, summary.tables[0].quarantined) == (4, 1, 3)
    assert [p[1:] for p in problems(bank, summary.batch_id)] == [
        (2, "TP9002", "ts", "future"), (3, "TP9001", "txn_id", "duplicate_key"),
        (4, "TP9003", "account_id", "required"), (4, "TP9003", "amount", "range")]
