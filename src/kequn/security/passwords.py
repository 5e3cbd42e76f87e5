"""Password hashing with Argon2id (argon2-cffi's defaults: RFC 9106 low-memory profile)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

MIN_LENGTH = 10


@lru_cache(maxsize=1)
def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (refuses passwords too short to be safe)."""
    from kequn.errors import ValidationError

    problems = password_problems(password)
    if problems:
        raise ValidationError("password too weak: " + "; ".join(problems))
    return str(_hasher().hash(password))


def password_problems(password: str) -> list[str]:
    out = []
    if len(password) < MIN_LENGTH:
        out.append(f"at least {MIN_LENGTH} characters")
    if password.isdigit() or password.isalpha():
        out.append("mix letters with digits or symbols")
    return out


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash (SSO-only user) never matches."""
    from argon2.exceptions import InvalidHashError, VerificationError

    if not stored_hash:
        _hasher().hash("timing-equaliser-0")  # same cost whether or not the user exists
        return False
    try:
        return bool(_hasher().verify(stored_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return bool(_hasher().check_needs_rehash(stored_hash))
