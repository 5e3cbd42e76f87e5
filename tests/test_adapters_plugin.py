"""A bank's own adapter, registered through the ``kequn.adapters`` entry-point group, is found and run
without any change to Kequn. The adapter code is the example in docs/adapters.md, so the doc cannot drift.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from kequn.adapters import available, get_adapter
from kequn.domain.datamodel import table

DOC = Path(__file__).resolve().parents[1] / "docs" / "adapters.md"


def _doc_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    return next(b for b in blocks if b.startswith("# mybank_kequn/core_export.py"))


def _install_plugin(root: Path) -> None:
    """A minimal installed distribution: the package plus a dist-info with entry_points.txt."""
    pkg = root / "mybank_kequn"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core_export.py").write_text(_doc_example(), encoding="utf-8")
    info = root / "mybank_kequn-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mybank-kequn\nVersion: 0.1\n")
    toml = re.search(r'\[project.entry-points."kequn.adapters"\]\n(.*?)\n', DOC.read_text(encoding="utf-8"))
    assert toml, "docs/adapters.md lost its entry-point example"
    line = toml.group(1).replace('"', "")  # TOML `name = "mod:attr"` → entry_points.txt `name = mod:attr`
    (info / "entry_points.txt").write_text(f"[kequn.adapters]\n{line}\n")


def test_a_banks_own_adapter_is_found_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "mybank_kequn", raising=False)
    assert available()["mybank-core"] == "mybank_kequn.core_export:ADAPTER"

    export = tmp_path / "export"
    export.mkdir()
    rows = "KHH|KHMC|SJHM|KHJG|KHRQ|ZT\nC001|张三|13812345678|B01|2021-03-04|0\nC002|欧阳娜娜||B02|2019-11-30|1\n"
    (export / "KH_JBXX.txt").write_bytes(rows.encode("gbk"))
    report = get_adapter("mybank-core").convert(export, tmp_path / "out")

    assert report.rows == {"customer": 2}
    lines = (tmp_path / "out" / "customer.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",") == list(table("customer").column_names)
    assert lines[1].split(",")[:5] == ["C001", "张三", "", "13812345678", ""]
    assert lines[2].endswith(",closed,") and "2019-11-30" in lines[2]
