"""Campaigns (营销活动) as pure values: the spec, sticky arm assignment and THE contact policy.

Everything here takes values and returns values (no I/O). The vectorised path in
``kequn.campaigns.policy`` is an Ibis expression that must agree with :func:`decide` row for row; a
hypothesis test compares them (tests/test_campaigns_policy.py).

Contact policy (COMPLIANCE.md rules 4, 5, 6, 8), checked in this order, first refusal wins:

1. ``transactional`` messages are exempt from all marketing rules (and marked as such);
2. ``opted_out``    — the customer refused this channel (e.g. replied "T"): honoured at once;
3. ``no_consent``   — no marketing consent in force for this channel. SMS and voice calls need an explicit
   opt-in for that channel; other channels accept a channel-specific or an ``any`` grant. A withdrawn
   latest record is a refusal; no record is a refusal.
4. ``no_personalisation`` — the campaign is personalised (targeted by a model or a segment) and the customer
   refused personalised marketing (PIPL Art. 24: latest ``personalisation`` consent withdrawn);
5. ``frequency_cap`` — the customer already had ``cap`` marketing contacts on this channel in the window,
   across all campaigns (sent or waiting in the outbox);
6. ``quiet_hours``  — local time inside the do-not-disturb window (default 21:00–08:00): the send is deferred
   to the end of the window, never made inside it.

A campaign lists channels in order of preference; :func:`choose` takes the first one the policy allows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: channels a campaign can use (the branch lead queue is a channel like any other)
CHANNELS: tuple[str, ...] = ("sms", "app_push", "wechat_work", "call", "email", "branch_lead")
#: channel -> consent channel of the ``consent`` table; a branch lead is a call by the RM
CONSENT_CHANNEL: Mapping[str, str] = {"sms": "sms", "app_push": "app_push", "wechat_work": "wechat_work",
                                      "call": "call", "email": "email", "branch_lead": "call"}
#: channels where no recorded opt-in counts as a refusal (COMPLIANCE.md rule 4)
STRICT_OPT_IN: frozenset[str] = frozenset({"sms", "call"})
#: default caps: marketing contacts per customer per channel per 7 days, across all campaigns
DEFAULT_CAPS: Mapping[str, int] = {"sms": 2, "app_push": 3, "wechat_work": 2, "call": 1, "email": 2,
                                   "branch_lead": 1}
REASONS: Mapping[str, str] = {
    "opted_out": "已退订该渠道", "no_consent": "无该渠道营销授权", "no_personalisation": "客户拒绝个性化营销",
    "quiet_hours": "免打扰时段（顺延）", "frequency_cap": "超出接触频次上限", "arbitration_lost": "同一客户有更优先的活动",
    "holdout": "全行保留组", "control": "对照组", "no_branch_capacity": "网点客户经理无剩余容量",
}
#: why an event trigger did not fire for a customer (``trigger_fire.outcome``; the audience's own filters)
TRIGGER_REFUSALS: Mapping[str, str] = {
    "no_score": "无模型评分", "below_score": "评分低于门槛", "above_score": "评分高于上限", "outside_pilot": "不在试点网点",
}
#: conversion kinds a campaign can count (both arms, the same way), with their Chinese labels
CONVERSION_KINDS: Mapping[str, str] = {
    "product_opened": "开立产品", "reward_redeemed": "权益核销", "aum_up": "资产提升",
}
#: account kinds that make up AUM (the console's definition: deposits, time deposits, wealth)
AUM_KINDS: tuple[str, ...] = ("deposit", "time_deposit", "wealth")
OPT_OUT_TEXT = "回T退订"
SMS_SEGMENT_CHARS = 70  # one Chinese SMS segment (UCS-2); longer messages are split into 67-char parts
SMS_MAX_SEGMENTS = 3
_VAR = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
TEMPLATE_VARIABLES: frozenset[str] = frozenset({"surname_title", "offer_name", "branch_name", "rm_name",
                                                "amount", "valid_until"})
#: longest rendering allowed for each variable when checking an SMS's length before sending
VARIABLE_MAX_CHARS: Mapping[str, int] = {"surname_title": 4, "offer_name": 10, "branch_name": 12,
                                         "rm_name": 4, "amount": 8, "valid_until": 10}


# ------------------------------------------------------------------------------------------- spec
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScoreFilter(_Strict):
    score_name: str
    min: float | None = None
    max: float | None = None


class UpliftTopK(_Strict):
    score_name: str = Field(description="an uplift score in model_score (expected extra conversion probability)")
    budget_fen: int = Field(gt=0, description="the campaign's budget in fen")
    cost_per_contact_fen: int = Field(gt=0, description="expected cost of treating one customer (reward + channel)")

    @property
    def k(self) -> int:
        return self.budget_fen // self.cost_per_contact_fen


class Audience(_Strict):
    segment_id: str | None = None
    scores: tuple[ScoreFilter, ...] = ()
    uplift_top_k: UpliftTopK | None = None
    branches: tuple[str, ...] = Field((), description="only these home branches (a playbook's pilot); empty = all")

    @model_validator(mode="after")
    def _something(self) -> Audience:
        if self.segment_id is None and not self.scores and self.uplift_top_k is None:
            raise ValueError("audience needs a segment_id, score filters or uplift_top_k")
        return self


class Offer(_Strict):
    kind: Literal["reward", "product"]
    code: str = Field(description="reward type (coupon, cashback, …) or product category (wealth, …)")
    name: str = Field(description="name shown to customers, e.g. 加油券")
    reward_id: str | None = Field(None, description="the catalogue reward given when the offer is redeemed "
                                                    "(sandbox redemptions post it to the ledger); default: the first "
                                                    "active catalogue reward of category ``code``")
    reward_fen: int = Field(0, ge=0, description="cost of one redeemed reward, in fen")
    expected_value_fen: int = Field(0, ge=0, description="expected value of one conversion, in fen (arbitration, ROI)")


class ChannelMessage(_Strict):
    channel: Literal["sms", "app_push", "wechat_work", "call", "email", "branch_lead"]
    template: str = Field(min_length=1)

    @model_validator(mode="after")
    def _template_ok(self) -> ChannelMessage:
        problems = template_problems(self.channel, self.template)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class OneOff(_Strict):
    kind: Literal["one_off"] = "one_off"
    at: dt.datetime


class Recurring(_Strict):
    kind: Literal["recurring"] = "recurring"
    start: dt.datetime
    every_days: int = Field(ge=1)
    until: dt.date | None = None


class EventTrigger(_Strict):
    kind: Literal["event"] = "event"
    touchpoint_id: str = Field(description="the touchpoint that fires it, e.g. TP-APP-001 (app login)")
    dormant_days: int = Field(0, ge=0, description="fire only when the previous such event is older than this")


Schedule = Annotated[OneOff | Recurring | EventTrigger, Field(discriminator="kind")]


class ProductOpened(_Strict):
    """An account of the product category opened in the window (warehouse ``account`` ⋈ ``product``)."""

    kind: Literal["product_opened"] = "product_opened"
    category: str | None = Field(None, description="product category; default: the offer's code (product offers)")


class RewardRedeemed(_Strict):
    """A redemption (not reversed) in the window in the rewards ledger (ops store ``redemption``)."""

    kind: Literal["reward_redeemed"] = "reward_redeemed"
    reward_id: str | None = Field(None, description="only this catalogue reward; default: the offer's reward_id")
    category: str | None = Field(None, description="rewards of this catalogue category; default: the offer's code")


class AumUp(_Strict):
    """AUM at the window's end minus AUM at launch ≥ ``min_increase_fen`` (warehouse ``balance_monthly``:
    the latest month-end on or before each day; AUM = deposits + time deposits + wealth)."""

    kind: Literal["aum_up"] = "aum_up"
    min_increase_fen: int = Field(1_000_000, gt=0, description="threshold in fen (default ¥10,000)")


Conversion = Annotated[ProductOpened | RewardRedeemed | AumUp, Field(discriminator="kind")]


class CampaignSpec(_Strict):
    campaign_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")
    name: str = Field(min_length=1)
    purpose: Literal["marketing"] = "marketing"
    transactional: bool = Field(False, description="service message (salary notice, security alert): exempt")
    personalised: bool = Field(True, description="targeted by segment/model: refused for no-personalisation customers")
    priority: int = Field(0, description="higher wins when several campaigns want the same customer")
    audience: Audience
    offer: Offer
    channels: tuple[ChannelMessage, ...] = Field(min_length=1)
    schedule: Schedule
    control_share: float = Field(0.1, ge=0.0, lt=1.0)
    holdout_share: float = Field(0.02, ge=0.0, lt=0.5, description="bank-wide holdout (sticky per customer)")
    window_days: int = Field(14, ge=1, le=120, description="conversion window after the send")
    lead_sla_working_days: int = Field(2, ge=1, le=20)
    playbook_id: str | None = None
    conversions: tuple[Conversion, ...] = Field((), description="what counts as a conversion, the first is the "
                                                "headline; default: product_opened (product offer) or "
                                                "reward_redeemed (reward offer)")

    @model_validator(mode="after")
    def _conversions_ok(self) -> CampaignSpec:
        kinds = [c.kind for c in self.conversions]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"a conversion kind appears twice: {kinds}")
        for c in self.conversions:
            if isinstance(c, ProductOpened) and c.category is None and self.offer.kind != "product":
                raise ValueError("conversions: product_opened needs a category when the offer is a reward")
            if (isinstance(c, RewardRedeemed) and c.reward_id is None and c.category is None
                    and self.offer.kind != "reward"):
                raise ValueError("conversions: reward_redeemed needs a reward_id or category when the offer is a product")
        return self

    def conversion_kinds(self) -> tuple[Conversion, ...]:
        """The conversions to count (the spec's, or the default for its offer), with defaults filled in."""
        convs = self.conversions or ((ProductOpened(category=None),) if self.offer.kind == "product"
                                     else (RewardRedeemed(reward_id=None, category=None),))
        out: list[Conversion] = []
        for c in convs:
            if isinstance(c, ProductOpened) and c.category is None:
                c = ProductOpened(category=self.offer.code)
            elif isinstance(c, RewardRedeemed) and c.reward_id is None and c.category is None:
                c = (RewardRedeemed(reward_id=self.offer.reward_id, category=None) if self.offer.reward_id
                     else RewardRedeemed(reward_id=None, category=self.offer.code))
            out.append(c)
        return tuple(out)

    @field_validator("channels")
    @classmethod
    def _distinct(cls, v: tuple[ChannelMessage, ...]) -> tuple[ChannelMessage, ...]:
        names = [c.channel for c in v]
        if len(set(names)) != len(names):
            raise ValueError(f"a channel appears twice: {names}")
        return v


def due(spec: CampaignSpec, day: dt.date, tz: str = "Asia/Shanghai") -> bool:
    """Whether a scheduled (one-off or recurring) campaign runs on the local ``day``; event campaigns never
    run on a schedule (their trigger fires them)."""
    s = spec.schedule
    if isinstance(s, OneOff):
        return _local_day(s.at, tz) == day
    if isinstance(s, Recurring):
        start = _local_day(s.start, tz)
        return start <= day and (s.until is None or day <= s.until) and (day - start).days % s.every_days == 0
    return False


def _local_day(at: dt.datetime, tz: str) -> dt.date:
    return (at if at.tzinfo else at.replace(tzinfo=ZoneInfo(tz))).astimezone(ZoneInfo(tz)).date()


def template_problems(channel: str, template: str) -> list[str]:
    """Every problem with a message template: unknown variables, SMS length, the SMS opt-out text."""
    problems = [f"unknown template variable {{{v}}} (known: {', '.join(sorted(TEMPLATE_VARIABLES))})"
                for v in _VAR.findall(template) if v not in TEMPLATE_VARIABLES]
    if channel == "sms":
        if OPT_OUT_TEXT not in template:
            problems.append(f"a marketing SMS must carry the opt-out text {OPT_OUT_TEXT!r}")
        longest = _VAR.sub(lambda m: "字" * VARIABLE_MAX_CHARS.get(m.group(1), 0), template)
        if sms_segments(longest) > SMS_MAX_SEGMENTS:
            problems.append(f"SMS too long: {len(longest)} characters at most after filling variables "
                            f"= {sms_segments(longest)} segments (limit {SMS_MAX_SEGMENTS})")
    return problems


def sms_segments(text: str) -> int:
    """Billing segments of a Chinese SMS: 70 characters in one, 67 per part when split."""
    n = len(text)
    return 1 if n <= SMS_SEGMENT_CHARS else -(-n // 67)


def render(template: str, values: Mapping[str, str]) -> str:
    return _VAR.sub(lambda m: str(values.get(m.group(1), "")), template)


# ------------------------------------------------------------------------------------ assignment
def bucket(text: str) -> str:
    """The sticky hash bucket: the first 8 hex digits of md5 (compared as strings = as numbers)."""
    return hashlib.md5(text.encode("utf-8")).hexdigest()[:8]


def threshold(share: float) -> str:
    return f"{min(int(share * 16**8), 16**8 - 1):08x}" if share > 0 else "00000000"


def arm_of(customer_id: str, campaign_id: str, control_share: float, holdout_share: float) -> str:
    """holdout (bank-wide, sticky per customer) / control (sticky per customer and campaign) / treatment."""
    if holdout_share > 0 and bucket(f"holdout|{customer_id}") < threshold(holdout_share):
        return "holdout"
    if control_share > 0 and bucket(f"{campaign_id}|{customer_id}") < threshold(control_share):
        return "control"
    return "treatment"


# ------------------------------------------------------------------------------------ the policy
@dataclass(frozen=True)
class PolicyConfig:
    timezone: str = "Asia/Shanghai"
    quiet_start: dt.time = dt.time(21, 0)
    quiet_end: dt.time = dt.time(8, 0)
    caps: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CAPS))
    window_days: int = 7

    @classmethod
    def from_settings(cls, settings: Any) -> PolicyConfig:
        return cls(timezone=settings.timezone, quiet_start=dt.time.fromisoformat(settings.quiet_hours_start),
                   quiet_end=dt.time.fromisoformat(settings.quiet_hours_end))


