"""The top of docs/performance.md: "Goals by issue", generated from the benchmark sections' own tables.

Every performance goal named in issues 2–11 is listed in :data:`GOALS` with where its figure lives (the
section title and the row of a table in it). The summary is rebuilt from the tables each time — by
``make bench`` (bench/run_all.py runs this last), by every ``write_section`` call, or by hand:

    .venv/bin/python bench/report.py

so it never disagrees with the sections below it. A goal whose section or row is missing, or whose
figure is "—", reads "not measured". When several tables hold the figure, the latest dated one is used (on the
same day, a quiet-machine run first). Met/not met is recomputed from the measured number and the goal's
threshold when both are known, else taken from the section's "met" column. The machine, load average,
command and date are those stated nearest above the table the figure came from. Other sections are never
touched: only the text between ``## Goals by issue`` and the next section is replaced.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _perfdoc import DOC  # noqa: E402

TITLE = "Goals by issue"
NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Goal:
    """One goal of one issue and where its measured figure is."""

    issue: int
    goal: str  # as the issue states it
    section: str  # regex on the section title (## …)
    row: str  # regex on the first cell of a table row in that section
    op: str | None = None  # "<=", ">=", "<" or "==yes" (read the met column only)
    limit: float | None = None
    column: tuple[str, ...] = ("measured", "time", "result")  # header of the cell holding the figure
    pick: str = r"(-?[\d][\d,]*(?:\.\d+)?)"  # the number in that cell
    scale: float = 1.0  # multiply the picked number (e.g. minutes → seconds)
    note: str = ""
    every: bool = False  # the goal covers every matching row of the table (met when all are met)
    require: str | None = None  # a row that must be in that table (e.g. the last step of a run) to be met


GOALS: tuple[Goal, ...] = (
    Goal(2, "kequn load: 10M transaction rows from Parquet, full validation, ≥ 1M rows/s",
         r"^Loading", r"^`?kequn load`?, full validation", ">=", 1_000_000, column=("rows/s (wall)", "measured")),
    Goal(2, "kequn load: ≤ 2× a plain INSERT … SELECT of the same file (same run)",
         r"^Loading", r"^ratio load / plain", "<=", 2.0, column=("wall", "measured"), pick=r"([\d.]+)\s*×"),
    Goal(3, "bench/synth.py: 1,000,000 customers × 12 months ≤ 10 minutes",
         r"^Synthetic bank", r"^1,000,000 customers × 12 months, wall time", "<=", 600),
    Goal(3, "bench/synth.py: 1,000,000 customers × 12 months ≤ 8 GB peak memory",
         r"^Synthetic bank", r"^peak memory", "<=", 8),
    Goal(3, "kequn synth --customers 20000 --months 12 under a minute",
         r"^Synthetic bank", r"^demo size", "<", 60),
    Goal(4, "tags: the full core set on 1M customers (~100M transactions) ≤ 90 s",
         r"^Tags", r"^full core set", "<=", 90),
    Goal(4, "tags: the 12 transaction tags ≤ 1.3× one hand-written DuckDB query (same run)",
         r"^Tags", r"^the 12 transaction tags", "<=", 1.3, column=("same-run baseline",), pick=r"([\d.]+)\s*×"),
    Goal(4, "tags: the 12 transaction tags ≥ 10× faster than pandas",
         r"^Tags", r"^the same 12 .*pandas|^the 12 transaction tags on", ">=", 10,
         column=("same-run baseline",), pick=r"([\d.]+)\s*×"),
    Goal(5, "console: p95 page time ≤ 300 ms on the demo bank",
         r"^Web console", r"^demo bank: all pages p95", "<=", 300),
    Goal(5, "console: customer 360 page ≤ 300 ms on a 1M-customer warehouse",
         r"^Web console", r"^1,000,000 customers: customer 360 page", "<=", 300),
    Goal(6, "segments: 20 segments over 1M customers ≤ 10 s",
         r"^Segments and journeys", r"^20 segment sizes", "<=", 10),
    Goal(6, "journeys for 1M customers ≤ 30 s",
         r"^Segments and journeys", r"^journeys", "<=", 30),
    Goal(7, "scoring 1M customers (features → predict → write back) ≤ 60 s",
         r"^Model scoring", r"^score [\d,]+ (alive )?customers|^scoring", "<=", 60),
    Goal(8, "routing: in-process p99 ≤ 2 ms per application over a 30-product ladder",
         r"^Loan routing", r"^in-process p99", "<=", 2),
    Goal(8, "routing over HTTP on loopback ≥ 500 decisions/s (SQLite ops store)",
         r"^Loan routing", r"^HTTP decisions/s, SQLite", ">=", 500),
    Goal(8, "routing over HTTP on loopback p99 ≤ 25 ms (SQLite ops store)",
         r"^Loan routing", r"^HTTP p99, SQLite", "<=", 25),
    Goal(8, "routing over HTTP on loopback ≥ 500 decisions/s (PostgreSQL ops store)",
         r"^Loan routing", r"^HTTP decisions/s, PostgreSQL", ">=", 500),
    Goal(8, "routing over HTTP on loopback p99 ≤ 25 ms (PostgreSQL ops store)",
         r"^Loan routing", r"^HTTP p99, PostgreSQL", "<=", 25),
    Goal(9, "ledger: single postings/s on SQLite ≥ 2,000/s (durability=full)",
         r"^Rewards ledger", r"^SQLite single postings/s.*durability=full", ">=", 2000),
    Goal(9, "ledger: single postings/s on SQLite ≥ 2,000/s (durability=normal)",
         r"^Rewards ledger", r"^SQLite single postings/s.*durability=normal", ">=", 2000),
    Goal(9, "ledger: PostgreSQL with 8 clients ≥ 3,000 postings/s (durability=full)",
         r"^Rewards ledger", r"^PostgreSQL postings/s.*durability=full", ">=", 3000),
    Goal(9, "ledger: PostgreSQL with 8 clients ≥ 3,000 postings/s (durability=normal)",
         r"^Rewards ledger", r"^PostgreSQL postings/s.*durability=normal", ">=", 3000),
    Goal(9, "growth accrual for 1M members ≤ 60 s",
         r"^Rewards ledger", r"^growth accrual", "<=", 60),
    Goal(10, "campaigns: a 1M-customer audience through the contact policy into the outbox ≤ 60 s",
         r"^Campaigns", r"^launch of a 1,000,000-customer audience", "<=", 60),
    Goal(10, "event ingestion over HTTP ≥ 20,000 events/s with dedup",
         r"^Campaigns", r"^POST /api/events", ">=", 20_000),
    Goal(10, "event triggers fire within seconds (p99 delay from receipt to decision ≤ 5 s at a steady event rate)",
         r"^Campaigns", r"^trigger", note="no benchmark measures the trigger delay yet"),
    Goal(11, "Spark local gives the same results as DuckDB on the bench bank (every step of bench/spark.py)",
         r"^Spark local vs DuckDB", r"— Spark", "==yes", every=True),
    Goal(11, "10M customers / ~1B transactions through load → tags → segments → scoring on this 2-core, 24 GB "
             "machine: the run completes (time and peak memory per step)",
         r"10M|10,000,000|out-of-core", r".", "==yes", column=("wall", "measured"), every=True, require=r"^score"),
)

#: rows of the sections' tables that carry a goal cell but are not goals of their own: (section, row, why).
#: tests/test_perfdoc.py checks that every goal-bearing row is either a GOALS row or listed here, so a goal a
#: bench starts writing cannot be left out of the summary unnoticed.
PARTS: tuple[tuple[str, str, str], ...] = (
    (r"^Web console", r"p95", "one page of #5's 'every page p95 ≤ 300 ms' (summarised by its all-pages row)"),
    (r"^Synthetic bank", r"^transactions / events|^rows written|^throughput",
     "the shape of the generated bank, not a goal"),
    (r"^Synthetic bank", r"customers × \d+ months, wall time", "a trial size below the 1M goal"),
    (r"^Spark local vs DuckDB", r"^Spark session start", "start-up time, no goal"),
    (r"^Model scoring", r"^setup", "bench setup, not timed against the goal"),
)


# ------------------------------------------------------------------------------------------- parsing
@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    before: str  # the section's text above this table


@dataclass
class Section:
    title: str
    text: str
    tables: list[Table]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _plain(cell: str) -> str:
    return re.sub(r"[*`]", "", cell).strip()


def sections(text: str) -> list[Section]:
    """The ``## `` sections of a performance.md text, each with its tables."""
    out = []
    for m in re.finditer(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, re.S | re.M):
        title, body = m.group(1).strip(), m.group(2)
        tables: list[Table] = []
        lines = body.split("\n")
        i, offset = 0, 0
        while i < len(lines):
            if lines[i].lstrip().startswith("|") and i + 1 < len(lines) and re.match(r"^\s*\|[\s:|-]+\|\s*$", lines[i + 1]):
                start = offset
                header = [_plain(c).lower() for c in _cells(lines[i])]
                rows, j = [], i + 2
                while j < len(lines) and lines[j].lstrip().startswith("|"):
                    rows.append(_cells(lines[j]))
                    j += 1
                tables.append(Table(header, rows, body[:start]))
                offset += sum(len(x) + 1 for x in lines[i:j])
                i = j
                continue
            offset += len(lines[i]) + 1
            i += 1
        out.append(Section(title, body, tables))
    return out


