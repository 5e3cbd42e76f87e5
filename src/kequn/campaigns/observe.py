"""Responses (conversions) per assigned customer, for both arms, in the campaign's window.

Each kind of conversion is stored in ``campaign_response`` under its own ``source``, one row per eligible
assigned customer of BOTH arms, counted the same way for treatment and control:

- ``sandbox``: in demo mode the response simulator answers — a treated customer is one whose contact was
  actually sent; everyone else eligible (control, and treatment not reached) responds as uncontacted.
  Intention to treat: the review compares the arms as assigned. A redeemed reward offer is posted to the
  rewards ledger (:func:`post_sandbox_redemptions`: idempotent, the campaign's budget pays the cost).
- ``product_opened``: an account of the product category opened in the window (warehouse ``account`` ⋈
  ``product``).
- ``reward_redeemed``: a redemption (not reversed) of the reward (or a reward of the category) in the window,
  from the rewards ledger's ``redemption`` table in the ops store.
- ``aum_up``: AUM at the window's end minus AUM at launch ≥ the threshold. AUM = month-end balances of
  deposit, time-deposit and wealth accounts (``balance_monthly``); "at launch" is the latest month-end on or
  before the launch day, "at the window's end" the latest month-end on or before the window's last day. When
  no month-end falls inside the window yet, AUM-up is not measurable (skipped with the reason).

The window is [launch day 00:00, launch day + ``window_days`` 00:00) in bank local time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kequn.campaigns import tables as T
from kequn.campaigns.writer import _bulk
from kequn.domain.campaigns import AUM_KINDS, AumUp, CampaignSpec, ProductOpened, RewardRedeemed
from kequn.errors import ConflictError, NotFoundError, ValidationError

RESPONSE_COLUMNS = ["run_id", "campaign_id", "customer_id", "arm", "converted", "redeemed", "amount", "source",
                    "observed_at"]


def _eligible(engine: Any, run_id: str) -> tuple[str, list[tuple[str, str]], set[str]]:
    with engine.connect() as conn:
        cid = conn.execute(sa.select(T.campaign_run.c.campaign_id).where(T.campaign_run.c.run_id == run_id)).scalar()
        if cid is None:
            raise NotFoundError(f"campaign run {run_id!r} does not exist")
        rows = conn.execute(sa.select(T.assignment.c.customer_id, T.assignment.c.arm).where(
            T.assignment.c.run_id == run_id, T.assignment.c.eligible == 1,
            T.assignment.c.arm.in_(("treatment", "control")))).all()
        sent = {r[0] for r in conn.execute(sa.select(T.outbox.c.customer_id).where(
            T.outbox.c.run_id == run_id, T.outbox.c.status.in_(("sent", "delivered", "failed"))))}
    return cid, [(r[0], r[1]) for r in rows], sent


def _store(engine: Any, run_id: str, source: str, data: list[tuple[Any, ...]]) -> None:
    """Replace the run's rows of one source (a re-observation overwrites, never adds)."""
    with engine.begin() as conn:
        conn.execute(T.response.delete().where(T.response.c.run_id == run_id, T.response.c.source == source))
        _bulk(conn, T.response, RESPONSE_COLUMNS, data)


def window(start: dt.date, days: int, tz: str = "Asia/Shanghai") -> tuple[dt.datetime, dt.datetime]:
    """[start 00:00, start + days 00:00) local, as aware UTC times."""
    zone = ZoneInfo(tz)
    lo = dt.datetime.combine(start, dt.time(0), zone).astimezone(dt.UTC)
    hi = dt.datetime.combine(start + dt.timedelta(days=days), dt.time(0), zone).astimezone(dt.UTC)
    return lo, hi


# ------------------------------------------------------------------------------------------- sandbox
def observe_sandbox(engine: Any, simulator: Any, run_id: str, day: dt.date, offer: str, channel: str, *,
                    spec: CampaignSpec | None = None, tz: str = "Asia/Shanghai") -> dict[str, Any]:
    """Draw each eligible customer's response from the simulator and store it (replacing earlier draws).
    With ``spec`` and a reward offer, the redemptions go to the rewards ledger (the campaign's budget pays)
    and the ``reward_redeemed`` conversions are then counted from the ledger."""
    import pandas as pd

    cid, rows, sent = _eligible(engine, run_id)
    frame = pd.DataFrame({"customer_id": [c for c, _ in rows], "offer": offer,
                          "channel": "branch" if channel == "branch_lead" else channel, "date": day.isoformat(),
                          "arm": ["treatment" if c in sent else "control" for c, _ in rows]})
    out = simulator.respond(frame)
    now = dt.datetime.now(dt.UTC)
    data = [(run_id, cid, c, arm, int(cv), int(rd), float(am), "sandbox", now)
            for (c, arm), cv, rd, am in zip(rows, out["converted"], out["redeemed"], out["amount"], strict=True)]
    _store(engine, run_id, "sandbox", data)
    exp = simulator.expected(frame)
    exp["assigned"] = [a for _, a in rows]
    means = exp.groupby("assigned")["p_converted"].mean().to_dict()
    truth = {"arms": {k: float(v) for k, v in means.items()},
             "itt_lift": float(means.get("treatment", 0.0) - means.get("control", 0.0))}
    res: dict[str, Any] = {"run_id": run_id, "observed": len(data), "converted": int(out["converted"].sum()),
                           "truth": truth}
    if spec is not None and spec.offer.kind == "reward":
        res["ledger"] = post_sandbox_redemptions(engine, run_id, spec, day, tz=tz)
        kinds = [c for c in spec.conversion_kinds() if isinstance(c, RewardRedeemed)]
        if kinds:
            res["reward_redeemed"] = observe_redeemed(engine, run_id, kinds[0], day, spec.window_days, tz=tz)
    return res


