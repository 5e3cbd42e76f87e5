"""Write one benchmark's section of docs/performance.md (re-reading the file just before writing)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
            f"load average {load:.1f} at start")


def write_section(title: str, command: str, rows: list[tuple], note: str = "") -> None:
    """Replace (or append) the section headed ``## title`` with a table of (figure, value, baseline,
    goal, met) rows, followed by ``note`` (a paragraph of prose, kept across re-runs) when given."""
    lines = [f"## {title}", "", f"Command: `{command}`  ", f"Measured {dt.date.today()} on {machine()}.", "",
             "| figure | measured | same-run baseline | goal | met |", "|---|---|---|---|---|"]
    for fig, val, base, goal, met in rows:
        lines.append(f"| {fig} | {val} | {base} | {goal} | {'yes' if met else 'no'} |")
    if note:
        lines += ["", note.strip()]
    section = "\n".join(lines) + "\n"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _m: section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text, encoding="utf-8")
    from report import update  # the "Goals by issue" summary at the top follows the new figures

    update(DOC)
