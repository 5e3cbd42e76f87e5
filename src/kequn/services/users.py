"""Console users, sessions, API tokens and lock-out, stored in the ops store (tables from migration
``0005_console_auth``). Every user, role and token change is written to the audit log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from kequn.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from kequn.security import auth
from kequn.security.passwords import hash_password, verify_password
from kequn.security.roles import BRANCH_ROLES, ROLES, permissions_of

_md = sa.MetaData()
console_user = sa.Table(
    "console_user", _md,
    sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("username", sa.String),
    sa.Column("display_name", sa.String), sa.Column("password_hash", sa.String), sa.Column("role", sa.String),
    sa.Column("branch_id", sa.String), sa.Column("active", sa.Boolean), sa.Column("sso_subject", sa.String),
    sa.Column("failed_logins", sa.Integer), sa.Column("locked_until", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True)), sa.Column("updated_at", sa.DateTime(timezone=True)),
)
user_session = sa.Table(
    "user_session", _md,
    sa.Column("token_hash", sa.String, primary_key=True), sa.Column("user_id", sa.BigInteger),
    sa.Column("csrf_token", sa.String), sa.Column("via", sa.String),
    sa.Column("created_at", sa.DateTime(timezone=True)), sa.Column("last_seen", sa.DateTime(timezone=True)),
    sa.Column("expires_at", sa.DateTime(timezone=True)), sa.Column("revoked", sa.Boolean),
)
api_token = sa.Table(
    "api_token", _md,
    sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("name", sa.String),
    sa.Column("token_hash", sa.String), sa.Column("user_id", sa.BigInteger), sa.Column("created_by", sa.String),
    sa.Column("created_at", sa.DateTime(timezone=True)), sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("last_used_at", sa.DateTime(timezone=True)), sa.Column("revoked_at", sa.DateTime(timezone=True)),
)
login_attempt = sa.Table(
    "login_attempt", _md,
    sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("username", sa.String),
    sa.Column("client", sa.String), sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("success", sa.Boolean), sa.Column("reason", sa.String),
)


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str | None
    role: str
    branch_id: str | None
    active: bool
    locked_until: dt.datetime | None
    sso_subject: str | None

    def principal(self, **kw: Any) -> auth.Principal:
        return auth.Principal.of(self.username, self.role, self.branch_id, **kw)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    if t is None:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)  # SQLite drops the zone


def _user(row: Any) -> User:
    return User(row.id, row.username, row.display_name, row.role, row.branch_id, bool(row.active),
                _aware(row.locked_until), row.sso_subject)


def _audit(conn: Any, actor: str, action: str, target: str, details: dict[str, Any] | None = None,
           reason: str | None = None) -> None:
    from kequn.opstore import audit

    audit.record(conn, actor, action, target, reason=reason, details=details)


def _check_role(role: str, branch_id: str | None) -> None:
    permissions_of(role)
    if role in BRANCH_ROLES and not branch_id:
        raise ValidationError(f"role {role} needs a branch: branch roles see only their branch's customers")


def get_user(engine: Engine, username: str) -> User:
    with engine.connect() as conn:
        row = conn.execute(sa.select(console_user).where(console_user.c.username == username)).first()
    if row is None:
        raise NotFoundError(f"user {username!r} does not exist")
    return _user(row)


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        return [_user(r) for r in conn.execute(sa.select(console_user).order_by(console_user.c.username))]


def create_user(engine: Engine, username: str, role: str, *, password: str | None = None,
                branch_id: str | None = None, display_name: str | None = None,
                sso_subject: str | None = None, actor: str = "system") -> User:
    """Create a console user (audited). ``password=None`` makes an SSO-only account."""
    username = username.strip()
    if not username or len(username) > 128:
        raise ValidationError("username must be 1–128 characters")
    _check_role(role, branch_id)
    pw_hash = hash_password(password) if password is not None else None
    with engine.begin() as conn:
        if conn.execute(sa.select(console_user.c.id).where(console_user.c.username == username)).first():
            raise ConflictError(f"user {username!r} already exists")
        conn.execute(console_user.insert().values(
            username=username, display_name=display_name, password_hash=pw_hash, role=role,
            branch_id=branch_id, active=True, sso_subject=sso_subject, failed_logins=0,
            created_at=_now(), updated_at=_now()))
        _audit(conn, actor, "user.create", f"user:{username}", {"role": role, "branch_id": branch_id})
    return get_user(engine, username)


def set_role(engine: Engine, username: str, role: str, branch_id: str | None, *, actor: str,
             reason: str | None = None) -> User:
    """Change a user's role and branch (a permission change: audited with before and after)."""
    _check_role(role, branch_id)
    before = get_user(engine, username)
    with engine.begin() as conn:
        conn.execute(console_user.update().where(console_user.c.username == username)
                     .values(role=role, branch_id=branch_id, updated_at=_now()))
        conn.execute(user_session.update().where(user_session.c.user_id == before.id).values(revoked=True))
        _audit(conn, actor, "user.role_change", f"user:{username}",
               {"from": {"role": before.role, "branch_id": before.branch_id},
                "to": {"role": role, "branch_id": branch_id}}, reason)
    return get_user(engine, username)