@dataclass(frozen=True)
class ContactFacts:
    """What the policy knows about one customer when deciding."""

    customer_id: str
    consent: Mapping[str, bool] = field(default_factory=dict)  # consent channel ("sms", …, "any") -> granted
    opted_out: frozenset[str] = frozenset()  # channels refused through the opt-out path (ops store)
    no_personalisation: bool = False
    recent: Mapping[str, int] = field(default_factory=dict)  # channel -> marketing contacts in the window


@dataclass(frozen=True)
class ContactRequest:
    campaign_id: str
    customer_id: str
    channel: str
    at: dt.datetime  # timezone-aware
    transactional: bool = False
    personalised: bool = True


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str | None = None
    transactional: bool = False


Rule = Callable[[ContactRequest, ContactFacts, PolicyConfig], str | None]


def _opted_out(r: ContactRequest, f: ContactFacts, c: PolicyConfig) -> str | None:
    return "opted_out" if r.channel in f.opted_out or "any" in f.opted_out else None


def has_consent(channel: str, consent: Mapping[str, bool]) -> bool:
    ch = CONSENT_CHANNEL[channel]
    if consent.get(ch) is not None:
        return bool(consent[ch])
    return ch not in STRICT_OPT_IN and bool(consent.get("any", False))


def _consent(r: ContactRequest, f: ContactFacts, c: PolicyConfig) -> str | None:
    return None if has_consent(r.channel, f.consent) else "no_consent"


