"""The catalogue table of ``docs/tags.md``, generated from the YAML (a test fails when the doc is stale).

    .venv/bin/python -m kequn.tags.doc            # prints the table
    .venv/bin/python -m kequn.tags.doc --write    # rewrites it in docs/tags.md between the markers
"""

from __future__ import annotations

import sys
from pathlib import Path

from kequn.tags.catalog import CATEGORY_ZH, ENTITY_ZH, default_catalog

BEGIN = "<!-- BEGIN GENERATED TAG TABLE (python -m kequn.tags.doc --write) -->"
END = "<!-- END GENERATED TAG TABLE -->"


def catalogue_markdown() -> str:
    lines: list[str] = []
    cat = default_catalog()
    for entity, zh in ENTITY_ZH.items():
        specs = [s for s in cat.values() if s.entity == entity]
        lines += [f"### {zh} {entity} ({len(specs)} tags)", "",
                  "| id | 中文名 | category | type | PI | definition |", "|---|---|---|---|---|---|"]
        for s in specs:
            definition = s.definition.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{s.id}` | {s.name_zh} | {CATEGORY_ZH[s.category]} {s.category} | {s.value_type} | "
                         f"{s.pi_class or '-'} | {definition} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def splice(doc: str) -> str:
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{catalogue_markdown()}{END}{tail}"


def main(argv: list[str]) -> int:
    if "--write" in argv:
        path = Path(__file__).resolve().parents[3] / "docs" / "tags.md"
        path.write_text(splice(path.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"wrote {path}")
    else:
        print(catalogue_markdown())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