def set_active(engine: Engine, username: str, active: bool, *, actor: str) -> User:
    user = get_user(engine, username)
    with engine.begin() as conn:
        conn.execute(console_user.update().where(console_user.c.id == user.id)
                     .values(active=active, failed_logins=0, locked_until=None, updated_at=_now()))
        if not active:
            conn.execute(user_session.update().where(user_session.c.user_id == user.id).values(revoked=True))
        _audit(conn, actor, "user.activate" if active else "user.deactivate", f"user:{username}")
    return get_user(engine, username)


def set_password(engine: Engine, username: str, password: str, *, actor: str) -> None:
    user = get_user(engine, username)
    with engine.begin() as conn:
        conn.execute(console_user.update().where(console_user.c.id == user.id)
                     .values(password_hash=hash_password(password), updated_at=_now()))
        _audit(conn, actor, "user.password_set", f"user:{username}")


# ------------------------------------------------------------------ login and lock-out
def authenticate(engine: Engine, username: str, password: str, *, client: str = "") -> User:
    """The user whose password this is; counts failures and locks the account after too many."""
    now = _now()
    with engine.connect() as conn:
        row = conn.execute(sa.select(console_user).where(console_user.c.username == username)).first()
    user = _user(row) if row is not None else None
    if user is not None and user.locked_until is not None and user.locked_until > now:
        _attempt(engine, username, client, False, "locked")
        raise AuthenticationError(f"account {username!r} is locked after {auth.LOCKOUT_FAILURES} failed logins "
                                  f"until {user.locked_until:%H:%M} UTC; ask an administrator or wait")
    ok = verify_password(row.password_hash if row is not None else None, password)
    if user is None or not ok or not user.active:
        _fail(engine, username, client, row, "inactive" if user and ok else "bad_password")
        raise AuthenticationError("wrong username or password")
    with engine.begin() as conn:
        conn.execute(console_user.update().where(console_user.c.id == user.id)
                     .values(failed_logins=0, locked_until=None))
    _attempt(engine, username, client, True, None)
    return user


def _fail(engine: Engine, username: str, client: str, row: Any, reason: str) -> None:
    _attempt(engine, username, client, False, reason)
    if row is None:
        return
    failures = int(row.failed_logins or 0) + 1
    values: dict[str, Any] = {"failed_logins": failures}
    if failures >= auth.LOCKOUT_FAILURES:
        values.update(failed_logins=0, locked_until=_now() + dt.timedelta(minutes=auth.LOCKOUT_MINUTES))
    with engine.begin() as conn:
        conn.execute(console_user.update().where(console_user.c.id == row.id).values(**values))
        if "locked_until" in values:
            _audit(conn, "system", "user.locked", f"user:{username}",
                   {"failures": failures, "minutes": auth.LOCKOUT_MINUTES, "client": client})


