"""Login, sessions, CSRF, lock-out, rate limit, API tokens, secrets and branch scope — against a real app,
a real DuckDB bank and a migrated SQLite ops store."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kequn.errors import AuthenticationError, ConfigError, ValidationError
from kequn.security import auth
from kequn.security.passwords import hash_password, verify_password
from kequn.security.scope import children_map, scope_for
from test_api_support import PASSWORD, login, make_app, settings


@pytest.fixture
def world(tmp_path):
    app, wh, engine = make_app(tmp_path)
    return app, engine


def _actions(engine, action):
    from kequn.opstore import audit

    return [e for e in audit.entries(engine, limit=1000) if e.action == action]


def _form_token(client):
    return re.search(r'id="login-csrf" value="([^"]+)"', client.get("/login").text).group(1)


def test_passwords_are_argon2id_and_weak_ones_refused():
    h = hash_password("Str0ng-enough-pw")
    assert h.startswith("$argon2id$") and "Str0ng" not in h
    assert verify_password(h, "Str0ng-enough-pw") and not verify_password(h, "Str0ng-enough-pX")
    assert not verify_password(None, "anything")  # SSO-only account never matches a password
    with pytest.raises(ValidationError):
        hash_password("short1")
    with pytest.raises(ValidationError):
        hash_password("onlyletterslong")


def test_refuses_to_start_without_a_strong_secret_outside_demo(tmp_path):
    from kequn.api import create_app

    for bad in ("", "too-short-9", "changeme-changeme-changeme-changeme"):
        with pytest.raises(ConfigError, match="refusing to start"):
            create_app(settings(secret_key=bad), warehouse=object(), opstore=object())
    assert len(auth.check_secret("", demo=True)) >= 32  # demo: a random per-process secret


def test_login_sets_a_hardened_session_cookie_and_logout_revokes_it(world):
    app, engine = world
    client = TestClient(app)
    token = _form_token(client)
    r = client.post("/login", data={"username": "analyst", "password": PASSWORD, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "kequn_session=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    session = client.cookies.get(auth.SESSION_COOKIE)
    with engine.connect() as conn:  # only the keyed hash is stored
        stored = [row[0] for row in conn.execute(sa.text("SELECT token_hash FROM user_session"))]
    assert session not in stored and auth.token_hash(app.state.kequn.secret_key, session) in stored
    assert client.get("/api/me").json()["username"] == "analyst"
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/docs").text).group(1)
    assert client.post("/logout", headers={"X-CSRF-Token": csrf}, follow_redirects=False).status_code == 303
    client.cookies.set(auth.SESSION_COOKIE, session)  # replaying the old cookie no longer works
    assert client.get("/api/me").status_code == 401
    assert _actions(engine, "login") and _actions(engine, "logout")


def test_login_form_needs_its_csrf_token(world):
    client = TestClient(world[0])
    client.get("/login")
    r = client.post("/login", data={"username": "analyst", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403 and auth.SESSION_COOKIE not in client.cookies


def test_unsafe_requests_on_a_session_need_the_csrf_token(world):
    client = TestClient(world[0])
    csrf = login(client, "manager")
    body = {"reason": "客户来电核实身份"}
    assert client.post("/api/customers/C001/unmask", json=body).status_code == 403
    assert client.post("/api/customers/C001/unmask", json=body, headers={"X-CSRF-Token": "x" + csrf}).status_code == 403
    assert client.post("/customers/C001/unmask", data={**body, "csrf_token": "nope"}).status_code == 403
    ok = client.post("/api/customers/C001/unmask", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json()["customer"]["phone"] == "13812345678"


def test_lockout_after_repeated_failures_even_with_the_right_password(world):
    app, engine = world
    client = TestClient(app)
    for _ in range(auth.LOCKOUT_FAILURES):
        r = client.post("/login", data={"username": "rm", "password": "Wrong-pass-1", "csrf_token": _form_token(client)})
        assert auth.SESSION_COOKIE not in client.cookies and "login-error" in r.text
    r = client.post("/login", data={"username": "rm", "password": PASSWORD, "csrf_token": _form_token(client)})
    assert "locked" in r.text and auth.SESSION_COOKIE not in client.cookies
    assert len(_actions(engine, "user.locked")) == 1
    with engine.connect() as conn:
        reasons = [r[0] for r in conn.execute(sa.text("SELECT reason FROM login_attempt WHERE username='rm'"))]
    assert reasons.count("bad_password") == auth.LOCKOUT_FAILURES and reasons[-1] == "locked"
    from kequn.services import users

    users.set_active(engine, "rm", True, actor="admin")  # an administrator unlocks
    login(client, "rm")


def test_login_is_rate_limited_per_client(world):
    client = TestClient(world[0])
    codes = []
    for i in range(auth.LOGIN_RATE[0] + 2):
        r = client.post("/login", data={"username": f"nobody{i}", "password": "x", "csrf_token": _form_token(client)})
        codes.append(r.status_code)
    assert codes[: auth.LOGIN_RATE[0]] == [200] * auth.LOGIN_RATE[0] and codes[-1] == 429


def test_api_tokens_are_hashed_act_as_their_user_and_can_be_revoked(world):
    app, engine = world
    admin = TestClient(app)
    csrf = login(admin, "admin")
    r = admin.post("/api/tokens", json={"name": "crm", "username": "manager"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    token = r.json()["token"]
    with engine.connect() as conn:
        hashes = [row[0] for row in conn.execute(sa.text("SELECT token_hash FROM api_token"))]
    assert token not in hashes and auth.token_hash(app.state.kequn.secret_key, token) in hashes
    system = TestClient(app)
    bearer = {"Authorization": f"Bearer {token}"}
    me = system.get("/api/me", headers=bearer).json()
    assert (me["username"], me["role"], me["via"]) == ("manager", "branch_manager", "token")
    ids = [c["customer_id"] for c in system.get("/api/customers", headers=bearer).json()["rows"]]
    assert ids == ["C001", "C002"]  # the token carries the user's branch scope
    # bearer calls need no CSRF token (no cookie is involved)
    assert system.post("/api/customers/C002/unmask", json={"reason": "系统对账核验"}, headers=bearer).status_code == 200
    tid = admin.get("/api/tokens").json()[-1]["id"]
    assert admin.delete(f"/api/tokens/{tid}", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert system.get("/api/me", headers=bearer).status_code == 401
    assert system.get("/api/me", headers={"Authorization": "Bearer kq_forged"}).status_code == 401
    assert _actions(engine, "token.create") and _actions(engine, "token.revoke")


def test_role_change_is_audited_and_ends_the_users_sessions(world):
    app, engine = world
    admin, victim = TestClient(app), TestClient(app)
    csrf = login(admin, "admin")
    login(victim, "marketer")
    r = admin.put("/api/users/marketer/role", json={"role": "auditor", "reason": "调岗"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["role"] == "auditor"
    assert victim.get("/api/me").status_code == 401
    change = _actions(engine, "user.role_change")[0]
    assert change.actor == "admin" and change.reason == "调岗"
    assert change.details == {"from": {"role": "marketer", "branch_id": None}, "to": {"role": "auditor", "branch_id": None}}
    bad = admin.put("/api/users/marketer/role", json={"role": "branch_manager"}, headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 422 and "needs a branch" in bad.json()["message"]


def test_branch_scope_follows_the_parent_hierarchy():
    rows = [{"branch_id": "HQ", "parent_id": None}, {"branch_id": "B1", "parent_id": "HQ"},
            {"branch_id": "B11", "parent_id": "B1"}, {"branch_id": "B111", "parent_id": "B11"},
            {"branch_id": "B2", "parent_id": "HQ"}, {"branch_id": "X", "parent_id": "Y"}, {"branch_id": "Y", "parent_id": "X"}]
    kids = children_map(rows)
    assert scope_for("B1", kids).branches == {"B1", "B11", "B111"}
    assert scope_for(None, kids).whole_bank and scope_for(None, kids).allows("B2")
    assert not scope_for("B1", kids).allows("B2") and not scope_for("B1", kids).allows(None)
    assert scope_for("X", kids).branches == {"X", "Y"}  # a cycle in bad data terminates


def test_demo_users_one_per_role_idempotent(tmp_path):
    from kequn.security.roles import ROLES
    from kequn.services import users
    from test_api_support import build_opstore

    engine = build_opstore(tmp_path / "ops.sqlite")
    first = users.ensure_demo_users(engine, ["B100", "B110"])
    again = users.ensure_demo_users(engine, ["B100", "B110"])
    assert first == again and sorted(r for _, _, r, _ in first) == sorted(ROLES)
    branches = {r: b for _, _, r, b in first}
    assert branches["branch_manager"] == "B100" and branches["relationship_manager"] == "B110"
    assert branches["hq_analyst"] is None
    for username, password, _, _ in first:
        assert users.authenticate(engine, username, password).username == username


def test_kequn_serve_refuses_to_start_without_a_secret(data_dir, monkeypatch, capsys):
    from kequn.cli.main import main

    monkeypatch.delenv("KEQUN_SECRET_KEY", raising=False)
    monkeypatch.delenv("KEQUN_DEMO", raising=False)
    assert main(["serve", "--port", "1"]) == ConfigError.exit_code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refusing to start outside demo mode" in err[0] and "KEQUN_SECRET_KEY" in err[0]


@pytest.mark.postgres
def test_users_sessions_tokens_and_lockout_on_postgresql(pg_url):
    from kequn.opstore import engine_for, migrate
    from kequn.services import users

    engine = engine_for(pg_url)
    migrate(engine)
    try:
        users.create_user(engine, "pg_rm", "relationship_manager", password=PASSWORD, branch_id="B100", actor="t")
        secret = "k" * 40
        token, csrf = users.start_session(engine, secret, users.authenticate(engine, "pg_rm", PASSWORD))
        p = users.session_principal(engine, secret, token)
        assert (p.username, p.branch_id, p.csrf_token) == ("pg_rm", "B100", csrf)
        api = users.create_token(engine, secret, "pg_rm", "crm", actor="t")
        assert users.token_principal(engine, secret, api).via == "token"
        for _ in range(auth.LOCKOUT_FAILURES):
            with pytest.raises(AuthenticationError, match="wrong username or password"):
                users.authenticate(engine, "pg_rm", "Wrong-pass-1")
        with pytest.raises(AuthenticationError, match="locked"):
            users.authenticate(engine, "pg_rm", PASSWORD)
        with pytest.raises(sa.exc.IntegrityError, match="ck_console_user_branch_role"):  # the database refuses it too
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO console_user (username, role) VALUES ('x', 'branch_manager')"))
    finally:
        engine.dispose()
