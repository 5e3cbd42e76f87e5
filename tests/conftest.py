"""Shared fixtures: real DuckDB and SQLite files in a temp folder, and the real PostgreSQL server.

A test that needs PostgreSQL skips when the server is missing on a user's machine; with
``KEQUN_REQUIRE_SERVICES=1`` (set by ``.ci/run``) a missing server fails the test instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("KEQUN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_SERVICES = os.environ.get("KEQUN_REQUIRE_SERVICES") == "1"


def _service_missing(what: str, why: object) -> None:
    msg = f"{what} is not available: {why}"
    if REQUIRE_SERVICES:
        pytest.fail(msg + " (KEQUN_REQUIRE_SERVICES=1)")
    pytest.skip(msg)


def _pg_admin():
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        _service_missing("PostgreSQL", exc)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test (dropped afterwards); yields its URL."""
    admin = _pg_admin()
    name = f"kequn_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder; settings point at it (embedded DuckDB + SQLite)."""
    from kequn.settings import get_settings

    d = tmp_path / "data"
    monkeypatch.setenv("KEQUN_DATA_DIR", str(d))
    monkeypatch.delenv("KEQUN_WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("KEQUN_OPSTORE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield d
    get_settings.cache_clear()
