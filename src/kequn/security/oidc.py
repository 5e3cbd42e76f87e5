"""Single sign-on through the bank's OpenID Connect provider (authorisation-code flow).

:class:`SSOProvider` is the interface a bank's SSO plugs into (an LDAP bind would implement the same
``login_url`` / ``complete`` pair); :class:`OIDCProvider` is the working implementation: discovery,
authorise redirect with ``state`` and ``nonce``, code exchange at the token endpoint, and verification of
the RS256-signed ``id_token`` against the provider's JWKS (issuer, audience, expiry, nonce).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol

from kequn.errors import AuthenticationError, ConfigError


@dataclass(frozen=True)
class SSOIdentity:
    subject: str
    username: str
    email: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)


class SSOProvider(Protocol):
    name: str

    def login_url(self, state: str, nonce: str) -> str: ...

    def complete(self, code: str, nonce: str) -> SSOIdentity: ...


@dataclass(frozen=True)
class OIDCConfig:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scopes: str = "openid profile email"
    username_claim: str = "preferred_username"
    timeout_s: float = 5.0


def _get_json(url: str, timeout: float, data: bytes | None = None) -> dict[str, Any]:
    req = urllib.request.Request(url, data=data, headers={"Accept": "application/json"})
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - configured https/http URL
            return dict(json.loads(resp.read().decode()))
    except Exception as exc:
        raise AuthenticationError(f"SSO provider at {url} did not answer: {exc}") from None


class OIDCProvider:
    """OIDC authorisation-code flow against one provider; discovery and JWKS are fetched lazily."""

    name = "oidc"

    def __init__(self, config: OIDCConfig) -> None:
        if not (config.issuer and config.client_id and config.redirect_uri):
            raise ConfigError("OIDC needs an issuer, a client id and a redirect URI")
        self.config = config
        self._meta: dict[str, Any] | None = None

    def metadata(self) -> dict[str, Any]:
        if self._meta is None:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            meta = _get_json(url, self.config.timeout_s)
            missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri", "issuer") if k not in meta]
            if missing:
                raise AuthenticationError(f"OIDC discovery at {url} lacks {', '.join(missing)}")
            self._meta = meta
        return self._meta

    def login_url(self, state: str, nonce: str) -> str:
        q = urllib.parse.urlencode({
            "response_type": "code", "client_id": self.config.client_id, "redirect_uri": self.config.redirect_uri,
            "scope": self.config.scopes, "state": state, "nonce": nonce,
        })
        return f"{self.metadata()['authorization_endpoint']}?{q}"

    def complete(self, code: str, nonce: str) -> SSOIdentity:
        """Exchange ``code`` for tokens and return the verified identity."""
        body = urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": code, "redirect_uri": self.config.redirect_uri,
            "client_id": self.config.client_id, "client_secret": self.config.client_secret,
        }).encode()
        tokens = _get_json(self.metadata()["token_endpoint"], self.config.timeout_s, data=body)
        if "id_token" not in tokens:
            raise AuthenticationError("SSO token response has no id_token")
        claims = self.verify(tokens["id_token"], nonce)
        username = claims.get(self.config.username_claim) or claims["sub"]
        return SSOIdentity(subject=str(claims["sub"]), username=str(username), email=claims.get("email"),
                           claims=claims)

    def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        import jwt

        meta = self.metadata()
        try:
            key = jwt.PyJWKClient(meta["jwks_uri"], timeout=int(self.config.timeout_s)).get_signing_key_from_jwt(id_token)
            claims = jwt.decode(id_token, key.key, algorithms=["RS256"], audience=self.config.client_id,
                                issuer=meta["issuer"], options={"require": ["exp", "iat", "sub", "iss", "aud"]})
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"SSO id_token rejected: {exc}") from None
        if claims.get("nonce") != nonce:
            raise AuthenticationError("SSO id_token rejected: nonce does not match this login")
        return dict(claims)
