"""The channel interface: values in, values out; one signature per step."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Capabilities:
    """What a channel can do; the outbox adapts to it."""

    max_chars: int | None = None  # longest message it accepts (None = no limit)
    receipts: bool = False  # reports delivery receipts after the send
    lookup: bool = False  # can say whether it already holds a send key (recovery after a crash)
    idempotent: bool = False  # the provider drops a repeated send key itself
    human: bool = False  # a person acts on it (calls, leads): capacity matters
    sandbox: bool = False  # answers from the response simulator, contacts no one


@dataclass(frozen=True)
class Message:
    send_key: str
    campaign_id: str
    customer_id: str
    channel: str
    text: str
    address: str | None  # phone / push token / e-mail / WeChat Work external id (never logged)
    context: dict  # branch_id, rm_id, offer, date, arm … (no personal data)


@dataclass(frozen=True)
class SendResult:
    send_key: str
    ok: bool
    provider_id: str | None = None
    error: str | None = None
    retryable: bool = True
    delivered: bool | None = None  # known at once (sandbox, lead queue)


@dataclass(frozen=True)
class Receipt:
    send_key: str
    delivered: bool
    at: dt.datetime
    detail: str | None = None


@runtime_checkable
class Channel(Protocol):
    name: str
    capabilities: Capabilities

    def send(self, messages: list[Message]) -> list[SendResult]: ...

    def lookup(self, send_key: str) -> SendResult | None: ...

    def receipts(self) -> list[Receipt]: ...
