"""The branch lead queue as a channel: a "send" creates a lead (商机) for the customer's branch and RM.
Idempotent by construction: the lead's (source, source_ref) is the send key, unique in the database."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from kequn.campaigns import tables as T
from kequn.channels.base import Capabilities, Message, Receipt, SendResult


class LeadQueue:
    name = "branch_lead"
    capabilities = Capabilities(receipts=False, lookup=True, idempotent=True, human=True)

    def __init__(self, engine: Any, directory: Any, *, sla_days: int = 2) -> None:
        self.engine = engine
        self.directory = directory
        self.sla_days = sla_days

    def send(self, messages: list[Message]) -> list[SendResult]:
        from kequn.campaigns import leads

        items = [{"source": "campaign", "source_ref": m.send_key, "campaign_id": m.campaign_id,
                  "customer_id": m.customer_id, "product": m.context.get("offer", ""),
                  "branch_id": m.context.get("branch_id")} for m in messages]
        if not messages:
            return []
        at = messages[0].context.get("at")
        now = dt.datetime.fromisoformat(at) if at else dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            ids = leads.create(conn, items, self.directory, now=now,
                               sla_days=int(messages[0].context.get("sla_days", self.sla_days)) if messages else 2)
        return [SendResult(m.send_key, True, provider_id=f"lead:{i}", delivered=True)
                for m, i in zip(messages, ids, strict=True)]

    def lookup(self, send_key: str) -> SendResult | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(T.lead.c.id).where(T.lead.c.source == "campaign",
                                                            T.lead.c.source_ref == send_key)).first()
        return None if row is None else SendResult(send_key, True, provider_id=f"lead:{row.id}", delivered=True)

    def receipts(self) -> list[Receipt]:
        return []
