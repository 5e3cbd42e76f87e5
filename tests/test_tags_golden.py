"""Golden tests: every core tag's value on small hand-made input equals the value worked out by hand.

Input rows are in ``tests/golden/tags/input/*.csv`` (canonical tables); the expected values, with the
arithmetic behind each, in ``tests/golden/tags/expected.yaml``. The warehouse is a real DuckDB file.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from kequn.domain.datamodel import TABLES_BY_NAME
from kequn.tags.build import profile_expr
from kequn.tags.model import ENTITY_KEYS, Tables
from kequn.tags.registry import public_ids
from kequn.warehouse import connect
from kequn.warehouse.schema import create_tables

GOLDEN = Path(__file__).parent / "golden" / "tags"
SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "float64": "DOUBLE", "decimal": "DECIMAL(18,2)",
             "date": "DATE", "timestamp": "TIMESTAMP", "boolean": "BOOLEAN"}


def load_csv_dir(wh, directory: Path) -> None:
    """Insert every ``<table>.csv`` of ``directory`` into the canonical table of that name."""
    for path in sorted(directory.glob("*.csv")):
        t = TABLES_BY_NAME[path.stem]
        cols = ", ".join(f'"{c.name}"' for c in t.columns)
        casts = ", ".join(f'CAST("{c.name}" AS {SQL_TYPES[c.type]})' for c in t.columns)
        wh.sql(f"INSERT INTO \"{t.name}\" ({cols}) SELECT {casts} "
               f"FROM read_csv('{path}', header=true, all_varchar=true)")


def golden_warehouse(tmp_path: Path):
    wh = connect(f"duckdb:///{tmp_path / 'golden.duckdb'}")
    create_tables(wh)
    load_csv_dir(wh, GOLDEN / "input")
    return wh


def expected() -> dict:
    return yaml.safe_load((GOLDEN / "expected.yaml").read_text(encoding="utf-8"))


def rows_of(wh, entity: str, as_of: dt.date) -> dict[str, dict]:
    key = ENTITY_KEYS[entity]
    rows = profile_expr(entity, Tables(wh), as_of).to_pyarrow().to_pylist()
    return {r.pop(key): r for r in rows}


def same(actual, want) -> bool:
    if want is None:
        return actual is None or (isinstance(actual, float) and math.isnan(actual))
    if isinstance(want, bool) or isinstance(actual, bool):
        return actual is want
    if isinstance(actual, Decimal):
        return actual == Decimal(str(want))
    if isinstance(actual, float):
        return math.isclose(actual, float(want), abs_tol=1e-9)
    return actual == want if not isinstance(want, str) else str(actual) == want


@pytest.fixture(scope="module")
def golden_rows(tmp_path_factory):
    wh = golden_warehouse(tmp_path_factory.mktemp("golden"))
    exp = expected()
    yield {e: rows_of(wh, e, exp["as_of"]) for e in ("customer", "enterprise", "merchant")}
    wh.close()


@pytest.mark.parametrize("entity", ["customer", "enterprise", "merchant"])
def test_every_core_tag_has_a_worked_expected_value(entity):
    exp = expected()[entity]
    for entity_id, tags in exp.items():
        assert set(tags) == set(public_ids(entity)), f"{entity_id}: expected values must cover every tag"


@pytest.mark.parametrize("entity", ["customer", "enterprise", "merchant"])
def test_entities_known_on_the_as_of_day(golden_rows, entity):
    # C5 and E4 are onboarded after the as-of day
    assert set(golden_rows[entity]) == set(expected()[entity])


@pytest.mark.parametrize("entity", ["customer", "enterprise", "merchant"])
def test_tag_values_equal_the_hand_worked_ones(golden_rows, entity):
    mismatches = []
    for entity_id, tags in expected()[entity].items():
        got = golden_rows[entity][entity_id]
        for tag, want in tags.items():
            if not same(got[tag], want):
                mismatches.append(f"{entity_id}.{tag}: expected {want!r}, got {got[tag]!r}")
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.postgres
def test_same_values_on_postgresql(pg_url):
    """The same Ibis definitions give the hand-worked values on PostgreSQL too."""
    import duckdb

    wh = connect(pg_url)
    try:
        create_tables(wh)
        reader = duckdb.connect()
        for path in sorted((GOLDEN / "input").glob("*.csv")):
            t = TABLES_BY_NAME[path.stem]
            casts = ", ".join(f'CAST("{c.name}" AS {SQL_TYPES[c.type]}) AS "{c.name}"' for c in t.columns)
            wh.con.insert(t.name, reader.sql(f"SELECT {casts} FROM read_csv('{path}', header=true, "
                                             "all_varchar=true)").to_arrow_table())
        exp = expected()
        mismatches = []
        for entity in ("customer", "enterprise", "merchant"):
            got = rows_of(wh, entity, exp["as_of"])
            mismatches += [f"{entity} {i}.{tag}: expected {want!r}, got {got[i][tag]!r}"
                           for i, tags in exp[entity].items() for tag, want in tags.items() if not same(got[i][tag], want)]
        assert not mismatches, "\n".join(mismatches)
    finally:
        wh.close()
