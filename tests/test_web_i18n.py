"""Every label the console shows comes from the one catalogue (web/i18n.yaml), in Chinese and English."""

from __future__ import annotations

import re
from pathlib import Path

from kequn.web import i18n

WEB = Path(i18n.__file__).resolve().parent
PY_LABEL = re.compile(r'"((?:col|dq|audit|nav|c360|kpi)_[a-z0-9_]+)"')


def _template_keys() -> dict[str, set[str]]:
    out = {}
    for path in sorted((WEB / "templates").glob("*.html")):
        out[path.name] = set(re.findall(r"""\bt\(\s*['"]([a-zA-Z0-9_]+)['"]\s*\)""", path.read_text(encoding="utf-8")))
    out["pages.py"] = set(PY_LABEL.findall((WEB / "pages.py").read_text(encoding="utf-8")))
    names = re.findall(r"'(c360_[a-z_]+)'", (WEB / "templates" / "customer.html").read_text(encoding="utf-8"))
    out["customer.html"] |= set(names)
    return out


def test_every_label_used_exists_in_both_languages():
    cat = i18n.catalogue()  # raises when an entry lacks zh or en
    used = _template_keys()
    assert sum(len(v) for v in used.values()) > 60
    missing = sorted(f"{where}: {k}" for where, keys in used.items() for k in keys if k not in cat)
    assert not missing, "labels missing from web/i18n.yaml: " + ", ".join(missing)
    for key, entry in cat.items():
        assert entry["zh"] != "" and entry["en"] != "", key


def test_catalogue_rejects_a_label_without_english(tmp_path, monkeypatch):
    import pytest

    from kequn.errors import ConfigError

    bad = tmp_path / "i18n.yaml"
    bad.write_text("hello: {zh: 你好}\n", encoding="utf-8")
    monkeypatch.setattr(i18n, "CATALOGUE", bad)
    i18n.catalogue.cache_clear()
    try:
        with pytest.raises(ConfigError) as exc:
            i18n.catalogue()
        assert exc.value.details == [{"key": "hello", "missing": "en"}]
    finally:
        monkeypatch.undo()
        i18n.catalogue.cache_clear()


def test_unknown_keys_are_visible_and_default_is_chinese():
    assert i18n.translate("nav_customers") == "客户高清图"
    assert i18n.translate("nav_customers", "en") == "Customers"
    assert i18n.translate("no_such_label") == "⟦no_such_label⟧"
    assert i18n.pick_lang("fr") == "zh"
