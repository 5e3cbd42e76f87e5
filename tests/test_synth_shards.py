"""A bank generated in shards (`SynthParams(shard=k, shards=n)`) is one bank: disjoint ids, identical
reference tables, and every shard loads into the same warehouse with zero quarantined rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from kequn.domain.datamodel import TABLES_BY_NAME
from kequn.errors import ValidationError
from kequn.synth.generate import SynthParams, generate

ingest = pytest.importorskip("kequn.ingest")

END = dt.date(2026, 10, 31)
REFERENCE = ("branch", "staff", "product", "programme", "touchpoint")


def _shards(tmp_path: Path, n: int = 2, customers: int = 601) -> list[tuple[Path, dict]]:
    out = []
    for k in range(n):
        folder = tmp_path / f"shard{k}"
        out.append((folder, generate(folder, SynthParams(customers=customers, months=2, seed=5, end=END,
                                                         shard=k, shards=n))))
    return out


def _keys(folder: Path, table: str) -> set:
    pk = TABLES_BY_NAME[table].primary_key
    t = pq.read_table(folder / f"{table}.parquet", columns=list(pk))
    return set(zip(*(t.column(c).to_pylist() for c in pk), strict=True))


def test_shards_are_disjoint_slices_of_one_bank_and_load_without_quarantine(tmp_path: Path) -> None:
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    shards = _shards(tmp_path)
    (a, ma), (b, mb) = shards
    # 601 customers in 2 shards: 301 + 300, numbered on from each other
    assert ma["row_counts"]["customer"] == 301 and mb["row_counts"]["customer"] == 300
    assert ma["shard"]["first_customer"] == 1 and mb["shard"]["first_customer"] == 302
    for name in REFERENCE:  # the whole bank's reference tables, byte for byte, in every shard
        assert ma["files"][f"{name}.parquet"] == mb["files"][f"{name}.parquet"], name
    for name, t in TABLES_BY_NAME.items():
        if name in REFERENCE or not t.primary_key:
            continue
        ka, kb = _keys(a, name), _keys(b, name)
        assert ka and kb, name
        assert not ka & kb, f"{name}: ids shared by both shards, e.g. {sorted(ka & kb)[:3]}"
    assert ma["files"]["customer.parquet"] != mb["files"]["customer.parquet"]

    wh = connect(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    create_tables(wh)
    ingest.ensure_internal_tables(wh)
    try:
        for folder, manifest in shards:
            summary = ingest.load_dir(wh, folder)
            assert summary.quarantined == 0, [(t.table, t.quarantined) for t in summary.tables if t.quarantined]
            assert {t.table: t.loaded for t in summary.tables} == manifest["row_counts"]
        for name in ("customer", "transaction", "event", "account", "merchant", "enterprise", "relationship"):
            n = wh.con.sql(f'SELECT count(*) AS n FROM "{name}"').to_pandas()["n"].iloc[0]
            assert n == ma["row_counts"][name] + mb["row_counts"][name], name
        for name in REFERENCE:
            n = wh.con.sql(f'SELECT count(*) AS n FROM "{name}"').to_pandas()["n"].iloc[0]
            assert n == ma["row_counts"][name], name
    finally:
        wh.close()


def test_unsharded_parameters_and_manifest_are_unchanged(tmp_path: Path) -> None:
    m = generate(tmp_path / "bank", SynthParams(customers=200, months=1, seed=5, end=END))
    assert "shard" not in m and set(m["parameters"]) == {"customers", "months", "seed", "end", "fmt"}


@pytest.mark.parametrize(("shard", "shards", "word"), [(2, 2, "shard"), (0, 0, "shards"), (0, 5, "shards")])
def test_bad_shard_parameters_are_refused(shard: int, shards: int, word: str) -> None:
    with pytest.raises(ValidationError) as e:
        SynthParams(customers=200, shard=shard, shards=shards, end=END).check()
    assert any(p["parameter"] == word for p in e.value.details)
