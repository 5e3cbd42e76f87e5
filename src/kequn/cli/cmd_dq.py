"""`kequn dq` — run the data-quality rules (数据质量检查) in the warehouse, keep the results with history
in the ops store, print them as a table; exit 1 when a blocking rule fails."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from kequn.errors import QualityGateFailed

STATUS_ZH = {"pass": "pass 通过", "fail": "fail 失败", "skip": "skip 跳过"}
SEVERITY_ZH = {"blocking": "blocking 阻断", "warning": "warning 警告"}
RATE_KINDS = {"completeness", "validity", "referential"}


class GateFailedWithReport(QualityGateFailed):
    """A blocking rule failed; in ``--json`` mode the one JSON document is this error with the whole report
    under ``report`` (so stdout stays a single document and the exit code stays 1)."""

    def __init__(self, message: str, *, report: dict[str, Any], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.report = report

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"report": self.report}


def register(app: typer.Typer) -> None:
    app.command("dq", help="Run data-quality rules (数据质量): completeness, validity, uniqueness, "
                           "referential integrity, freshness, volume change, distribution shift.")(dq)


def _as_of(value: str | None, timezone: str) -> dt.date:
    from kequn.errors import ValidationError

    if value is None:
        from zoneinfo import ZoneInfo

        return dt.datetime.now(ZoneInfo(timezone)).date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"--as-of {value!r} is not a date; use YYYY-MM-DD") from None


def _measured(kind: str, value: float | None) -> str:
    if value is None:
        return ""
    if kind in RATE_KINDS:
        return f"{value:.2%}"
    if kind == "uniqueness":
        return f"{value:.0f} dup"
    if kind == "freshness":
        return f"{value:.0f} d"
    if kind == "volume_change":
        return f"×{value:.2f}"
    return f"{value:.4f}"


def _display_rows(report: Any) -> list[dict[str, str]]:
    return [{"规则 rule": r.rule_id, "表 table": r.table, "级别 severity": SEVERITY_ZH[r.severity],
             "状态 status": STATUS_ZH[r.status], "实测 measured": _measured(r.kind, r.measured),
             "阈值 threshold": r.threshold, "说明 message": r.message} for r in report.results]


def _ensure_opstore(engine: Any) -> None:
    from kequn import opstore
    from kequn.errors import StoreError

    if opstore.current_revision(engine) != opstore.head_revision():
        raise StoreError("the ops store is not initialised or not up to date: run `kequn init` first")


def _history(out: Any, engine: Any, limit: int) -> None:
    from kequn.quality import history

    runs = history(engine, limit)
    rows = [{"run": r.id, "as_of": r.as_of, "status": r.status, "rules": r.rules, "pass": r.passed,
             "fail": r.failed, "skip": r.skipped, "blocking_failed": r.blocking_failed,
             "finished_at": r.finished_at} for r in runs]
    out.table(rows, title="数据质量检查历史 DQ run history", json_obj=rows)


def dq(
    ctx: typer.Context,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Business date YYYY-MM-DD (default: today).")] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="Rule file (default: the packaged "
                                               "catalog/dq_rules.yaml).")] = None,
    show_history: Annotated[int, typer.Option("--history", help="Show the last N runs instead of running.",
                                              min=0)] = 0,
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
) -> None:
    from kequn import opstore
    from kequn.cli.main import console
    from kequn.quality import DEFAULT_RULES_FILE, load_rules, run
    from kequn.settings import get_settings
    from kequn.warehouse import open_default

    out = console(ctx)
    out.json_mode = out.json_mode or json_
    settings = get_settings()
    engine = opstore.open_default()
    try:
        _ensure_opstore(engine)
        if show_history:
            _history(out, engine, show_history)
            return
        day = _as_of(as_of, settings.timezone)
        rule_set = load_rules(rules)
        wh = open_default()
        try:
            report = run(wh, engine, rule_set, as_of=day, rules_file=str(rules or DEFAULT_RULES_FILE))
        finally:
            wh.close()
    finally:
        engine.dispose()
    _finish(out, report, day)


def _finish(out: Any, report: Any, day: dt.date) -> None:
    s = report.summary()
    doc = s | {"results": [r.row() for r in report.results]}
    if not (out.json_mode and report.blocking_failures):
        out.table(_display_rows(report), title=f"数据质量检查 DQ run {report.run_id} — as of {day}", json_obj=doc)
    out.info(f"{s['pass']} passed, {s['fail']} failed ({len(s['blocking_failed'])} blocking), {s['skip']} skipped")
    if report.blocking_failures:
        ids = ", ".join(s["blocking_failed"])
        raise GateFailedWithReport(
            f"{len(s['blocking_failed'])} blocking data-quality rule(s) failed: {ids}", report=doc,
            details=[{"rule": r.rule_id, "message": r.message} for r in report.blocking_failures])