def _personalisation(r: ContactRequest, f: ContactFacts, c: PolicyConfig) -> str | None:
    return "no_personalisation" if r.personalised and f.no_personalisation else None


def in_quiet_hours(at: dt.datetime, cfg: PolicyConfig) -> bool:
    if at.tzinfo is None:
        raise ValueError("contact time must be timezone-aware")
    local = at.astimezone(ZoneInfo(cfg.timezone)).time()
    if cfg.quiet_start > cfg.quiet_end:  # wraps midnight (21:00–08:00)
        return local >= cfg.quiet_start or local < cfg.quiet_end
    return cfg.quiet_start <= local < cfg.quiet_end


def next_allowed(at: dt.datetime, cfg: PolicyConfig) -> dt.datetime:
    """The first moment at or after ``at`` outside quiet hours."""
    if not in_quiet_hours(at, cfg):
        return at
    tz = ZoneInfo(cfg.timezone)
    local = at.astimezone(tz)
    end = local.replace(hour=cfg.quiet_end.hour, minute=cfg.quiet_end.minute, second=0, microsecond=0)
    if end <= local:
        end += dt.timedelta(days=1)
    return end.astimezone(dt.UTC)


def _quiet(r: ContactRequest, f: ContactFacts, c: PolicyConfig) -> str | None:
    return "quiet_hours" if in_quiet_hours(r.at, c) else None


