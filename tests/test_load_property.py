"""Property: for any mix of good and bad transaction rows, the loader quarantines exactly the rows a
plain-Python oracle calls bad, loads the rest, and read == loaded + quarantined."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kequn.domain.datamodel import CHANNELS_TXN, TXN_TYPES
from kequn.ingest import load_dir
from kequn.warehouse import connect
from kequn.warehouse.schema import create_tables

BANK = Path(__file__).resolve().parents[1] / "examples" / "bank"
ACCOUNTS = ("A10000001", "A10000002", "A10000005")
COLUMNS = ("txn_id", "account_id", "customer_id", "ts", "amount", "channel", "txn_type", "counterparty",
           "merchant_id", "mcc")
_RUN = itertools.count()

row = st.fixed_dictionaries({
    "txn_id": st.sampled_from(["T1", "T2", "T3", "T4", ""]),
    "account_id": st.sampled_from([*ACCOUNTS, "A404", ""]),
    "ts": st.sampled_from(["2024-05-01 10:00:00", "2023-12-31 23:59:59", "2099-01-01 00:00:00", "2024-02-30 10:00:00",
                           "yesterday", ""]),
    "amount": st.sampled_from(["12.50", "-8000.00", "0", "abc", "20000000000", "-1e3", ""]),
    "channel": st.sampled_from([*CHANNELS_TXN[:3], "fax", ""]),
    "txn_type": st.sampled_from([*TXN_TYPES[:3], "teleport"]),
})


def oracle_bad(rows: list[dict[str, str]]) -> set[int]:
    """Row numbers (1-based) that break a rule, computed independently of the loader's SQL."""
    bad, seen = set(), set()
    for n, r in enumerate(rows, start=1):
        problems = [r["txn_id"] == "", r["account_id"] not in ACCOUNTS, not _ts_ok(r["ts"]),
                    not _amount_ok(r["amount"]), r["channel"] not in CHANNELS_TXN, r["txn_type"] not in TXN_TYPES]
        if r["txn_id"]:
            problems.append(r["txn_id"] in seen)
            seen.add(r["txn_id"])
        if any(problems):
            bad.add(n)
    return bad


def _ts_ok(v: str) -> bool:
    try:
        return dt.datetime.fromisoformat(v).date() <= dt.date.today()
    except ValueError:
        return False


def _amount_ok(v: str) -> bool:
    try:
        return abs(Decimal(v)) <= Decimal("1e10")
    except InvalidOperation:
        return False


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    w = connect(f"duckdb:///{tmp_path_factory.mktemp('prop') / 'wh.duckdb'}")
    create_tables(w)
    assert load_dir(w, BANK).quarantined == 0
    yield w
    w.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=12))
def test_quarantine_matches_the_oracle(bank, tmp_path_factory, rows):
    run = next(_RUN)
    prefix = f"P{run}_"
    d = tmp_path_factory.mktemp(f"batch{run}")
    with (d / "transaction.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in rows:
            txn = prefix + r["txn_id"] if r["txn_id"] else ""
            w.writerow([txn, r["account_id"], "", r["ts"], r["amount"], r["channel"], r["txn_type"], "", "", ""])
    summary = load_dir(bank, d, batch_id=f"prop-{run}")
    t = summary.tables[0]
    expected = oracle_bad(rows)
    assert t.read == len(rows) == t.loaded + t.quarantined
    got = {n for (n,) in bank.sql(f"SELECT DISTINCT row_number FROM _quarantine WHERE batch_id = 'prop-{run}'").fetchall()}
    assert got == expected
    assert t.quarantined == len(expected)
    loaded = bank.sql(f"SELECT count(*) FROM \"transaction\" WHERE txn_id LIKE '{prefix}%'").fetchone()[0]
    assert loaded == t.loaded
