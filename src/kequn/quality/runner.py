"""Run DQ rules against the warehouse and keep the results with history in the ops store
(``dq_run`` + ``dq_result``); :func:`history` gives the recent runs for the monitor."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from kequn.opstore.tables import dq_result, dq_run
from kequn.quality.checks import CHECKS, CheckContext, Outcome


@dataclass(frozen=True)
class RuleResult:
    rule_id: str
    table: str
    kind: str
    severity: str
    status: str
    measured: float | None
    threshold: str
    message: str
    description_zh: str
    description_en: str
    details: dict[str, Any] | None = field(default=None, repr=False)

    def row(self) -> dict[str, Any]:
        """The result without its (possibly large) details, for printing and JSON."""
        return {k: v for k, v in self.__dict__.items() if k != "details"}


@dataclass(frozen=True)
class DQReport:
    run_id: int
    as_of: dt.date
    rules_file: str
    results: tuple[RuleResult, ...]

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def blocking_failures(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.status == "fail" and r.severity == "blocking")

    @property
    def status(self) -> str:
        return "failed" if self.blocking_failures else "passed"

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "as_of": self.as_of, "status": self.status, "rules": len(self.results),
                "pass": self.count("pass"), "fail": self.count("fail"), "skip": self.count("skip"),
                "blocking_failed": [r.rule_id for r in self.blocking_failures]}


@dataclass(frozen=True)
class RunSummary:
    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    as_of: dt.date
    status: str
    rules: int
    passed: int
    failed: int
    skipped: int
    blocking_failed: int
    rules_file: str
    warehouse: str


def previous_details(engine: Engine, rule_id: str) -> dict[str, Any] | None:
    """The stored details (e.g. histogram) of the latest result of ``rule_id`` that has any."""
    q = (select(dq_result.c.details)
         .where(dq_result.c.rule_id == rule_id, dq_result.c.details.is_not(None))
         .order_by(dq_result.c.run_id.desc(), dq_result.c.id.desc()).limit(1))
    with engine.connect() as conn:
        raw = conn.execute(q).scalar()
    return None if raw is None else json.loads(raw)


def _evaluate(rule: Any, ctx: CheckContext) -> Outcome:
    try:
        return CHECKS[rule.kind](rule, ctx)
    except Exception as exc:  # noqa: BLE001 - a broken check is reported as a failure of that rule
        return Outcome("fail", None, "", f"check could not run: {type(exc).__name__}: {exc}".splitlines()[0])


def evaluate(wh: Any, rules: Sequence[Any], as_of: dt.date, engine: Engine | None = None) -> list[RuleResult]:
    """Run ``rules`` in the warehouse; ``engine`` (the ops store) supplies earlier histograms."""
    ctx = CheckContext(wh=wh, as_of=as_of,
                       previous_details=(lambda rid: previous_details(engine, rid)) if engine else (lambda _: None))
    out = []
    for rule in rules:
        o = _evaluate(rule, ctx)
        out.append(RuleResult(rule.id, rule.table, rule.kind, rule.severity, o.status, o.measured, o.threshold,
                              o.message, rule.description.zh, rule.description.en, o.details))
    return out


def _finite(x: float | None) -> float | None:
    return None if x is None or x != x or x in (float("inf"), float("-inf")) else x


def store(engine: Engine, report_results: Sequence[RuleResult], *, as_of: dt.date, rules_file: str,
          warehouse: str, started_at: dt.datetime) -> int:
    """Write one run and its results in one transaction; returns the run id."""
    n_block = sum(r.status == "fail" and r.severity == "blocking" for r in report_results)
    with engine.begin() as conn:
        run_id = int(conn.execute(dq_run.insert().values(
            started_at=started_at, finished_at=dt.datetime.now(dt.UTC), as_of=as_of, rules_file=rules_file,
            warehouse=warehouse, status="failed" if n_block else "passed", n_rules=len(report_results),
            n_pass=sum(r.status == "pass" for r in report_results),
            n_fail=sum(r.status == "fail" for r in report_results),
            n_skip=sum(r.status == "skip" for r in report_results), n_blocking_failed=n_block,
        )).inserted_primary_key[0])
        if report_results:
            conn.execute(dq_result.insert(), [
                {"run_id": run_id, "rule_id": r.rule_id, "table_name": r.table, "kind": r.kind,
                 "severity": r.severity, "status": r.status, "measured": _finite(r.measured),
                 "threshold": r.threshold[:256], "message": r.message,
                 "details": None if r.details is None else json.dumps(r.details, ensure_ascii=False)}
                for r in report_results
            ])
    return run_id


def run(wh: Any, engine: Engine, rules: Sequence[Any], *, as_of: dt.date, rules_file: str) -> DQReport:
    """Run the rules, store the results with history, and return the report (never raises on a failed
    rule; the caller decides whether a blocking failure stops the pipeline)."""
    started = dt.datetime.now(dt.UTC)
    results = evaluate(wh, rules, as_of, engine)
    run_id = store(engine, results, as_of=as_of, rules_file=rules_file, warehouse=wh.kind, started_at=started)
    return DQReport(run_id, as_of, rules_file, tuple(results))


def history(engine: Engine, limit: int = 20) -> list[RunSummary]:
    """The most recent DQ runs, newest first, with their pass / fail / skip counts."""
    q = select(dq_run).order_by(dq_run.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    return [RunSummary(r["id"], r["started_at"], r["finished_at"], r["as_of"], r["status"], r["n_rules"],
                       r["n_pass"], r["n_fail"], r["n_skip"], r["n_blocking_failed"], r["rules_file"],
                       r["warehouse"]) for r in rows]


def rule_history(engine: Engine, rule_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """One rule's results over the recent runs (newest first): as_of, status, measured — for charts."""
    q = (select(dq_run.c.id, dq_run.c.as_of, dq_result.c.status, dq_result.c.measured, dq_result.c.message)
         .join(dq_run, dq_run.c.id == dq_result.c.run_id)
         .where(dq_result.c.rule_id == rule_id).order_by(dq_run.c.id.desc()).limit(limit))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings().all()]


def run_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(dq_run)).scalar() or 0)


__all__ = ["DQReport", "RuleResult", "RunSummary", "evaluate", "history", "previous_details", "rule_history",
           "run", "run_count", "store"]