def _cap(r: ContactRequest, f: ContactFacts, c: PolicyConfig) -> str | None:
    return "frequency_cap" if f.recent.get(r.channel, 0) >= c.caps.get(r.channel, 0) else None


#: the rules, in order (a tuple: registries are immutable). Customer-level rules first, time last.
RULES: tuple[tuple[str, Rule], ...] = (
    ("opted_out", _opted_out), ("no_consent", _consent), ("no_personalisation", _personalisation),
    ("frequency_cap", _cap), ("quiet_hours", _quiet),
)


def decide(req: ContactRequest, facts: ContactFacts, cfg: PolicyConfig) -> Verdict:
    """THE contact policy for one contact (the reference the vectorised path is tested against)."""
    if req.transactional:
        return Verdict(True, None, transactional=True)
    for _name, rule in RULES:
        reason = rule(req, facts, cfg)
        if reason is not None:
            return Verdict(False, reason)
    return Verdict(True)


def choose(campaign_id: str, customer_id: str, channels: Sequence[str], at: dt.datetime, facts: ContactFacts,
           cfg: PolicyConfig, *, transactional: bool = False, personalised: bool = True) -> tuple[str | None, str | None]:
    """(channel, None) for the first channel the policy allows (quiet hours defer, they do not refuse), or
    (None, reason the first channel was refused)."""
    first: str | None = None
    for ch in channels:
        v = decide(ContactRequest(campaign_id, customer_id, ch, at, transactional, personalised), facts, cfg)
        if v.allowed or v.reason == "quiet_hours":
            return ch, None
        first = first or v.reason
    return None, first


