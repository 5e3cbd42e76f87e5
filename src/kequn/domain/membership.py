"""e+ membership rules as pure functions: growth value from events, tiers with a downgrade grace period,
blind-box draws, and reward-budget allocation. Values in, values out; no I/O."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# ------------------------------------------------------------------ growth value


class GrowthRule(BaseModel):
    """One way to earn growth value (成长值)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    name_zh: str
    name_en: str
    source: Literal["event", "transaction"]
    #: event rules: count active days on this channel; transaction rules: this transaction type
    channel: str | None = None
    txn_type: str | None = None
    per: Literal["day", "occurrence", "amount", "first_ever"]
    growth: int = Field(gt=0)
    amount_unit: Decimal | None = Field(default=None, gt=0, description="yuan per growth step, for per=amount")
    monthly_cap: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> GrowthRule:
        if self.source == "event" and not self.channel:
            raise ValueError("an event rule needs a channel")
        if self.source == "transaction" and not self.txn_type:
            raise ValueError("a transaction rule needs a txn_type")
        if (self.per == "amount") != (self.amount_unit is not None):
            raise ValueError("amount_unit is required exactly when per = amount")
        return self

    def raw_growth(self, occurrences: int, amount: Decimal = Decimal(0)) -> int:
        """Growth before the monthly cap, for a day's ``occurrences`` (or spend ``amount``)."""
        if occurrences <= 0:
            return 0
        if self.per == "amount":
            assert self.amount_unit is not None
            return int(abs(amount) // self.amount_unit) * self.growth
        if self.per == "occurrence":
            return occurrences * self.growth
        return self.growth  # day / first_ever: once

    def capped(self, raw: int, earned_this_month: int) -> int:
        if self.monthly_cap is None:
            return raw
        return max(0, min(raw, self.monthly_cap - earned_this_month))


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: int = Field(ge=0)
    name_zh: str
    name_en: str
    min_growth: int = Field(ge=0)
    benefits: tuple[str, ...] = ()


class TierPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tiers: tuple[Tier, ...]
    grace_days: int = Field(ge=0, default=30)
    window_days: int = Field(gt=0, default=365, description="growth counted over this trailing window")

    @model_validator(mode="after")
    def _ordered(self) -> TierPolicy:
        levels = [t.tier for t in self.tiers]
        if levels != list(range(len(levels))) or self.tiers[0].min_growth != 0:
            raise ValueError("tiers must be 0, 1, 2, … with tier 0 at min_growth 0")
        if any(a.min_growth >= b.min_growth for a, b in zip(self.tiers, self.tiers[1:], strict=False)):
            raise ValueError("min_growth must rise with the tier")
        return self

    def qualifying(self, growth: int) -> int:
        return max(t.tier for t in self.tiers if growth >= t.min_growth)


@dataclass(frozen=True)
class TierState:
    tier: int
    tier_since: dt.date
    grace_until: dt.date | None = None


def evaluate_tier(policy: TierPolicy, state: TierState, growth: int, today: dt.date) -> TierState:
    """Up at once; down only after a grace period during which the member stays below the tier's bar."""
    q = policy.qualifying(growth)
    if q >= state.tier:
        return TierState(q, today if q > state.tier else state.tier_since, None)
    if state.grace_until is None:
        return TierState(state.tier, state.tier_since, today + dt.timedelta(days=policy.grace_days))
    if today >= state.grace_until:
        return TierState(q, today, None)
    return state


# ------------------------------------------------------------------ blind box


class BoxItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reward_id: str
    weight: float = Field(gt=0)
    cost_fen: int = Field(ge=0)


@dataclass(frozen=True)
class Draw:
    reward_id: str
    cost_fen: int
    fallback: bool


def draw_box(items: Sequence[BoxItem], fallback: BoxItem, seed: int, *, budget_fen: int,
             in_stock: frozenset[str] | set[str]) -> Draw:
    """One draw: a weighted choice among rewards in stock that the budget can still pay for; when none
    can be paid for, the cheap fallback prize. Reproducible: the same seed gives the same draw."""
    rng = random.Random(seed)
    u = rng.random()
    eligible = [i for i in items if i.reward_id in in_stock and i.cost_fen <= budget_fen]
    if not eligible:
        return Draw(fallback.reward_id, fallback.cost_fen if fallback.cost_fen <= budget_fen else 0, True)
    total = sum(i.weight for i in eligible)
    acc = 0.0
    for item in eligible:
        acc += item.weight / total
        if u < acc:
            return Draw(item.reward_id, item.cost_fen, False)
    return Draw(eligible[-1].reward_id, eligible[-1].cost_fen, False)


def expected_cost_fen(items: Sequence[BoxItem]) -> Decimal:
    """Expected cost of one draw with everything in stock and budget to spare."""
    total = sum(Decimal(str(i.weight)) for i in items)
    return sum((Decimal(str(i.weight)) / total * i.cost_fen for i in items), Decimal(0)).quantize(Decimal("0.01"))


# ------------------------------------------------------------------ budget allocation


@dataclass(frozen=True)
class Candidate:
    customer_id: str
    reward_id: str
    uplift: float  # expected incremental value if given this reward (yuan)
    cost: Decimal  # what giving it costs (yuan)


@dataclass(frozen=True)
class Allocation:
    chosen: tuple[Candidate, ...]
    spent: Decimal
    expected_value: float


def allocate(candidates: Sequence[Candidate], budget: Decimal) -> Allocation:
    """At most one reward per customer, total cost within ``budget``, maximising expected incremental
    value. Greedy by value per yuan with upgrades (a customer's reward is replaced by a better one when
    the extra value per extra yuan is the best use of the money left) — the standard LP-relaxation greedy
    for the multiple-choice knapsack. Only rewards with positive uplift are ever given."""
    by_customer: dict[str, list[Candidate]] = {}
    for c in candidates:
        if c.uplift > 0 and c.cost >= 0:
            by_customer.setdefault(c.customer_id, []).append(c)
    steps: list[tuple[float, int, Candidate, Candidate | None]] = []
    order = 0
    for opts in by_customer.values():
        # the "upper hull": options ordered by cost with rising value and falling incremental ratio
        opts.sort(key=lambda c: (c.cost, -c.uplift))
        hull: list[Candidate] = []
        for c in opts:
            if hull and c.uplift <= hull[-1].uplift:
                continue
            while hull:
                prev_cost = hull[-2].cost if len(hull) > 1 else Decimal(0)
                prev_val = hull[-2].uplift if len(hull) > 1 else 0.0
                r_last = _ratio(hull[-1].uplift - prev_val, hull[-1].cost - prev_cost)
                r_new = _ratio(c.uplift - hull[-1].uplift, c.cost - hull[-1].cost)
                if r_new >= r_last:
                    hull.pop()
                else:
                    break
            hull.append(c)
        prev: Candidate | None = None
        for c in hull:
            gain = c.uplift - (prev.uplift if prev else 0.0)
            extra = c.cost - (prev.cost if prev else Decimal(0))
            steps.append((_ratio(gain, extra), order, c, prev))
            order += 1
            prev = c
    steps.sort(key=lambda s: (-s[0], s[1]))
    holding: dict[str, Candidate] = {}
    spent = Decimal(0)
    for *_, c, prev in steps:
        current = holding.get(c.customer_id)
        if current is not prev:
            continue  # an upgrade only applies on top of the step before it
        extra = c.cost - (prev.cost if prev else Decimal(0))
        if spent + extra <= budget:
            holding[c.customer_id] = c
            spent += extra
    chosen = tuple(sorted(holding.values(), key=lambda c: c.customer_id))
    return Allocation(chosen, spent, float(sum(c.uplift for c in chosen)))


def _ratio(gain: float, cost: Decimal) -> float:
    return float("inf") if cost <= 0 else gain / float(cost)