def offer_reward(engine: Any, spec: CampaignSpec) -> str | None:
    """The catalogue reward a redeemed offer gives: the offer's ``reward_id``, else the first active
    catalogue reward of the offer's category (by reward id); None when there is none."""
    from kequn.rewards.tables import reward

    if spec.offer.reward_id:
        return spec.offer.reward_id
    if not sa.inspect(engine).has_table("reward"):
        return None
    with engine.connect() as conn:
        return conn.execute(sa.select(reward.c.reward_id).where(reward.c.category == spec.offer.code,
                                                                reward.c.active == 1)
                            .order_by(reward.c.reward_id).limit(1)).scalar()


def post_sandbox_redemptions(engine: Any, run_id: str, spec: CampaignSpec, day: dt.date, *,
                             tz: str = "Asia/Shanghai") -> dict[str, Any]:
    """Every sandbox response that redeemed the reward offer becomes a redemption in the rewards ledger
    through its API (:func:`kequn.rewards.catalogue.grant`): one unit of stock, the reward's cost paid from
    the campaign's money budget to ``reward_cost``. Idempotent per (run, customer): observing again posts
    nothing twice. A redemption the budget (or the stock) cannot pay is refused, its response's ``redeemed``
    set back to 0 (the customer could not redeem) and counted with the reason."""
    from kequn.rewards.catalogue import grant
    from kequn.rewards.ledger import InsufficientBalance, Ledger

    with engine.connect() as conn:
        who = [r[0] for r in conn.execute(sa.select(T.response.c.customer_id).where(
            T.response.c.run_id == run_id, T.response.c.source == "sandbox", T.response.c.redeemed == 1,
            T.response.c.arm == "treatment").order_by(T.response.c.customer_id))]
    out: dict[str, Any] = {"redeemed": len(who), "posted": 0, "replayed": 0, "refused": {}}
    if not who:
        return out
    reward_id = offer_reward(engine, spec)
    if reward_id is None:
        out["refused"] = {"no_catalogue_reward": len(who)}
        return out
    out["reward_id"] = reward_id
    at = dt.datetime.combine(day, dt.time(12), ZoneInfo(tz)).astimezone(dt.UTC)  # noon on the send day
    ledger = Ledger(engine, clock=lambda: at)
    refused: list[str] = []
    for cust in who:
        try:
            res = grant(ledger, f"campaign-offer|{run_id}|{cust}", cust, reward_id, budget_campaign=spec.campaign_id,
                        actor="sandbox")
        except InsufficientBalance:
            reason = "budget_exhausted"
        except (ConflictError, NotFoundError) as exc:
            reason = "out_of_stock" if "out of stock" in str(exc) else "reward_unavailable"
        else:
            out["replayed" if res.replayed else "posted"] += 1
            continue
        out["refused"][reason] = out["refused"].get(reason, 0) + 1
        refused.append(cust)
    if refused:
        with engine.begin() as conn:
            conn.execute(T.response.update().where(T.response.c.run_id == run_id, T.response.c.source == "sandbox",
                                                   T.response.c.customer_id.in_(refused)).values(redeemed=0))
    return out


# ------------------------------------------------------------------------------------------- bank data
def observe_conversions(wh: Any, engine: Any, run_id: str, spec: CampaignSpec, start: dt.date, *,
                        tz: str = "Asia/Shanghai") -> dict[str, Any]:
    """Count every conversion kind of the spec from the bank's data; {kind: {observed, converted} or
    {skipped: reason}}."""
    out: dict[str, Any] = {}
    for conv in spec.conversion_kinds():
        try:
            if isinstance(conv, ProductOpened):
                out[conv.kind] = observe_products(wh, engine, run_id, start, spec.window_days, conv.category or "")
            elif isinstance(conv, RewardRedeemed):
                out[conv.kind] = observe_redeemed(engine, run_id, conv, start, spec.window_days, tz=tz)
            elif isinstance(conv, AumUp):
                out[conv.kind] = observe_aum(wh, engine, run_id, conv, start, spec.window_days)
        except ValidationError as exc:
            out[conv.kind] = {"skipped": str(exc)}
    return out


def _write_flags(engine: Any, run_id: str, source: str, converted: set[str]) -> dict[str, Any]:
    cid, rows, _sent = _eligible(engine, run_id)
    now = dt.datetime.now(dt.UTC)
    data = [(run_id, cid, c, arm, int(c in converted), int(source == "reward_redeemed" and c in converted), 0.0,
             source, now) for c, arm in rows]
    _store(engine, run_id, source, data)
    return {"observed": len(data), "converted": sum(r[4] for r in data)}


