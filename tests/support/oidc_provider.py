"""A small OpenID provider in process, for clients built on shared.oidc (httpx.MockTransport, no server).

Discovery, JWKS, the authorize step (`consent`), the token endpoint (authorization_code with PKCE S256 checked,
refresh_token with rotation) and RFC 7009 revocation, all behind HTTP Basic client authentication. Tokens are
RS256 JWTs signed with real RSA keys (joserfc). Tests bend it through plain attributes: `discovery_issuer` (a
mix-up), `id_claims` (claims to change in the next ID tokens; None drops one), `faults` (scripted answers per path),
`offline` (no refresh token), `rotate()` (a new signing key, the old one no longer published).
Fixtures (import them by name): `provider`, and `provider_http`, an httpx client whose every call it answers.
"""

import base64
import hashlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

ISSUER = "https://idp.example.test"
CLIENT_ID = "console-client"
CLIENT_SECRET = "not-a-real-secret-0123456789"  # noqa: S105 - a test double's
REDIRECT_URI = "https://app.example.test/callback"


def s256(value: str, *, half: bool = False) -> str:
    """The PKCE S256 challenge of a verifier; with `half`, the OIDC at_hash of an RS256 access token."""
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16] if half else digest).rstrip(b"=").decode()


class FakeOidcProvider:
    def __init__(self, issuer: str = ISSUER, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> None:
        self.issuer, self.client_id, self._secret = issuer, client_id, client_secret
        self._kids = itertools.count(1)
        self.signing_key = self.new_key()
        self.published = [self.signing_key]
        self.discovery_issuer = issuer
        self.id_claims: dict = {}
        self.faults: dict[str, list[httpx.Response]] = {}
        self.offline = True
        self.subject = "staff-7"
        self.requests: list[httpx.Request] = []
        self.jwks_fetches = 0
        self.revoked: list[str] = []
        self._codes: dict[str, dict] = {}
        self._refresh_tokens: set[str] = set()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def new_key(self) -> RSAKey:
        return RSAKey.generate_key(2048, parameters={"kid": f"key-{next(self._kids)}", "alg": "RS256", "use": "sig"})

    def rotate(self) -> None:
        self.signing_key = self.new_key()
        self.published = [self.signing_key]

    def sign(self, claims: dict, key: RSAKey | None = None) -> str:
        key = key or self.signing_key
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)

    def consent(self, authorize_url: str) -> str:
        """The user says yes at the authorize endpoint: the code the provider hands back to the redirect URI."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        assert query["response_type"] == "code" and query["client_id"] == self.client_id
        assert query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self._codes[code] = query
        return code

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if self.faults.get(path):
            return self.faults[path].pop(0)
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": self.discovery_issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token", "revocation_endpoint": f"{self.issuer}/revoke",
                "jwks_uri": f"{self.issuer}/jwks", "id_token_signing_alg_values_supported": ["RS256"]})
        if path == "/jwks":
            self.jwks_fetches += 1
            return httpx.Response(200, json={"keys": [key.as_dict(private=False) for key in self.published]})
        if request.method != "POST" or path not in ("/token", "/revoke"):
            return httpx.Response(404)
        if request.headers.get("authorization") != "Basic " + base64.b64encode(
                f"{self.client_id}:{self._secret}".encode()).decode():
            return httpx.Response(401, json={"error": "invalid_client"})
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if path == "/revoke":
            self.revoked.append(form["token"])
            return httpx.Response(200)
        return self._token(form)

    def _token(self, form: dict) -> httpx.Response:
        if form.get("grant_type") == "refresh_token" and form.get("refresh_token") in self._refresh_tokens:
            self._refresh_tokens.discard(form["refresh_token"])         # rotated: the old one is spent
            return httpx.Response(200, json=self._token_set(None))
        flow = self._codes.pop(form.get("code", ""), None)              # single use
        if form.get("grant_type") != "authorization_code" or flow is None \
                or form.get("redirect_uri") != flow["redirect_uri"] \
                or s256(form.get("code_verifier", "")) != flow["code_challenge"]:
            return httpx.Response(400, json={"error": "invalid_grant"})
        return httpx.Response(200, json=self._token_set(flow.get("nonce")))

    def _token_set(self, nonce: str | None) -> dict:
        now = int(time.time())
        access = self.sign({"iss": self.issuer, "sub": self.subject, "aud": f"{self.issuer}/resources",
                            "client_id": self.client_id, "iat": now, "exp": now + 1800,
                            "authentication_event_id": "6a2b5c1e-7a55-4f0e-9a43-2f7d4e1d2c11"})
        answer = {"access_token": access, "token_type": "Bearer", "expires_in": 1800, "scope": "openid email"}
        if self.offline:
            answer["refresh_token"] = secrets.token_urlsafe(24)
            self._refresh_tokens.add(answer["refresh_token"])
        if nonce is not None:
            claims = {"iss": self.issuer, "sub": self.subject, "aud": self.client_id, "iat": now, "exp": now + 300,
                      "auth_time": now, "nonce": nonce, "at_hash": s256(access, half=True),
                      "email": "ana@staff.example"}
            claims = {k: v for k, v in (claims | self.id_claims).items() if v is not None}
            answer["id_token"] = self.sign(claims)
        return answer


@pytest.fixture
def provider() -> FakeOidcProvider:
    return FakeOidcProvider()


@pytest.fixture
async def provider_http(provider: FakeOidcProvider) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=provider.transport()) as http:
        yield http
