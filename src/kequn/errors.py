"""One error tree for the whole of Kequn.

Every error a user can cause is a :class:`KequnError` subclass that carries the exit code the CLI returns
and the HTTP status the API answers with. The CLI prints ``str(error)`` as one line (no traceback unless
``--debug``); the API renders ``{"error": code, "message": ..., "details": [...]}``.

``details`` holds every problem at once (a list of dicts, e.g. ``{"where": "customer.csv:12", "column":
"phone", "message": ...}``), so a user fixes all of them in one pass.
"""

from __future__ import annotations

from typing import Any, ClassVar


class KequnError(Exception):
    """Base of every error Kequn reports to a user."""

    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500
    code: ClassVar[str] = "kequn_error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[dict[str, Any]] = list(details or [])

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "details": self.details}


class ConfigError(KequnError):
    """Settings are missing, contradictory or unsafe (e.g. a default secret outside demo mode)."""

    exit_code = 3
    http_status = 500
    code = "config_error"


class ValidationError(KequnError):
    """Input is malformed: a file, a CLI argument or a request body."""

    exit_code = 2
    http_status = 422
    code = "validation_error"


class NotFoundError(KequnError):
    """A named thing (table, file, customer, tag, model, …) does not exist."""

    exit_code = 4
    http_status = 404
    code = "not_found"


class ConflictError(KequnError):
    """The request contradicts the current state (duplicate key, wrong status, stale version)."""

    exit_code = 5
    http_status = 409
    code = "conflict"


class PermissionDenied(KequnError):
    """The user may not do this (role, branch scope, missing approval)."""

    exit_code = 6
    http_status = 403
    code = "permission_denied"


class AuthenticationError(KequnError):
    """Not logged in, bad credentials, locked out."""

    exit_code = 6
    http_status = 401
    code = "authentication_error"


class LoadError(ValidationError):
    """A file or batch cannot be loaded at all (missing file, unknown table, bad header, encoding)."""

    code = "load_error"


class QualityGateFailed(KequnError):
    """A blocking data-quality rule failed."""

    exit_code = 1
    http_status = 409
    code = "quality_gate_failed"


class StoreError(KequnError):
    """A store (warehouse or ops store) cannot be reached or is not initialised."""

    exit_code = 7
    http_status = 503
    code = "store_error"


class SegmentError(ValidationError):
    """A segment rule does not parse or does not type-check; ``position`` points at the problem."""

    code = "segment_error"

    def __init__(self, message: str, *, position: int | None = None, **kw: Any) -> None:
        super().__init__(message if position is None else f"{message} (at position {position})", **kw)
        self.position = position