@dataclass(frozen=True)
class Bid:
    campaign_id: str
    customer_id: str
    priority: int
    expected_value_fen: int


def arbitrate(bids: Sequence[Bid]) -> tuple[list[Bid], list[Bid]]:
    """One campaign per customer: highest priority, then expected value, then campaign id. (winners, losers)"""
    best: dict[str, Bid] = {}
    for b in bids:
        cur = best.get(b.customer_id)
        if cur is None or _rank(b) > _rank(cur):
            best[b.customer_id] = b
    winners = list(best.values())
    won = {(b.campaign_id, b.customer_id) for b in winners}
    return winners, [b for b in bids if (b.campaign_id, b.customer_id) not in won]


def _rank(b: Bid) -> tuple[int, int, str]:
    # a smaller campaign id wins a full tie: negate by sorting on the reversed string is not total, so invert
    return (b.priority, b.expected_value_fen, "".join(chr(0x10FFFF - ord(ch)) for ch in b.campaign_id))


# ------------------------------------------------------------------------------------ statistics
@dataclass(frozen=True)
class ArmStats:
    """Sufficient statistics of one arm (from the warehouse): n, Σx, Σx²."""

    n: int
    sum: float
    sum_sq: float

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        if self.n < 2:
            return 0.0
        return max(0.0, (self.sum_sq - self.sum * self.sum / self.n) / (self.n - 1))


@dataclass(frozen=True)
class Lift:
    treatment: float
    control: float
    diff: float
    low: float
    high: float
    n_treatment: int
    n_control: int

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


def lift(t: ArmStats, c: ArmStats, z: float = 1.96, *, binary: bool = True) -> Lift:
    """Difference of means with a 95% interval. For 0/1 outcomes the standard error uses Agresti–Caffo's
    adjustment (one success and one failure added per arm), so an arm with no conversions does not claim a
    zero variance; otherwise Welch's normal interval."""
    diff = t.mean - c.mean
    if binary:
        pt, pc = (t.sum + 1) / (t.n + 2), (c.sum + 1) / (c.n + 2)
        se = pt * (1 - pt) / (t.n + 2) + pc * (1 - pc) / (c.n + 2)
    else:
        se = (t.variance / t.n if t.n else 0.0) + (c.variance / c.n if c.n else 0.0)
    half = z * se ** 0.5 if t.n and c.n else float("inf")
    return Lift(t.mean, c.mean, diff, diff - half, diff + half, t.n, c.n)


def recommend(result: Lift, cost_fen: int, value_fen: float, min_n: int = 200) -> str:
    """keep / scale / stop for the biweekly review."""
    if result.n_treatment < min_n or result.n_control < min_n // 10:
        return "keep"  # too early to judge
    if result.high < 0 or (result.significant is False and value_fen < cost_fen):
        return "stop"
    if result.significant and value_fen > cost_fen:
        return "scale"
    return "keep"


def did(pilot_before: float, pilot_after: float, rest_before: float, rest_after: float) -> float:
    """Difference in differences: the pilot's change minus the not-yet branches' change."""
    return (pilot_after - pilot_before) - (rest_after - rest_before)


def add_working_days(start: dt.date, days: int) -> dt.date:
    d = start
    while days > 0:
        d += dt.timedelta(days=1)
        if d.weekday() < 5:
            days -= 1
    return d


def yuan(fen: int | float) -> Decimal:
    return (Decimal(int(round(fen))) / 100).quantize(Decimal("0.01"))
