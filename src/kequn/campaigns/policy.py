"""The contact policy, vectorised: one Ibis expression over the whole audience.

It computes, per customer, the arm (sticky hash), the chosen channel and — when refused — the reason, in
exactly the order of :func:`kequn.domain.campaigns.decide` / :func:`choose` (a property test compares the
two on random customers). Facts come from the warehouse (``consent``: the latest record per customer,
purpose and channel at the moment of sending) and from the ops store (opt-outs, which act at once, and the
contacts already made or queued in the cap window, across all campaigns), joined in the warehouse engine.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import sqlalchemy as sa

from kequn.campaigns import tables as T
from kequn.domain.campaigns import (
    CONSENT_CHANNEL,
    STRICT_OPT_IN,
    CampaignSpec,
    PolicyConfig,
    threshold,
)

CONSENT_CHANNELS = ("sms", "app_push", "wechat_work", "call", "email", "any")


def _local_naive(at: dt.datetime, cfg: PolicyConfig) -> dt.datetime:
    return at.astimezone(ZoneInfo(cfg.timezone)).replace(tzinfo=None)


def consent_flags(wh: Any, at: dt.datetime, cfg: PolicyConfig) -> Any:
    """One row per customer with a consent record: c_<channel> = 1 granted / 0 withdrawn / NULL none (marketing),
    and no_pers = the customer withdrew personalised marketing."""
    t = wh.table("consent")
    t = t.filter(t.effective_at <= _local_naive(at, cfg))
    latest = t.group_by(["customer_id", "purpose", "channel"]).aggregate(
        granted=(t.status == "granted").cast("int8").argmax(t.effective_at))
    cols = {f"c_{ch}": ibis.cases(((latest.purpose == "marketing") & (latest.channel == ch), latest.granted),
                                  else_=ibis.null("int8")).max() for ch in CONSENT_CHANNELS}
    cols["no_pers"] = ibis.cases(((latest.purpose == "personalisation") & (latest.granted == 0), 1),
                                 else_=0).max()
    return latest.group_by("customer_id").aggregate(**cols)


def _ops_facts(engine: Any, spec: CampaignSpec, now: dt.datetime, cfg: PolicyConfig) -> tuple[Any, Any, Any]:
    """(opt-outs, recent contacts per channel, competing pending contacts) as small arrow-backed tables."""
    import pyarrow as pa

    since = now - dt.timedelta(days=cfg.window_days)
    with engine.connect() as conn:
        opt = conn.execute(sa.select(T.opt_out.c.customer_id, T.opt_out.c.channel).distinct()).all()
        recent = conn.execute(
            sa.select(T.outbox.c.customer_id, T.outbox.c.channel, sa.func.count().label("n"))
            .where(T.outbox.c.created_at >= since, T.outbox.c.transactional == 0,
                   T.outbox.c.status.in_(("pending", "sending", "sent", "delivered")))
            .group_by(T.outbox.c.customer_id, T.outbox.c.channel)).all()
        pend = conn.execute(
            sa.select(T.outbox.c.customer_id, T.outbox.c.campaign_id).distinct()
            .where(T.outbox.c.status == "pending", T.outbox.c.campaign_id != spec.campaign_id)).all()
        ranks = {r.campaign_id: _rank_of(json.loads(r.spec)) for r in conn.execute(
            sa.select(T.campaign.c.campaign_id, T.campaign.c.spec)).all()}
    opt_t = ibis.memtable(pa.table({"customer_id": pa.array([r[0] for r in opt], pa.string()),
                                    "channel": pa.array([r[1] for r in opt], pa.string())}))
    rec_t = ibis.memtable(pa.table({"customer_id": pa.array([r[0] for r in recent], pa.string()),
                                    "channel": pa.array([r[1] for r in recent], pa.string()),
                                    "n": pa.array([int(r[2]) for r in recent], pa.int64())}))
    best: dict[str, int] = {}
    for cust, camp in pend:
        best[cust] = max(best.get(cust, -(2**62)), ranks.get(camp, 0))
    comp_t = ibis.memtable(pa.table({"customer_id": pa.array(list(best), pa.string()),
                                     "rival_rank": pa.array(list(best.values()), pa.int64())}))
    return opt_t, rec_t, comp_t


def _rank_of(spec: dict[str, Any]) -> int:
    return int(spec.get("priority", 0)) * 10**12 + int(spec.get("offer", {}).get("expected_value_fen", 0))


def rank(spec: CampaignSpec) -> int:
    return spec.priority * 10**12 + spec.offer.expected_value_fen


def _pivot(t: Any, value: Any, channels: tuple[str, ...], prefix: str) -> Any:
    return t.group_by("customer_id").aggregate(
        **{f"{prefix}{ch}": ibis.cases((t.channel == ch, value), else_=0).max() for ch in channels})


def plan(wh: Any, engine: Any, spec: CampaignSpec, audience: Any, *, now: dt.datetime,
         cfg: PolicyConfig) -> Any:
    """The audience with arm, channel (NULL when refused) and reason — an Ibis table."""
    channels = tuple(c.channel for c in spec.channels)
    opt_t, rec_t, comp_t = _ops_facts(engine, spec, now, cfg)
    opt_p = _pivot(opt_t, ibis.literal(1), (*channels, "any"), "o_")
    rec_p = _pivot(rec_t, rec_t.n, channels, "n_")
    a = audience
    a = a.left_join(consent_flags(wh, now, cfg), "customer_id").drop("customer_id_right")
    a = a.left_join(opt_p, "customer_id").drop("customer_id_right")
    a = a.left_join(rec_p, "customer_id").drop("customer_id_right")
    a = a.left_join(comp_t, "customer_id").drop("customer_id_right")
    hold = (ibis.literal("holdout|") + a.customer_id).hexdigest("md5").substr(0, 8)
    ctrl = (ibis.literal(f"{spec.campaign_id}|") + a.customer_id).hexdigest("md5").substr(0, 8)
    arm = ibis.cases(
        (ibis.literal(spec.holdout_share > 0) & (hold < threshold(spec.holdout_share)), "holdout"),
        (ibis.literal(spec.control_share > 0) & (ctrl < threshold(spec.control_share)), "control"),
        else_="treatment")
    reasons = {ch: _reason(a, ch, spec, cfg) for ch in channels}
    chosen = ibis.cases(*[(reasons[ch].isnull(), ch) for ch in channels], else_=ibis.null("string"))
    first = reasons[channels[0]]
    lost = a.rival_rank.notnull() & (a.rival_rank > rank(spec))
    reason = ibis.cases((chosen.isnull(), first), (lost, "arbitration_lost"), else_=ibis.null("string"))
    out = a.mutate(arm=arm, channel=chosen, reason=reason)
    out = out.mutate(channel=ibis.cases((out.reason.isnull(), out.channel), else_=ibis.null("string")))
    # sorted by customer: the ops store's keys (run, customer) are then inserted in order (B-tree locality)
    return out.select("customer_id", "branch_id", "arm", "channel", "reason").order_by("customer_id")


def _reason(a: Any, ch: str, spec: CampaignSpec, cfg: PolicyConfig) -> Any:
    if spec.transactional:
        return ibis.null("string")
    cch = CONSENT_CHANNEL[ch]
    own = a[f"c_{cch}"]
    consent = (own.fill_null(0) == 1) if cch in STRICT_OPT_IN else ibis.ifelse(
        own.notnull(), own == 1, a.c_any.fill_null(0) == 1)
    opted = (a[f"o_{ch}"].fill_null(0) == 1) | (a["o_any"].fill_null(0) == 1)
    capped = a[f"n_{ch}"].fill_null(0) >= cfg.caps.get(ch, 0)
    return ibis.cases(
        (opted, "opted_out"), (~consent, "no_consent"),
        (ibis.literal(spec.personalised) & (a.no_pers.fill_null(0) == 1), "no_personalisation"),
        (capped, "frequency_cap"), else_=ibis.null("string"))
