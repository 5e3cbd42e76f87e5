"""SSO: the OIDC implementation against a tiny fake identity provider this test starts on 127.0.0.1
(discovery, authorize, token, JWKS; id_tokens really RS256-signed with a fresh RSA key)."""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from kequn.errors import AuthenticationError
from kequn.security.oidc import OIDCConfig, OIDCProvider
from test_api_support import make_app

CLIENT_ID, CLIENT_SECRET = "kequn-console", "idp-client-secret-9"
REDIRECT = "http://testserver/auth/sso/callback"


class FakeIdP:
    """A minimal OpenID provider: one user per login code; ``tamper`` signs with an unrelated key."""

    def __init__(self, username: str) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.username, self.tamper, self.codes = username, False, {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def jwks(self) -> dict:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [dict(jwk, kid="k1", use="sig", alg="RS256")]}

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "sub": f"sub-{self.username}", "iat": now, "exp": now + 300,
                  "nonce": nonce, "preferred_username": self.username}
        return jwt.encode(claims, self.other_key if self.tamper else self.key, algorithm="RS256",
                          headers={"kid": "k1"})

    def _handler(self):  # noqa: ANN202
        idp = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):  # noqa: ANN002
                pass

            def _json(self, obj, status=200):  # noqa: ANN001
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                url = urllib.parse.urlparse(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    return self._json({"issuer": idp.issuer, "authorization_endpoint": idp.issuer + "/authorize",
                                       "token_endpoint": idp.issuer + "/token", "jwks_uri": idp.issuer + "/jwks",
                                       "id_token_signing_alg_values_supported": ["RS256"]})
                if url.path == "/jwks":
                    return self._json(idp.jwks())
                if url.path == "/authorize":  # the user "logs in" at once
                    assert q["client_id"] == CLIENT_ID and q["response_type"] == "code"
                    code = secrets.token_urlsafe(8)
                    idp.codes[code] = q["nonce"]
                    target = q["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": q["state"]})
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                    return None
                return self._json({"error": "not_found"}, 404)

            def do_POST(self):  # noqa: N802
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                nonce = idp.codes.pop(form.get("code", ""), None)
                if nonce is None or form.get("client_secret") != CLIENT_SECRET:
                    return self._json({"error": "invalid_grant"}, 400)
                return self._json({"access_token": "at", "token_type": "Bearer", "id_token": idp.id_token(nonce)})

        return H


@pytest.fixture
def idp():
    server = FakeIdP("manager")
    yield server
    server.server.shutdown()


def _provider(idp: FakeIdP) -> OIDCProvider:
    return OIDCProvider(OIDCConfig(issuer=idp.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                   redirect_uri=REDIRECT))


def _sso_login(client: TestClient):
    r = client.get("/auth/sso/login", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("http://127.0.0.1")
    back = httpx.get(r.headers["location"], follow_redirects=False).headers["location"]
    callback = urllib.parse.urlparse(back)
    return client.get(f"{callback.path}?{callback.query}", follow_redirects=False)


def test_sso_login_end_to_end_gives_the_provisioned_users_session(tmp_path, idp):
    app, _, engine = make_app(tmp_path, sso=_provider(idp))
    client = TestClient(app)
    assert "/auth/sso/login" in client.get("/login").text
    r = _sso_login(client)
    assert r.status_code == 303 and r.headers["location"] == "/"
    me = client.get("/api/me").json()
    assert (me["username"], me["role"], me["branch_id"]) == ("manager", "branch_manager", "B100")
    from kequn.opstore import audit
    from kequn.services import users

    assert users.get_user(engine, "manager").sso_subject == "sub-manager"
    assert any(e.action == "login" and e.details == {"via": "sso"} for e in audit.entries(engine))


def test_sso_refuses_a_token_signed_by_another_key(tmp_path, idp):
    app, _, _ = make_app(tmp_path, sso=_provider(idp))
    idp.tamper = True
    client = TestClient(app)
    r = _sso_login(client)
    assert r.status_code == 303 and r.headers["location"] == "/login"  # console: back to the login page
    assert client.get("/api/me").status_code == 401


def test_sso_refuses_unknown_users_and_a_forged_state(tmp_path, idp):
    app, _, _ = make_app(tmp_path, sso=_provider(idp))
    idp.username = "stranger"
    client = TestClient(app)
    _sso_login(client)
    assert client.get("/api/me").status_code == 401
    forged = client.get("/auth/sso/callback?code=x&state=forged", headers={"accept": "application/json"})
    assert forged.status_code == 401 and "state does not match" in forged.json()["message"]


def test_provider_checks_nonce_and_audience(idp):
    provider = _provider(idp)
    with pytest.raises(AuthenticationError, match="nonce"):
        provider.verify(idp.id_token("nonce-a"), "nonce-b")
    wrong_aud = OIDCProvider(OIDCConfig(issuer=idp.issuer, client_id="someone-else", client_secret="x",
                                        redirect_uri=REDIRECT))
    with pytest.raises(AuthenticationError, match="rejected"):
        wrong_aud.verify(idp.id_token("n"), "n")
    assert provider.verify(idp.id_token("n"), "n")["preferred_username"] == "manager"
