"""The ops store's durability setting reaches the database: full by default, normal when asked."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from kequn.errors import ConfigError
from kequn.opstore import engine_for


@pytest.mark.parametrize(("mode", "expected"), [("full", 2), ("normal", 1)])
def test_sqlite_synchronous(tmp_path, mode, expected):
    eng = engine_for(f"sqlite:///{tmp_path}/ops.sqlite", durability=mode)
    with eng.connect() as conn:
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == expected
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    eng.dispose()


def test_default_is_full(tmp_path, data_dir):
    eng = engine_for(f"sqlite:///{tmp_path}/d.sqlite")
    with eng.connect() as conn:
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == 2
    eng.dispose()


@pytest.mark.parametrize(("mode", "expected"), [("full", "on"), ("normal", "off")])
def test_postgres_synchronous_commit(pg_url, mode, expected):
    eng = engine_for(pg_url, durability=mode)
    with eng.connect() as conn:
        assert conn.execute(sa.text("SHOW synchronous_commit")).scalar() == expected
    eng.dispose()


def test_bad_mode_refused(tmp_path):
    with pytest.raises(ConfigError, match="durability"):
        engine_for(f"sqlite:///{tmp_path}/x.sqlite", durability="sometimes")