def _last(pattern: str, text: str) -> str | None:
    found = re.findall(pattern, text, re.I)
    return found[-1] if found else None


def _context(sec: Section, table: Table) -> dict[str, str]:
    """Machine, load average, command and date stated nearest above ``table`` (else anywhere in the section)."""
    def near(pattern: str) -> str | None:
        return _last(pattern, table.before) or _last(pattern, sec.text)

    load = near(r"load\s+average\s*(?:≈\s*)?(\d+(?:\.\d+)?(?:\s*[–-]\s*\d+(?:\.\d+)?)?)")
    cores = near(r"(\d+)\s+cores")
    command = (_last(r"Command:\s*`([^`]+)`", table.before) or _last(r"`([^`]*bench/[^`]*)`", table.before)
               or _last(r"Command:\s*`([^`]+)`", sec.text) or _last(r"`([^`]*bench/[^`]*)`", sec.text))
    date = near(r"(?:Measured|Run|run|measured)\s+(?:on\s+)?(20\d\d-\d\d-\d\d)")
    quiet = _quiet(table)
    machine = f"{cores} cores" if cores else "machine not stated"
    if load:
        machine += f", load average {load}"
    if quiet:
        machine += " (quiet machine)"
    return {"machine": machine, "command": command or "not stated", "date": date or "not stated"}


