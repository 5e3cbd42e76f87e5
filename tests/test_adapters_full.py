"""The adapters on the FULL public files (not part of the project; skipped when absent).

Folder: ``$KEQUN_DATASETS``, else ``../shared/datasets`` beside the repository, else ``/work/shared/datasets``.
Asserts the documented counts and that everything loads with nothing quarantined. Should a future loader
rule quarantine rows, each must be explained here by a documented rule (``EXPLAINED``), never ignored.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from kequn.adapters import get_adapter
from test_adapters_conformance import canonical_problems, read

REPO = Path(__file__).resolve().parents[1]

#: loader rule → why the adapter output may break it (documented in docs/adapters.md). Empty: none may.
EXPLAINED: dict[str, str] = {}


def _datasets() -> Path | None:
    candidates = [
        os.environ.get("KEQUN_DATASETS"),
        REPO.parent / "shared" / "datasets",
        "/work/shared/datasets",
    ]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return None


def _source(folder: str, probe: str) -> Path:
    root = _datasets()
    if root is None or not (root / folder / probe).is_file():
        pytest.skip(f"full {folder} files not available (set KEQUN_DATASETS)")
    return root / folder


@pytest.fixture(scope="module")
def berka_full(tmp_path_factory: pytest.TempPathFactory):
    src = _source("berka_pkdd99", "account.asc")
    out = tmp_path_factory.mktemp("berka_full")
    return out, get_adapter("berka").convert(src, out)


@pytest.fixture(scope="module")
def bank_full(tmp_path_factory: pytest.TempPathFactory):
    src = _source("bank_marketing", "bank-full.csv")
    out = tmp_path_factory.mktemp("bank_full")
    return out, get_adapter("bank-marketing").convert(src, out)


def test_full_berka_has_the_documented_counts_and_conforms(berka_full) -> None:
    out, report = berka_full
    account = read(out, "account")
    assert (account.kind == "deposit").sum() == 4_500
    assert (account.kind == "loan").sum() == 682
    assert report.rows["customer"] == 5_369
    assert report.rows["loan"] == 682
    assert report.rows["card"] == 892
    assert report.rows["transaction"] == 6_471  # one per standing order
    assert report.rows["relationship"] == 869  # one per DISPONENT
    assert report.rows["branch"] == 78  # 77 districts + head office
    loan = read(out, "loan")
    assert loan.status.value_counts().to_dict() == {
        "current": 403,
        "settled": 203,
        "overdue": 45,
        "written_off": 31,
    }
    assert canonical_problems(out) == []


def test_full_bank_marketing_has_the_documented_counts_and_conforms(bank_full) -> None:
    out, report = bank_full
    assert report.rows["customer"] == report.rows["contact_history"] == 45_211
    contact = read(out, "contact_history")
    assert (contact.converted == "true").sum() == 5_289
    ts = pd.to_datetime(contact.ts)
    assert (ts.min().strftime("%Y-%m"), ts.max().strftime("%Y-%m")) == ("2008-05", "2010-11")
    assert ts.dt.to_period("M").is_monotonic_increasing
    assert canonical_problems(out) == []


def _load(out: Path, tmp_path: Path):
    ingest = pytest.importorskip("kequn.ingest")
    if not hasattr(ingest, "load_dir"):
        pytest.skip("kequn.ingest.load_dir is not built yet")
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    wh = connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    try:
        create_tables(wh)
        ingest.ensure_internal_tables(wh)
        summary = ingest.load_dir(wh, out)
        rules = wh.sql("SELECT DISTINCT rule FROM _quarantine").fetchall()
        counts = {t: int(n) for t, n in wh.sql("SELECT table_name, rows_loaded FROM _load_batch").fetchall()}
    finally:
        wh.close()
    return summary, {r[0] for r in rules}, counts


@pytest.mark.slow
def test_full_berka_loads_with_no_unexplained_quarantine(berka_full, tmp_path: Path) -> None:
    out, report = berka_full
    summary, rules, loaded = _load(out, tmp_path)
    assert rules <= set(EXPLAINED), f"unexplained quarantine rules: {rules - set(EXPLAINED)}"
    assert summary.quarantined == 0
    assert loaded == report.rows
    assert loaded["customer"] == 5_369 and loaded["loan"] == 682 and loaded["card"] == 892


@pytest.mark.slow
def test_full_bank_marketing_loads_with_no_unexplained_quarantine(bank_full, tmp_path: Path) -> None:
    out, report = bank_full
    summary, rules, loaded = _load(out, tmp_path)
    assert rules <= set(EXPLAINED), f"unexplained quarantine rules: {rules - set(EXPLAINED)}"
    assert summary.quarantined == 0
    assert loaded["customer"] == loaded["contact_history"] == 45_211
