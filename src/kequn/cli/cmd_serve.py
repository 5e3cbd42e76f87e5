"""`kequn serve` (the web console and REST API) and `kequn users …` (console accounts and API tokens)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from kequn.cli.console import console

users_app = typer.Typer(help="Console users (用户), roles and API tokens. Every change is audited.",
                        no_args_is_help=True)


def _sso_from_env() -> object | None:
    """The OIDC provider named by KEQUN_OIDC_ISSUER / _CLIENT_ID / _CLIENT_SECRET / _REDIRECT_URI, if set."""
    issuer = os.environ.get("KEQUN_OIDC_ISSUER", "")
    if not issuer:
        return None
    from kequn.security.oidc import OIDCConfig, OIDCProvider

    return OIDCProvider(OIDCConfig(issuer=issuer, client_id=os.environ.get("KEQUN_OIDC_CLIENT_ID", ""),
                                   client_secret=os.environ.get("KEQUN_OIDC_CLIENT_SECRET", ""),
                                   redirect_uri=os.environ.get("KEQUN_OIDC_REDIRECT_URI", "")))


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the web console (控制台) and the REST API (/api, reference at /docs)."""
    import logging

    import uvicorn

    from kequn.api import create_app
    from kequn.settings import get_settings

    con = console(ctx)
    settings = get_settings()
    app = create_app(settings, sso=_sso_from_env())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    con.info(f"Kequn console on http://{host}:{port}/ (API reference: /docs){'  [DEMO MODE]' if settings.demo else ''}")
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")


def _engine():  # type: ignore[no-untyped-def]
    from kequn.opstore import open_default

    return open_default()


@users_app.command("list")
def users_list(ctx: typer.Context) -> None:
    """List console users with role and branch."""
    from kequn.services import users

    rows = [{"username": u.username, "role": u.role, "branch_id": u.branch_id or "", "active": u.active}
            for u in users.list_users(_engine())]
    console(ctx).table(rows, ["username", "role", "branch_id", "active"], title="用户 users")


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    username: str,
    role: Annotated[str, typer.Option(help="hq_admin, hq_analyst, marketer, branch_manager, relationship_manager, auditor")],
    branch: Annotated[str | None, typer.Option(help="Branch code (required for branch roles).")] = None,
    sso_only: Annotated[bool, typer.Option("--sso-only", help="No password: log in through SSO only.")] = False,
) -> None:
    """Create a user; the password is read from KEQUN_NEW_PASSWORD or prompted (never an argument)."""
    from kequn.services import users

    password = None
    if not sso_only:
        password = os.environ.get("KEQUN_NEW_PASSWORD") or typer.prompt("password", hide_input=True,
                                                                        confirmation_prompt=True)
    u = users.create_user(_engine(), username, role, password=password, branch_id=branch, actor="cli")
    console(ctx).result({"username": u.username, "role": u.role, "branch_id": u.branch_id},
                        human=f"created {u.username} ({u.role}{', ' + u.branch_id if u.branch_id else ''})")


@users_app.command("set-role")
def users_set_role(
    ctx: typer.Context, username: str, role: str,
    branch: Annotated[str | None, typer.Option(help="Branch code (required for branch roles).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
) -> None:
    """Change a user's role and branch (ends their sessions)."""
    from kequn.services import users

    u = users.set_role(_engine(), username, role, branch, actor="cli", reason=reason)
    console(ctx).result({"username": u.username, "role": u.role, "branch_id": u.branch_id},
                        human=f"{u.username} is now {u.role}{' at ' + u.branch_id if u.branch_id else ''}")


@users_app.command("token")
def users_token(
    ctx: typer.Context, username: str,
    name: Annotated[str, typer.Option(help="What system uses the token.")],
    days: Annotated[int, typer.Option(help="Days until it expires.")] = 365,
) -> None:
    """Issue an API token acting as USERNAME (printed once; only its hash is stored)."""
    from kequn.security.auth import check_secret
    from kequn.services import users
    from kequn.settings import get_settings

    s = get_settings()
    if s.demo and not s.secret_key:
        from kequn.errors import ConfigError

        raise ConfigError("API tokens need a fixed KEQUN_SECRET_KEY (demo mode without one changes it per process)")
    token = users.create_token(_engine(), check_secret(s.secret_key, demo=s.demo), username, name, actor="cli",
                               days=days)
    console(ctx).result({"token": token}, human=token)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
