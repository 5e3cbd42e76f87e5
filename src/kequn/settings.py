"""Typed settings, read once: ``kequn.toml`` in the working directory (or ``KEQUN_CONFIG``), then
environment variables ``KEQUN_*``, which win.

Defaults are the embedded stores in ``data/``: ``data/warehouse.duckdb`` and ``data/ops.sqlite``.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATA_DIR = Path("data")


class Settings(BaseSettings):
    """All of Kequn's settings. Each field is documented in ``docs/settings.md`` (a test checks)."""

    model_config = SettingsConfigDict(env_prefix="KEQUN_", extra="forbid", toml_file="kequn.toml")

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Folder for the embedded stores and artefacts.")
    warehouse_url: str = Field(
        "",
        description="Warehouse: duckdb:///path.duckdb (default data/warehouse.duckdb), "
        "postgresql://user@host:port/db, or spark://… (scale-out).",
    )
    opstore_url: str = Field(
        "",
        description="Ops store SQLAlchemy URL: sqlite:///data/ops.sqlite (default) or postgresql+psycopg://…",
    )
    demo: bool = Field(False, description="Demo mode: demo users and secrets allowed. Never in production.")
    secret_key: str = Field("", description="Secret for sessions and CSRF. Required outside demo mode.")
    timezone: str = Field("Asia/Shanghai", description="The bank's local time zone.")
    quiet_hours_start: str = Field("21:00", description="No marketing contact from this local time …")
    quiet_hours_end: str = Field("08:00", description="… until this local time.")
    threads: int = Field(0, ge=0, description="Worker threads for the warehouse engine (0 = all cores).")
    warehouse_memory_limit: str = Field(
        "", description="DuckDB memory limit, e.g. 8GB (empty = DuckDB's default, 80% of RAM); beyond it DuckDB "
        "spills to warehouse_temp_dir.")
    warehouse_temp_dir: str = Field(
        "", description="Folder where DuckDB spills (empty = DuckDB's default, <warehouse file>.tmp).")
    opstore_durability: Literal["full", "normal"] = Field(
        "full",
        description="full: every ops-store commit is flushed to disk before it returns (SQLite synchronous=FULL, "
        "PostgreSQL synchronous_commit=on). normal: commits survive a crash of Kequn but the last moments may be "
        "lost on power failure (SQLite WAL synchronous=NORMAL, PostgreSQL synchronous_commit=off); the store "
        "stays consistent either way.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from None
        return v

    @field_validator("quiet_hours_start", "quiet_hours_end")
    @classmethod
    def _clock_time(cls, v: str) -> str:
        if not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", v):
            raise ValueError(f"{v!r} is not a local time HH:MM (00:00–23:59)")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("KEQUN_CONFIG", "kequn.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_path))

    @property
    def resolved_warehouse_url(self) -> str:
        return self.warehouse_url or f"duckdb:///{self.data_dir / 'warehouse.duckdb'}"

    @property
    def resolved_opstore_url(self) -> str:
        return self.opstore_url or f"sqlite:///{self.data_dir / 'ops.sqlite'}"


@lru_cache(maxsize=1)
def get_settings(**overrides: Any) -> Settings:
    """The process-wide settings (tests call ``get_settings.cache_clear()`` after changing the env)."""
    from pydantic import ValidationError as PydanticValidationError

    from kequn.errors import ConfigError

    try:
        return Settings(**overrides)
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from None
