"""HTTP channels: the SMS gateway, and app push / WeChat Work / AI outbound call / e-mail through the
bank's message middleware. The wire protocol (JSON):

- ``POST {base}/send``   {"send_key", "to", "text", "campaign"} → 200 {"id"}; 409 = already held (dedup);
  5xx / timeout = retry later; other 4xx = permanent failure.
- ``GET  {base}/status?send_key=K`` → 200 {"id", "status"} or 404 (never received).
- ``GET  {base}/receipts?after=N`` → 200 {"receipts": [{"seq", "send_key", "status", "at"}]}
  (status ``delivered`` / ``failed``), read from the last sequence number seen.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from kequn.channels.base import Capabilities, Message, Receipt, SendResult
from kequn.domain.campaigns import SMS_MAX_SEGMENTS


class HttpChannel:
    """One channel behind an HTTP gateway."""

    def __init__(self, name: str, base_url: str, *, capabilities: Capabilities | None = None,
                 timeout: float = 5.0) -> None:
        self.name = name
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.capabilities = capabilities or Capabilities(receipts=True, lookup=True, idempotent=True)
        self._after = 0

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - configured URL
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read() or b"null")
            except ValueError:
                payload = None
            return exc.code, payload

    def send(self, messages: list[Message]) -> list[SendResult]:
        return [self._send_one(m) for m in messages]

    def _send_one(self, m: Message) -> SendResult:
        if m.address is None:
            return SendResult(m.send_key, False, error="no address for this channel", retryable=False)
        try:
            code, body = self._call("POST", "/send", {"send_key": m.send_key, "to": m.address, "text": m.text,
                                                      "campaign": m.campaign_id})
        except (OSError, ValueError) as exc:  # refused, reset, timeout
            return SendResult(m.send_key, False, error=f"{type(exc).__name__}: {exc}", retryable=True)
        if code == 200:
            return SendResult(m.send_key, True, provider_id=str((body or {}).get("id")))
        if code == 409:  # the gateway already holds this key: it was sent before
            return SendResult(m.send_key, True, provider_id=str((body or {}).get("id")))
        return SendResult(m.send_key, False, error=f"gateway answered {code}", retryable=code >= 500 or code == 429)

    def lookup(self, send_key: str) -> SendResult | None:
        code, body = self._call("GET", "/status?" + urllib.parse.urlencode({"send_key": send_key}))
        if code == 404:
            return None
        if code != 200:
            raise OSError(f"{self.name} gateway status answered {code}")
        return SendResult(send_key, True, provider_id=str(body.get("id")))

    def receipts(self) -> list[Receipt]:
        code, body = self._call("GET", f"/receipts?after={self._after}")
        if code != 200:
            return []
        out = []
        for r in body.get("receipts", []):
            self._after = max(self._after, int(r["seq"]))
            at = dt.datetime.fromisoformat(r["at"]) if r.get("at") else dt.datetime.now(dt.UTC)
            out.append(Receipt(r["send_key"], r["status"] == "delivered", at, r.get("detail")))
        return out


def sms_gateway(base_url: str) -> HttpChannel:
    return HttpChannel("sms", base_url, capabilities=Capabilities(
        max_chars=67 * SMS_MAX_SEGMENTS, receipts=True, lookup=True, idempotent=True))


def app_push(base_url: str) -> HttpChannel:
    return HttpChannel("app_push", base_url, capabilities=Capabilities(max_chars=200, receipts=True, lookup=True,
                                                                       idempotent=True))


def wechat_work(base_url: str) -> HttpChannel:
    return HttpChannel("wechat_work", base_url, capabilities=Capabilities(max_chars=2000, receipts=True,
                                                                          lookup=True, idempotent=True, human=True))


def ai_call(base_url: str) -> HttpChannel:
    """AI outbound call tasks: the text is the call script; a receipt says whether the call connected."""
    return HttpChannel("call", base_url, capabilities=Capabilities(max_chars=500, receipts=True, lookup=True,
                                                                   idempotent=True))


def email(base_url: str) -> HttpChannel:
    return HttpChannel("email", base_url, capabilities=Capabilities(receipts=True, lookup=True, idempotent=True))


#: channel name -> factory(base_url). A third-party adapter registers the same way.
FACTORIES = (("sms", sms_gateway), ("app_push", app_push), ("wechat_work", wechat_work), ("call", ai_call),
             ("email", email))
