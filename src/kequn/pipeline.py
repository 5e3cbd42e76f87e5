"""The daily run and the demo, as a sequence of steps with one shape each.

Every step is ``fn(ctx) -> figures``: it reads what it needs from the :class:`RunContext`, does one thing
through a capability's public function, and returns a small dict of figures. ``kequn run --as-of D`` runs
:data:`DAILY_STEPS` (data quality → tags → segments and journeys → membership growth and tiers →
campaigns due today and lead escalation);
``kequn demo`` runs :data:`DEMO_STEPS`: it prepares the stores and a synthetic bank, approves the bank's
standard customer groups through the ordinary maker-checker path with two demo users, and runs the daily
steps as of the synthetic bank's last day.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kequn.settings import Settings, get_settings

#: demo maker and checker (two different people, as maker-checker requires)
DEMO_MAKER, DEMO_CHECKER = "demo_analyst", "demo_admin"


@dataclass
class RunContext:
    settings: Settings
    as_of: dt.date | None = None
    source_dir: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = print
    _warehouse: Any = None
    _engine: Any = None

    @property
    def warehouse(self) -> Any:
        if self._warehouse is None:
            from kequn.warehouse import connect

            self._warehouse = connect(self.settings.resolved_warehouse_url, threads=self.settings.threads)
        return self._warehouse

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from kequn.opstore import engine_for

            self._engine = engine_for(self.settings.resolved_opstore_url)
        return self._engine

    @property
    def day(self) -> dt.date:
        if self.as_of is None:
            raise ValueError("this step needs an as-of date")
        return self.as_of

    def close(self) -> None:
        if self._warehouse is not None:
            self._warehouse.close()
            self._warehouse = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


@dataclass(frozen=True)
class StepResult:
    step: str
    seconds: float
    figures: dict[str, Any]


Step = Callable[[RunContext], dict[str, Any]]


# ------------------------------------------------------------------ preparing (demo)

def step_init(ctx: RunContext) -> dict[str, Any]:
    from kequn.services.init import init_stores

    ctx.close()  # init opens its own connections
    r = init_stores()
    return {"tables_created": len(r["tables_created"]), "opstore_revision": r["opstore_revision"]}


def step_synth(ctx: RunContext) -> dict[str, Any]:
    from kequn.synth import generate

    out = ctx.source_dir or ctx.settings.data_dir / "synth"
    o = ctx.options
    manifest = generate(out, customers=int(o.get("customers", 20_000)), months=int(o.get("months", 12)),
                        seed=int(o.get("seed", 42)))
    ctx.source_dir = out
    ctx.as_of = ctx.as_of or dt.date.fromisoformat(str(manifest["window"]["end"]))
    return {"folder": str(out), "rows": sum(int(v) for v in manifest["rows"].values()), "as_of": ctx.as_of}


def step_load(ctx: RunContext) -> dict[str, Any]:
    from kequn.ingest import load_dir

    if ctx.source_dir is None:
        raise ValueError("no source folder to load")
    s = load_dir(ctx.warehouse, ctx.source_dir)
    return {"batch": s.batch_id[:12], "already_loaded": s.already_loaded, "read": s.read, "loaded": s.loaded,
            "quarantined": s.quarantined}


def step_approve_standard(ctx: RunContext) -> dict[str, Any]:
    """Submit the bank's standard groups (客群) and approve them with two different demo users — the same
    maker-checker path as any segment (the rules are checked against the computed tag catalogue)."""
    from kequn.opstore import approvals
    from kequn.segments import definitions
    from kequn.segments.service import approve, submit_shipped

    done = []
    for seg_id in definitions.load_shipped():
        if approvals.current(ctx.engine, "segment", seg_id) is None:
            if not any(r.item_id == seg_id for r in approvals.pending(ctx.engine, "segment")):
                submit_shipped(ctx.engine, ctx.warehouse, seg_id, DEMO_MAKER)
            approve(ctx.engine, seg_id, DEMO_CHECKER)
            done.append(seg_id)
    return {"approved": len(done), "maker": DEMO_MAKER, "checker": DEMO_CHECKER}


def step_rewards_catalogue(ctx: RunContext) -> dict[str, Any]:
    from kequn.rewards.catalogue import load_catalogue, sync_catalogue

    return sync_catalogue(ctx.engine, load_catalogue())


# ------------------------------------------------------------------ the daily run

def step_dq(ctx: RunContext) -> dict[str, Any]:
    from kequn.quality import DEFAULT_RULES_FILE, load_rules, run

    report = run(ctx.warehouse, ctx.engine, load_rules(), as_of=ctx.day, rules_file=str(DEFAULT_RULES_FILE))
    s = report.summary()
    return {"rules": s["rules"] if "rules" in s else len(report.results), "pass": s["pass"], "fail": s["fail"],
            "skip": s["skip"], "blocking_failed": len(s["blocking_failed"])}


def step_tags(ctx: RunContext) -> dict[str, Any]:
    from kequn.tags.approval import statuses
    from kequn.tags.catalog import default_catalog
    from kequn.tags.store import compute

    cat = default_catalog()
    st = statuses(cat, ctx.engine)
    specs = {i: s for i, s in cat.items() if st[i].status == "approved"}
    results = compute(ctx.warehouse, ctx.day, specs, force=bool(ctx.options.get("force", False)),
                      full=bool(ctx.options.get("full", False)))
    customer = next((r for r in results if r.entity == "customer" and not r.skipped), None)
    return {r.entity: r.rows for r in results} | {"tags": len(specs)} | (
        {"customer_run": customer.mode} if customer is not None else {})


def step_segments(ctx: RunContext) -> dict[str, Any]:
    from kequn.segments.service import daily

    out = daily(ctx.warehouse, ctx.engine, ctx.day)
    journeys = {k: ("error: " + v["error"]) if "error" in v else v.get("customers", v.get("members"))
                for k, v in out["journeys"].items()}
    return {"segments": out["segments"], "journeys": journeys}


def step_growth(ctx: RunContext) -> dict[str, Any]:
    from kequn.rewards.growth import accrue_day, load_membership, reevaluate

    rules, policy, _boxes = load_membership()
    accrued = accrue_day(ctx.warehouse, ctx.engine, rules, ctx.day)
    tiers = reevaluate(ctx.engine, policy, ctx.day)
    return {"growth_events": accrued["events"], "members": tiers["members"], "tier_up": tiers["up"],
            "tier_down": tiers["down"]}


def step_campaigns(ctx: RunContext) -> dict[str, Any]:
    """Launch the approved campaigns due today (through the contact policy into the outbox) and escalate
    leads past their SLA."""
    from kequn.campaigns.service import daily

    out = daily(ctx.warehouse, ctx.engine, ctx.day)
    escalated = out["escalated_leads"]
    return {"campaigns_launched": len(out["runs"]),
            "leads_escalated": len(escalated) if isinstance(escalated, list) else escalated}


DAILY_STEPS: tuple[tuple[str, Step], ...] = (
    ("dq 数据质量", step_dq),
    ("tags 标签", step_tags),
    ("segments 客群与旅程", step_segments),
    ("growth 成长值", step_growth),
    ("campaigns 营销活动", step_campaigns),
)
DEMO_STEPS: tuple[tuple[str, Step], ...] = (
    ("init 初始化", step_init),
    ("synth 模拟银行", step_synth),
    ("load 装载", step_load),
    ("rewards 权益目录", step_rewards_catalogue),
    ("dq 数据质量", step_dq),
    ("tags 标签", step_tags),
    ("approve 标准客群审批", step_approve_standard),
    ("segments 客群与旅程", step_segments),
    ("growth 成长值", step_growth),
    ("campaigns 营销活动", step_campaigns),
)


def run_steps(ctx: RunContext, steps: tuple[tuple[str, Step], ...]) -> list[StepResult]:
    """Run ``steps`` in order, logging each; the first failing step's error propagates."""
    results = []
    for name, fn in steps:
        ctx.log(f"▶ {name} …")
        t0 = time.perf_counter()
        figures = fn(ctx)
        res = StepResult(name, round(time.perf_counter() - t0, 1), figures)
        ctx.log(f"✔ {name} ({res.seconds}s) {_short(figures)}")
        results.append(res)
    return results


def _short(figures: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in figures.items())
    return text if len(text) < 300 else text[:297] + "…"


def default_context(**options: Any) -> RunContext:
    return RunContext(settings=get_settings(), options=options)
