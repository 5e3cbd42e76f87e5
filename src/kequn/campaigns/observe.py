"""Responses (conversions) per assigned customer, for both arms, in the campaign's window.

- ``observe_sandbox``: in demo mode the response simulator answers — a treated customer is one whose
  contact was actually sent; everyone else eligible (control, and treatment not reached) responds as
  uncontacted. Intention to treat: the review compares the arms as assigned.
- ``observe_warehouse``: conversions from the bank's own data — a product offer converts when the customer
  opens an account of that product category in the window (an Ibis join over ``account`` and ``product``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from kequn.campaigns import tables as T
from kequn.campaigns.writer import _bulk


def _eligible(engine: Any, run_id: str) -> tuple[str, list[tuple[str, str]], set[str]]:
    with engine.connect() as conn:
        cid = conn.execute(sa.select(T.campaign_run.c.campaign_id).where(T.campaign_run.c.run_id == run_id)).scalar_one()
        rows = conn.execute(sa.select(T.assignment.c.customer_id, T.assignment.c.arm).where(
            T.assignment.c.run_id == run_id, T.assignment.c.eligible == 1,
            T.assignment.c.arm.in_(("treatment", "control")))).all()
        sent = {r[0] for r in conn.execute(sa.select(T.outbox.c.customer_id).where(
            T.outbox.c.run_id == run_id, T.outbox.c.status.in_(("sent", "delivered", "failed"))))}
    return cid, [(r[0], r[1]) for r in rows], sent


def observe_sandbox(engine: Any, simulator: Any, run_id: str, day: dt.date, offer: str, channel: str) -> dict[str, Any]:
    """Draw each eligible customer's response from the simulator and store it (replacing earlier draws)."""
    import pandas as pd

    cid, rows, sent = _eligible(engine, run_id)
    frame = pd.DataFrame({"customer_id": [c for c, _ in rows], "offer": offer,
                          "channel": "branch" if channel == "branch_lead" else channel, "date": day.isoformat(),
                          "arm": ["treatment" if c in sent else "control" for c, _ in rows]})
    out = simulator.respond(frame)
    now = dt.datetime.now(dt.UTC)
    data = [(run_id, cid, c, arm, int(cv), int(rd), float(am), "sandbox", now)
            for (c, arm), cv, rd, am in zip(rows, out["converted"], out["redeemed"], out["amount"], strict=True)]
    with engine.begin() as conn:
        conn.execute(T.response.delete().where(T.response.c.run_id == run_id, T.response.c.source == "sandbox"))
        _bulk(conn, T.response, ["run_id", "campaign_id", "customer_id", "arm", "converted", "redeemed", "amount",
                                 "source", "observed_at"], data)
    exp = simulator.expected(frame)
    exp["assigned"] = [a for _, a in rows]
    means = exp.groupby("assigned")["p_converted"].mean().to_dict()
    truth = {"arms": {k: float(v) for k, v in means.items()},
             "itt_lift": float(means.get("treatment", 0.0) - means.get("control", 0.0))}
    return {"run_id": run_id, "observed": len(data), "converted": int(out["converted"].sum()), "truth": truth}


def observe_warehouse(wh: Any, engine: Any, run_id: str, start: dt.date, window_days: int, category: str) -> int:
    """Conversions from account openings of the offered product category in [start, start + window)."""
    import ibis

    cid, rows, _sent = _eligible(engine, run_id)
    acc, prod = wh.table("account"), wh.table("product")
    j = acc.inner_join(prod, acc.product_id == prod.product_id)
    j = j.filter(j.category == category, j.opened_on >= ibis.date(start),
                 j.opened_on < ibis.date(start + dt.timedelta(days=window_days)), j.customer_id.notnull())
    converted = set(j.select("customer_id").distinct().to_pyarrow().column("customer_id").to_pylist())
    now = dt.datetime.now(dt.UTC)
    data = [(run_id, cid, c, arm, int(c in converted), 0, 0.0, "warehouse", now) for c, arm in rows]
    with engine.begin() as conn:
        conn.execute(T.response.delete().where(T.response.c.run_id == run_id, T.response.c.source == "warehouse"))
        _bulk(conn, T.response, ["run_id", "campaign_id", "customer_id", "arm", "converted", "redeemed", "amount",
                                 "source", "observed_at"], data)
    return len(data)
