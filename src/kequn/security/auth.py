"""Authentication primitives: who is calling (:class:`Principal`), opaque session and API tokens (only
their keyed hashes are stored), CSRF tokens, the lock-out policy and an in-memory login rate limiter.

Storage of users, sessions and tokens lives in :mod:`kequn.services.users`; this module is pure.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from kequn.errors import AuthenticationError, ConfigError
from kequn.security.roles import BRANCH_ROLES, permissions_of

SESSION_COOKIE = "kequn_session"
LOGIN_CSRF_COOKIE = "kequn_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
TOKEN_PREFIX = "kq_"

SESSION_IDLE_MINUTES = 30
SESSION_MAX_HOURS = 10
LOCKOUT_FAILURES = 5  # consecutive failures …
LOCKOUT_MINUTES = 15  # … lock the account this long
LOGIN_RATE = (10, 60.0)  # at most 10 login attempts per client address per 60 s

#: a well-known secret any attacker can read; refused outside demo mode
DEMO_SECRET_MARKERS = ("demo", "changeme", "secret", "kequn")


class RateLimited(AuthenticationError):
    """Too many attempts from one client in a short time."""

    http_status = 429
    code = "rate_limited"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    username: str
    role: str
    branch_id: str | None
    via: str = "session"  # session | token | sso
    session_id: str | None = None
    csrf_token: str | None = None
    permissions: frozenset[str] = field(default=frozenset())

    @classmethod
    def of(cls, username: str, role: str, branch_id: str | None, **kw: object) -> Principal:
        return cls(username, role, branch_id, permissions=permissions_of(role), **kw)  # type: ignore[arg-type]

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def branch_bound(self) -> bool:
        return self.role in BRANCH_ROLES or self.branch_id is not None


def new_token(prefix: str = "") -> str:
    """A fresh opaque token (256 bits of randomness)."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(secret_key: str, token: str) -> str:
    """The keyed hash stored instead of a session or API token (a stolen table is useless alone)."""
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two optional strings."""
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


def check_secret(secret_key: str, *, demo: bool) -> str:
    """The secret to use: refuses to start without a strong one outside demo mode (ConfigError)."""
    if demo and not secret_key:
        return secrets.token_urlsafe(32)  # per-process; sessions end on restart
    problems = []
    if not secret_key:
        problems.append("KEQUN_SECRET_KEY is empty")
    elif len(secret_key) < 32:
        problems.append("KEQUN_SECRET_KEY is shorter than 32 characters")
    elif any(m in secret_key.lower() for m in DEMO_SECRET_MARKERS) and not demo:
        problems.append("KEQUN_SECRET_KEY looks like a default (contains 'demo', 'secret', 'changeme' or 'kequn')")
    if problems and not demo:
        raise ConfigError("refusing to start outside demo mode: " + "; ".join(problems)
                          + " (set a random 32+ character secret, e.g. `python -c 'import secrets;"
                          " print(secrets.token_urlsafe(32))'`)")
    return secret_key


class RateLimiter:
    """A sliding-window counter per key (client address), thread-safe, in memory."""

    def __init__(self, limit: int = LOGIN_RATE[0], window_s: float = LOGIN_RATE[1]) -> None:
        self.limit, self.window_s = limit, window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> None:
        """Count one attempt; raises RateLimited when the key is over its limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                raise RateLimited(f"too many login attempts from {key}: at most {self.limit} per "
                                  f"{int(self.window_s)} s, try again shortly")
            q.append(now)