def _attempt(engine: Engine, username: str, client: str, success: bool, reason: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(login_attempt.insert().values(username=username[:128], client=client[:128], at=_now(),
                                                   success=success, reason=reason))


def find_sso_user(engine: Engine, subject: str, username: str) -> User:
    """The provisioned account for an SSO identity (by subject, else by username; binds the subject)."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(console_user).where(console_user.c.sso_subject == subject)).first()
        if row is None:
            row = conn.execute(sa.select(console_user).where(console_user.c.username == username)).first()
            if row is None or row.sso_subject not in (None, subject):
                raise AuthenticationError(f"SSO user {username!r} has no Kequn account; ask an administrator")
            conn.execute(console_user.update().where(console_user.c.id == row.id).values(sso_subject=subject))
            _audit(conn, "system", "user.sso_bind", f"user:{username}", {"subject": subject})
    user = _user(row)
    if not user.active:
        raise AuthenticationError(f"account {username!r} is deactivated")
    return user


# ------------------------------------------------------------------ sessions
def start_session(engine: Engine, secret_key: str, user: User, *, via: str = "password") -> tuple[str, str]:
    """A new session for ``user``: returns (cookie token, CSRF token); only the token's hash is stored."""
    token, csrf = auth.new_token(), auth.new_token()
    now = _now()
    with engine.begin() as conn:
        conn.execute(user_session.insert().values(
            token_hash=auth.token_hash(secret_key, token), user_id=user.id, csrf_token=csrf, via=via,
            created_at=now, last_seen=now, expires_at=now + dt.timedelta(hours=auth.SESSION_MAX_HOURS),
            revoked=False))
        _audit(conn, user.username, "login", f"user:{user.username}", {"via": via})
    return token, csrf


def session_principal(engine: Engine, secret_key: str, token: str) -> auth.Principal | None:
    """The principal of a live session cookie (None when unknown, revoked, idle or expired)."""
    h = auth.token_hash(secret_key, token)
    now = _now()
    q = (sa.select(user_session, console_user).join(console_user, console_user.c.id == user_session.c.user_id)
         .where(user_session.c.token_hash == h))
    with engine.connect() as conn:
        row = conn.execute(q).first()
    if row is None or row.revoked or not row.active:
        return None
    idle_deadline = _aware(row.last_seen) + dt.timedelta(minutes=auth.SESSION_IDLE_MINUTES)  # type: ignore[operator]
    if _aware(row.expires_at) <= now or idle_deadline <= now:  # type: ignore[operator]
        return None
    if (now - _aware(row.last_seen)).total_seconds() > 60:  # type: ignore[operator]
        with engine.begin() as conn:
            conn.execute(user_session.update().where(user_session.c.token_hash == h).values(last_seen=now))
    return auth.Principal.of(row.username, row.role, row.branch_id, via="session", session_id=h,
                             csrf_token=row.csrf_token)


def end_session(engine: Engine, secret_key: str, token: str, *, actor: str) -> None:
    with engine.begin() as conn:
        conn.execute(user_session.update().where(user_session.c.token_hash == auth.token_hash(secret_key, token))
                     .values(revoked=True))
        _audit(conn, actor, "logout", f"user:{actor}")


# ------------------------------------------------------------------ API tokens
def create_token(engine: Engine, secret_key: str, username: str, name: str, *, actor: str,
                 days: int | None = 365) -> str:
    """A new API token acting as ``username``; returned once, stored only as a keyed hash (audited)."""
    user = get_user(engine, username)
    token = auth.new_token(auth.TOKEN_PREFIX)
    expires = None if days is None else _now() + dt.timedelta(days=days)
    with engine.begin() as conn:
        conn.execute(api_token.insert().values(name=name, token_hash=auth.token_hash(secret_key, token),
                                               user_id=user.id, created_by=actor, created_at=_now(),
                                               expires_at=expires))
        _audit(conn, actor, "token.create", f"user:{username}", {"name": name, "expires_at": expires})
    return token


def revoke_token(engine: Engine, token_id: int, *, actor: str) -> None:
    with engine.begin() as conn:
        n = conn.execute(api_token.update().where(api_token.c.id == token_id, api_token.c.revoked_at.is_(None))
                         .values(revoked_at=_now())).rowcount
        if not n:
            raise NotFoundError(f"API token {token_id} does not exist or is already revoked")
        _audit(conn, actor, "token.revoke", f"token:{token_id}")


def list_tokens(engine: Engine) -> list[dict[str, Any]]:
    q = (sa.select(api_token.c.id, api_token.c.name, console_user.c.username, api_token.c.created_by,
                   api_token.c.created_at, api_token.c.expires_at, api_token.c.last_used_at, api_token.c.revoked_at)
         .join(console_user, console_user.c.id == api_token.c.user_id).order_by(api_token.c.id))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def token_principal(engine: Engine, secret_key: str, token: str) -> auth.Principal | None:
    h = auth.token_hash(secret_key, token)
    q = (sa.select(api_token, console_user.c.username, console_user.c.role, console_user.c.branch_id,
                   console_user.c.active).join(console_user, console_user.c.id == api_token.c.user_id)
         .where(api_token.c.token_hash == h))
    with engine.connect() as conn:
        row = conn.execute(q).first()
    now = _now()
    if row is None or row.revoked_at is not None or not row.active:
        return None
    if row.expires_at is not None and _aware(row.expires_at) <= now:  # type: ignore[operator]
        return None
    with engine.begin() as conn:
        conn.execute(api_token.update().where(api_token.c.id == row.id).values(last_used_at=now))
    return auth.Principal.of(row.username, row.role, row.branch_id, via="token")


# ------------------------------------------------------------------ demo
DEMO_PASSWORD_SUFFIX = "-Demo2026!"


def ensure_demo_users(engine: Engine, branch_ids: Sequence[str]) -> list[tuple[str, str, str, str | None]]:
    """One demo user per role (demo mode only; idempotent): returns (username, password, role, branch).

    Head-office roles see the whole bank; ``branch_manager`` gets ``branch_ids[0]`` and
    ``relationship_manager`` ``branch_ids[1]`` (or the first again), ideally a sub-branch of the first.
    """
    if not branch_ids:
        raise ValidationError("ensure_demo_users needs at least one branch id for the branch roles")
    branch_of = {"branch_manager": branch_ids[0], "relationship_manager": branch_ids[min(1, len(branch_ids) - 1)]}
    out = []
    for role in ROLES:
        username = f"demo_{role}"
        password = role.replace("_", "-") + DEMO_PASSWORD_SUFFIX
        branch = branch_of.get(role)
        try:
            existing = get_user(engine, username)
        except NotFoundError:
            create_user(engine, username, role, password=password, branch_id=branch, actor="demo")
        else:
            if (existing.role, existing.branch_id) != (role, branch):
                set_role(engine, username, role, branch, actor="demo", reason="demo reset")
            set_password(engine, username, password, actor="demo")
            set_active(engine, username, True, actor="demo")
        out.append((username, password, role, branch))
    return out