def observe_products(wh: Any, engine: Any, run_id: str, start: dt.date, window_days: int, category: str) -> dict[str, Any]:
    """``product_opened``: an account of ``category`` opened in [start, start + window)."""
    import ibis

    acc, prod = wh.table("account"), wh.table("product")
    j = acc.inner_join(prod, acc.product_id == prod.product_id)
    j = j.filter(j.category == category, j.opened_on >= ibis.date(start),
                 j.opened_on < ibis.date(start + dt.timedelta(days=window_days)), j.customer_id.notnull())
    converted = set(j.select("customer_id").distinct().to_pyarrow().column("customer_id").to_pylist())
    return _write_flags(engine, run_id, "product_opened", converted)


def observe_warehouse(wh: Any, engine: Any, run_id: str, start: dt.date, window_days: int, category: str) -> int:
    """Product openings of ``category`` in the window (kept for callers of the first version)."""
    return int(observe_products(wh, engine, run_id, start, window_days, category)["observed"])


def observe_redeemed(engine: Any, run_id: str, conv: RewardRedeemed, start: dt.date, window_days: int, *,
                     tz: str = "Asia/Shanghai") -> dict[str, Any]:
    """``reward_redeemed``: the assigned customers with a redemption (status ``redeemed``, i.e. not reversed)
    of the reward — or of any reward of the category — created in the window, from the ledger's tables."""
    from kequn.rewards.tables import redemption, reward

    if conv.reward_id is None and conv.category is None:
        raise ValidationError("reward_redeemed needs a reward_id or a category")
    converted: set[str] = set()
    if sa.inspect(engine).has_table("redemption"):
        lo, hi = window(start, window_days, tz)
        a = T.assignment
        which = (redemption.c.reward_id == conv.reward_id) if conv.reward_id else (reward.c.category == conv.category)
        q = (sa.select(redemption.c.owner_id).distinct()
             .select_from(redemption.join(reward, reward.c.reward_id == redemption.c.reward_id)
                          .join(a, sa.and_(a.c.customer_id == redemption.c.owner_id, a.c.run_id == run_id)))
             .where(redemption.c.status == "redeemed", redemption.c.created_at >= lo, redemption.c.created_at < hi,
                    which))
        with engine.connect() as conn:
            converted = {r[0] for r in conn.execute(q)}
    return _write_flags(engine, run_id, "reward_redeemed", converted)


def _month_end_on_or_before(bal: Any, day: dt.date) -> dt.date | None:
    import ibis

    v = bal.filter(bal.month_end <= ibis.date(day)).month_end.max().execute()
    if v is None or str(v) in ("NaT", "nan"):
        return None
    return v.date() if isinstance(v, dt.datetime) else (v.to_pydatetime().date() if hasattr(v, "to_pydatetime") else v)


def aum_months(wh: Any, start: dt.date, window_days: int) -> tuple[dt.date | None, dt.date | None]:
    """(month-end at launch, month-end at the window's end) used for AUM-up."""
    bal = wh.table("balance_monthly")
    return (_month_end_on_or_before(bal, start),
            _month_end_on_or_before(bal, start + dt.timedelta(days=window_days - 1)))


def observe_aum(wh: Any, engine: Any, run_id: str, conv: AumUp, start: dt.date, window_days: int) -> dict[str, Any]:
    """``aum_up``: AUM at the window's end − AUM at launch ≥ ``min_increase_fen`` (one Ibis expression)."""
    import ibis

    m0, m1 = aum_months(wh, start, window_days)
    if m1 is None or (m0 is not None and m1 <= m0):
        raise ValidationError(f"aum_up: no month-end balance inside the window {start} + {window_days} days yet "
                              f"(latest on or before its end: {m1}); AUM-up is measured once one is loaded")
    acc = wh.table("account")
    acc = acc.filter(acc.kind.isin(AUM_KINDS) & acc.customer_id.notnull()).select("account_id", "customer_id")
    bal = wh.table("balance_monthly")
    months = [m for m in (m0, m1) if m is not None]
    bal = bal.filter(bal.month_end.isin([ibis.date(m) for m in months]))
    j = acc.join(bal, "account_id")
    zero = ibis.literal(0).cast(j.balance.type())
    at0 = (j.month_end == ibis.date(m0)).ifelse(j.balance, zero) if m0 is not None else zero
    at1 = (j.month_end == ibis.date(m1)).ifelse(j.balance, zero)
    per = j.group_by("customer_id").aggregate(a0=at0.sum(), a1=at1.sum())
    threshold = conv.min_increase_fen / 100
    up = per.filter((per.a1 - per.a0).cast("float64") >= threshold).select("customer_id")
    converted = set(up.to_pyarrow().column("customer_id").to_pylist())
    res = _write_flags(engine, run_id, "aum_up", converted)
    return {**res, "month_end_at_launch": m0.isoformat() if m0 else None, "month_end_at_window_end": m1.isoformat()}
