"""`kequn synth` output loads through the loader (kequn.ingest.load_dir) with zero quarantined rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kequn.domain.datamodel import TABLES_BY_NAME
from kequn.synth.generate import SynthParams, generate

ingest = pytest.importorskip("kequn.ingest")


def _load(folder: Path, tmp_path: Path):  # noqa: ANN202
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    wh = connect(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    create_tables(wh)
    ingest.ensure_internal_tables(wh)
    return wh, ingest.load_dir(wh, folder)  # the manifest.json beside the data is skipped


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_synthetic_bank_loads_without_quarantine(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "bank"
    manifest = generate(out, SynthParams(customers=400, months=3, seed=4, end=dt.date(2026, 10, 31), fmt=fmt))
    wh, summary = _load(out, tmp_path)
    try:
        assert summary.quarantined == 0, [(t.table, t.quarantined) for t in summary.tables if t.quarantined]
        loaded = {t.table: t.loaded for t in summary.tables}
        assert set(loaded) == set(TABLES_BY_NAME)
        assert loaded == manifest["row_counts"]
        n = wh.con.sql('SELECT count(*) AS n FROM "transaction"').to_pandas()["n"].iloc[0]
        assert n == manifest["row_counts"]["transaction"]
    finally:
        wh.close()
