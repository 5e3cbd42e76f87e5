"""Settings: defaults, ``kequn.toml``, ``KEQUN_*`` environment variables (which win), clear errors, and
docs/settings.md documenting every field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kequn.errors import ConfigError
from kequn.settings import Settings, get_settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


@pytest.fixture
def clean(tmp_path, monkeypatch):
    """An empty working directory and no KEQUN_* variables."""
    import os

    for k in list(os.environ):
        if k.startswith("KEQUN_") and k not in ("KEQUN_REQUIRE_SERVICES", "KEQUN_TEST_PG_URL"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_defaults_are_the_embedded_stores_in_data(clean):
    s = get_settings()
    assert s.data_dir == Path("data")
    assert s.resolved_warehouse_url == "duckdb:///data/warehouse.duckdb"
    assert s.resolved_opstore_url == "sqlite:///data/ops.sqlite"
    assert s.timezone == "Asia/Shanghai" and s.demo is False


def test_toml_is_read_and_environment_wins(clean, monkeypatch):
    (clean / "kequn.toml").write_text(
        'data_dir = "/srv/kequn"\nwarehouse_url = "postgresql://kq@db:5432/wh"\nthreads = 4\n'
        'quiet_hours_start = "20:00"\n', encoding="utf-8")
    s = get_settings()
    assert (s.data_dir, s.warehouse_url, s.threads, s.quiet_hours_start) == (
        Path("/srv/kequn"), "postgresql://kq@db:5432/wh", 4, "20:00")
    assert s.resolved_opstore_url == "sqlite:////srv/kequn/ops.sqlite"

    monkeypatch.setenv("KEQUN_THREADS", "2")
    monkeypatch.setenv("KEQUN_OPSTORE_URL", "postgresql+psycopg://kq@db:5432/ops")
    get_settings.cache_clear()
    s = get_settings()
    assert (s.threads, s.opstore_url, s.warehouse_url) == (2, "postgresql+psycopg://kq@db:5432/ops",
                                                            "postgresql://kq@db:5432/wh")
    assert Settings(threads=8).threads == 8  # explicit arguments win over both


def test_kequn_config_names_another_file(clean, monkeypatch):
    other = clean / "etc" / "prod.toml"
    other.parent.mkdir()
    other.write_text("demo = true\n", encoding="utf-8")
    (clean / "kequn.toml").write_text("demo = false\n", encoding="utf-8")
    monkeypatch.setenv("KEQUN_CONFIG", str(other))
    assert get_settings().demo is True


def test_bad_settings_give_one_clear_config_error(clean, monkeypatch):
    (clean / "kequn.toml").write_text('warehouse_ulr = "duckdb:///x.duckdb"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="warehouse_ulr: Extra inputs are not permitted"):
        get_settings()
    (clean / "kequn.toml").unlink()
    monkeypatch.setenv("KEQUN_THREADS", "many")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="threads: Input should be a valid integer"):
        get_settings()


@pytest.mark.parametrize(("var", "value", "words"), [
    ("KEQUN_TIMEZONE", "Asia/Beijing", "timezone: unknown time zone 'Asia/Beijing'"),
    ("KEQUN_QUIET_HOURS_START", "9pm", "quiet_hours_start: '9pm' is not a local time HH:MM"),
    ("KEQUN_QUIET_HOURS_END", "24:00", "quiet_hours_end: '24:00' is not a local time"),
    ("KEQUN_THREADS", "-1", "threads: Input should be greater than or equal to 0"),
])
def test_values_are_checked_at_start(clean, monkeypatch, var, value, words):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        get_settings()
    assert words in str(info.value)


def test_every_setting_is_documented_and_every_documented_setting_exists():
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields
               if f"`{name}`" not in text or f"`KEQUN_{name.upper()}`" not in text]
    assert not missing, f"docs/settings.md does not document: {missing}"
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.M))
    assert documented == set(Settings.model_fields), documented ^ set(Settings.model_fields)
