"""The sandbox channel: contacts no one; the synthetic bank's response simulator answers (demo mode).

Delivery is the simulator's draw for the contact, so the receipts and the later observed responses
(:func:`kequn.campaigns.observe.observe_sandbox`) agree. Deterministic: the same contact gets the same answer.
A redeemed reward offer is posted to the rewards ledger when the responses are observed
(:func:`kequn.campaigns.observe.post_sandbox_redemptions`: idempotent, the campaign's budget pays).
"""

from __future__ import annotations

from typing import Any

from kequn.channels.base import Capabilities, Message, Receipt, SendResult


class SandboxChannel:
    capabilities = Capabilities(receipts=False, lookup=True, idempotent=True, sandbox=True)

    def __init__(self, simulator: Any, name: str = "sandbox") -> None:
        self.sim = simulator
        self.name = name
        self.sent: dict[str, SendResult] = {}

    def send(self, messages: list[Message]) -> list[SendResult]:
        import pandas as pd

        if not messages:
            return []
        frame = pd.DataFrame({"customer_id": [m.customer_id for m in messages],
                              "offer": [m.context["offer"] for m in messages],
                              "channel": [_sim_channel(m.channel) for m in messages],
                              "date": [m.context["date"] for m in messages], "arm": "treatment"})
        out = self.sim.respond(frame)
        results = []
        for m, delivered in zip(messages, out["delivered"].tolist(), strict=True):
            r = SendResult(m.send_key, True, provider_id=f"sandbox:{m.send_key}", delivered=bool(delivered))
            self.sent[m.send_key] = r
            results.append(r)
        return results

    def lookup(self, send_key: str) -> SendResult | None:
        return self.sent.get(send_key)

    def receipts(self) -> list[Receipt]:
        return []


def _sim_channel(channel: str) -> str:
    return "branch" if channel == "branch_lead" else channel