def _number(cell: str, pick: str) -> float | None:
    m = re.search(pick, _plain(cell))
    if not m:
        return None
    try:
        return float(m.group(1).replace(",", ""))
    except ValueError:
        return None


def _cell(goal: Goal, table: Table, cells: list[str]) -> str:
    cols = dict(zip(table.header, cells, strict=False))
    return next((cols[c] for c in goal.column if c in cols), cells[1] if len(cells) > 1 else "")


def _met_cell(table: Table, cells: list[str]) -> bool | None:
    cols = dict(zip(table.header, cells, strict=False))
    v = _plain(next((x for k, x in cols.items() if k.startswith("met")), "")).lower()
    return True if v.startswith("yes") else False if v.startswith("no") else None


def _quiet(table: Table) -> bool:
    return bool(re.search(r"quiet", table.before[-600:], re.I))


def _compare(value: float, op: str, limit: float) -> bool:
    return {"<=": value <= limit, ">=": value >= limit, "<": value < limit, ">": value > limit}[op]


def evaluate(goal: Goal, secs: list[Section]) -> dict[str, str]:
    """The summary row of one goal: measured, met, machine, command, date (``not measured`` when missing)."""
    row = {"issue": str(goal.issue), "goal": goal.goal, "measured": NOT_MEASURED, "met": NOT_MEASURED,
           "machine": "—", "command": "—", "date": "—", "section": "—"}
    found: list[tuple[Section, Table, list[list[str]]]] = []
    for sec in secs:
        if sec.title == TITLE or not re.search(goal.section, sec.title, re.I):
            continue
        for table in sec.tables:
            hits = [c for c in table.rows if c and re.search(goal.row, _plain(c[0]), re.I)
                    and _plain(_cell(goal, table, c)) not in ("", "—", "-", "n/a")]
            if hits:
                found.append((sec, table, hits))
    if found:  # the latest measurement; on the same day a quiet-machine run; then the first table
        def rank(i: int) -> tuple[str, bool, int]:
            date = _context(found[i][0], found[i][1])["date"]
            return (date if date[:1].isdigit() else "", _quiet(found[i][1]), -i)

        sec, table, hits = found[max(range(len(found)), key=rank)]
        cells = hits[0]
        cell = _cell(goal, table, cells)
        value = _plain(cell)
        mets = [_met_cell(table, c) for c in (hits if goal.every else [cells])]
        number = _number(cell, goal.pick)
        if goal.every:
            met: bool | None = None if None in mets else all(mets)
            value = f"{sum(bool(m) for m in mets)} of {len(mets)} rows met: " + "; ".join(
                _plain(c[0]).split(" — ")[0] for c in hits)
            if goal.require and not any(re.search(goal.require, _plain(c[0]), re.I) for c in hits):
                met, value = False, f"incomplete (no row {goal.require!r} yet); {value}"
        elif goal.op and goal.op != "==yes" and goal.limit is not None and number is not None:
            met = _compare(number * goal.scale, goal.op, goal.limit)
        else:
            met = mets[0]
        short = value if len(value) <= 90 else value[:87] + "…"
        row.update(measured=short, met=NOT_MEASURED if met is None else ("met" if met else "**not met**"),
                   section=sec.title, **_context(sec, table))
        return row
    if goal.note:
        row["measured"] = f"{NOT_MEASURED} ({goal.note})"
    return row


