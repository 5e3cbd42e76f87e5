"""The console's one translation catalogue (``i18n.yaml``): Chinese by default, English on request."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
CATALOGUE = Path(__file__).resolve().parent / "i18n.yaml"


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """key -> {lang: label}; a ConfigError lists every key lacking a language."""
    import yaml

    from kequn.errors import ConfigError

    data = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8")) or {}
    problems = [{"key": k, "missing": lang} for k, v in data.items() for lang in LANGS
                if not isinstance(v, dict) or not str(v.get(lang) or "").strip()]
    if problems:
        raise ConfigError(f"{CATALOGUE}: {len(problems)} labels lack a language", details=problems)
    return {str(k): {lang: str(v[lang]) for lang in LANGS} for k, v in data.items()}


def translate(key: str, lang: str = DEFAULT_LANG) -> str:
    """The label of ``key`` in ``lang``; an unknown key shows as ``⟦key⟧`` (and fails the i18n test)."""
    entry = catalogue().get(key)
    if entry is None:
        return f"⟦{key}⟧"
    return entry.get(lang) or entry[DEFAULT_LANG]


def pick_lang(value: str | None) -> str:
    return value if value in LANGS else DEFAULT_LANG
