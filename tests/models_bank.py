"""A small synthetic bank for the model tests: generated, loaded and snapshotted once per session."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

CUSTOMERS, MONTHS, SEED = 3000, 10, 11
END = dt.date(2026, 10, 31)


def make_bank(root: Path) -> tuple[object, Path, object]:
    """(warehouse, truth folder, ops-store engine) of a fresh small synthetic bank under ``root``."""
    return _build(root, CUSTOMERS, MONTHS, SEED)


def _build(root: Path, customers: int, months: int, seed: int,
           tables: tuple[str, ...] | None = None) -> tuple[object, Path, object]:
    """Generate a bank under ``root``, load its canonical tables (all, or only ``tables``) into a DuckDB
    warehouse and migrate an SQLite ops store beside it."""
    from kequn.ingest import ensure_internal_tables, load_dir
    from kequn.opstore import engine_for, migrate
    from kequn.synth.generate import SynthParams, generate
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    raw = root / "bank"
    generate(raw, SynthParams(customers=customers, months=months, seed=seed, end=END))
    data = root / "data"
    data.mkdir()
    # the canonical tables only (not manifest.json, not truth/)
    for p in ([raw / f"{t}.parquet" for t in tables] if tables else raw.glob("*.parquet")):
        shutil.copy(p, data / p.name)
    wh = connect(f"duckdb:///{root / 'wh.duckdb'}")
    create_tables(wh)
    ensure_internal_tables(wh)
    load_dir(wh, data)
    url = f"sqlite:///{root / 'ops.sqlite'}"
    migrate(url)
    return wh, raw / "truth", engine_for(url)


#: the merchant-churn bank: merchants are one per 40 customers and ~2 % close a month, so an honest
#: merchant AUC needs ~1,500 merchants and several pooled test months (≥ 50 closings)
MERCHANT_CUSTOMERS, MERCHANT_MONTHS, MERCHANT_SEED = 60_000, 12, 5
#: the tables the merchant tags and the training-set dates read (the customer side is not loaded)
MERCHANT_TABLES = ("branch", "customer", "enterprise", "merchant", "acquiring_daily", "balance_monthly", "account")


def make_merchant_bank(root: Path) -> tuple[object, Path, object]:
    """(warehouse, truth folder, ops-store engine) of a bank with enough merchants for a merchant-churn
    evaluation; only the tables merchant features and labels need are loaded."""
    return _build(root, MERCHANT_CUSTOMERS, MERCHANT_MONTHS, MERCHANT_SEED, MERCHANT_TABLES)