def summary(text: str) -> str:
    """The "Goals by issue" section for the performance.md ``text``."""
    secs = sections(text)
    rows = [evaluate(g, secs) for g in GOALS]
    met = sum(r["met"] == "met" for r in rows)
    missing = sum(r["measured"].startswith(NOT_MEASURED) for r in rows)
    lines = [f"## {TITLE}", "",
             "Generated by `bench/report.py` (run last by `make bench`) from the tables of the sections below — "
             "do not edit by hand (after editing a section by hand, run `.venv/bin/python bench/report.py`). One row per performance goal named in issues 2–11; the figure, machine/load, "
             "command and date are the ones its section states above the table it came from. Model-quality goals "
             "(AUC, Qini on held-out data, issue 7) are in [models.md](models.md).", "",
             f"**{met} of {len(rows)} goals met; {len(rows) - met - missing} not met; {missing} not measured.**", "",
             "| issue | goal | measured | met | machine / load | command | date | section |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cmd = r["command"] if r["command"] in ("—", "not stated") else f"`{r['command']}`"
        lines.append(f"| #{r['issue']} | {r['goal']} | {r['measured']} | {r['met']} | {r['machine']} | {cmd} | "
                     f"{r['date']} | {r['section']} |")
    return "\n".join(lines) + "\n"


def update(doc: Path = DOC) -> str:
    """Rewrite the summary section of ``doc`` in place (placed before the first section when new)."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Performance\n\n"
    section = summary(text) + "\n"
    pattern = re.compile(rf"^## {re.escape(TITLE)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text, count=1)
    else:
        first = re.search(r"^## ", text, re.M)
        text = (text[:first.start()] + section + text[first.start():]) if first else text.rstrip("\n") + "\n\n" + section
    doc.write_text(text, encoding="utf-8")
    return section


if __name__ == "__main__":
    print(update())
