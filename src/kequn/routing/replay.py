"""Replay a ladder version over past applications, and the champion/challenger traffic split.

Replay answers "what would change if we approved this version?" before a checker approves it: approval
rate, average rate of the chosen offers and volume per product, baseline beside candidate, plus the
applications whose outcome changed. The split is a sticky hash of the application id, so an application
retried later lands in the same arm.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from kequn.domain.loans import Application, Decision
from kequn.routing.router import CompiledLadder, route


def assign_arm(application_id: str, share: float, salt: str = "loan_ladder") -> str:
    """``"challenger"`` for a stable ``share`` of application ids, else ``"champion"``."""
    if not 0 <= share <= 1:
        raise ValueError(f"challenger share must be within [0, 1], got {share}")
    digest = hashlib.sha256(f"{salt}:{application_id}".encode()).digest()
    return "challenger" if int.from_bytes(digest[:8], "big") / 2**64 < share else "champion"


@dataclass(frozen=True)
class LadderSummary:
    ladder_version: int
    n: int
    approved: int
    leads: int
    avg_apr: Decimal | None
    volume: dict[str, tuple[int, Decimal]] = field(default_factory=dict)  # product -> (count, amount)

    @property
    def approval_rate(self) -> Decimal:
        return (Decimal(self.approved) / self.n * 100).quantize(Decimal("0.1"), ROUND_HALF_UP) if self.n \
            else Decimal(0)


def summarise(version: int, decisions: Sequence[Decision]) -> LadderSummary:
    chosen = [d.chosen for d in decisions if d.chosen is not None]
    counts: Counter[str] = Counter()
    amounts: dict[str, Decimal] = {}
    for o in chosen:
        counts[o.product_id] += 1
        amounts[o.product_id] = amounts.get(o.product_id, Decimal(0)) + o.amount
    avg = (sum((o.apr for o in chosen), Decimal(0)) / len(chosen)).quantize(Decimal("0.01"), ROUND_HALF_UP) \
        if chosen else None
    return LadderSummary(version, len(decisions), len(chosen), sum(d.outcome == "lead" for d in decisions),
                         avg, {p: (counts[p], amounts[p]) for p in sorted(counts)})


@dataclass(frozen=True)
class Change:
    application_id: str
    before: str  # product id or "declined"
    after: str
    before_apr: Decimal | None
    after_apr: Decimal | None


@dataclass(frozen=True)
class ReplayReport:
    baseline: LadderSummary
    candidate: LadderSummary
    changes: tuple[Change, ...]

    def rows(self) -> list[dict[str, Any]]:
        """Side-by-side figures for a table: one row per measure and per product."""
        b, c = self.baseline, self.candidate
        rows = [
            {"measure": "申请数 applications", "baseline": b.n, "candidate": c.n},
            {"measure": "通过率 approval rate %", "baseline": b.approval_rate, "candidate": c.approval_rate},
            {"measure": "平均年利率 average APR %", "baseline": b.avg_apr, "candidate": c.avg_apr},
            {"measure": "转网点线索 branch leads", "baseline": b.leads, "candidate": c.leads},
            {"measure": "结果变化 changed decisions", "baseline": "", "candidate": len(self.changes)},
        ]
        for p in sorted(set(b.volume) | set(c.volume)):
            bn, ba = b.volume.get(p, (0, Decimal(0)))
            cn, ca = c.volume.get(p, (0, Decimal(0)))
            rows.append({"measure": f"{p} 笔数/金额", "baseline": f"{bn} / {ba}", "candidate": f"{cn} / {ca}"})
        return rows


def replay(baseline: CompiledLadder, candidate: CompiledLadder, applications: Iterable[Application],
           *, model_version: str = "declared") -> ReplayReport:
    """Route every application through both ladders and compare."""
    before, after, changes = [], [], []
    for app in applications:
        b = route(baseline, app, model_version=model_version)
        c = route(candidate, app, model_version=model_version)
        before.append(b)
        after.append(c)
        bp = b.chosen.product_id if b.chosen else "declined"
        cp = c.chosen.product_id if c.chosen else "declined"
        b_apr = b.chosen.apr if b.chosen else None
        c_apr = c.chosen.apr if c.chosen else None
        if (bp, b_apr) != (cp, c_apr):
            changes.append(Change(app.application_id, bp, cp, b_apr, c_apr))
    return ReplayReport(summarise(baseline.version, before), summarise(candidate.version, after), tuple(changes))


__all__ = ["Change", "LadderSummary", "ReplayReport", "assign_arm", "replay", "summarise"]
