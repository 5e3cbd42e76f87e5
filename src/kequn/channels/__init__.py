"""Channel adapters (渠道): SMS gateway (HTTP), app push, WeChat Work (企业微信), AI outbound call tasks,
e-mail, the branch lead queue (商机) and the sandbox (the synthetic bank's response simulator).

Each adapter is a small class with capability flags (:class:`Capabilities`) and ``send(messages)``; the
outbox (:mod:`kequn.campaigns.sender`) gives idempotency (a send key per message that the provider also
sees), retries with backoff, and delivery receipts. Built-in adapters register exactly like a third-party
one would: a factory in :data:`FACTORIES`.
"""

from __future__ import annotations

from kequn.channels.base import Capabilities, Channel, Message, Receipt, SendResult

__all__ = ["Capabilities", "Channel", "Message", "Receipt", "SendResult"]
