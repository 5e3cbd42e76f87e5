"""The layers of docs/architecture.md, held by a test: imports point downward only.

Every ``import`` in src/kequn (module level and inside functions) is checked against the layer table.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "kequn"

CORE = {"domain", "errors", "settings", "__init__"}
STORAGE = {"warehouse", "opstore"}
INTERFACES = {"cli", "api", "web", "__main__"}
ORCHESTRATION = {"pipeline", "services"}
DRIVERS = {"duckdb", "psycopg", "psycopg2", "sqlite3", "pyspark"}
#: third-party packages the pure core may use
CORE_THIRD_PARTY = {"pydantic", "pydantic_settings", "typing_extensions"}


def _layer(top: str) -> str:
    if top in CORE:
        return "core"
    if top in STORAGE:
        return "storage"
    if top in INTERFACES:
        return "interfaces"
    if top in ORCHESTRATION:
        return "orchestration"
    return "capabilities"


RANK = {"core": 0, "storage": 1, "capabilities": 2, "orchestration": 3, "interfaces": 4}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if "migrations" in rel.parts:
            continue
        yield path, rel.parts[0].removesuffix(".py")


def test_imports_point_downward():
    import sys

    stdlib = set(sys.stdlib_module_names)
    problems = []
    for path, top in _modules():
        layer = _layer(top)
        for lineno, name in _imports(path):
            root = name.split(".")[0]
            where = f"{path.relative_to(SRC.parent)}:{lineno} imports {name}"
            if root == "kequn":
                parts = name.split(".")
                if len(parts) < 2:
                    continue
                target = _layer(parts[1])
                if RANK[target] > RANK[layer]:
                    problems.append(f"{where} ({layer} → {target} points upward)")
            elif layer == "core" and root not in stdlib and root not in CORE_THIRD_PARTY:
                problems.append(f"{where} (the core may use only the standard library and pydantic)")
            elif layer == "interfaces" and root in DRIVERS:
                problems.append(f"{where} (interfaces never import a database driver)")
    assert not problems, "\n".join(problems)
