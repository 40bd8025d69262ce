"""An OpenID Connect relying party over httpx, built from Authlib's protocol helpers and joserfc: discovery
(cached, with the mix-up check on `issuer`), the authorize URL (code + PKCE S256 + nonce), the token endpoint
and ID-token verification against the provider's JWKS (an unknown `kid` refetches the keys once).

Used by the helpdesk console (staff sign-in) and, through `token_request` / `post_form` / `refusal`, by the
gateway's Xero identity client (refresh, revocation). Nothing here logs a token or the client secret.
"""

import time
from datetime import datetime

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

DISCOVERY_TTL_SECONDS = 3600.0
_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


class ProviderUnavailable(Exception):
    """The identity provider did not answer usefully (down, 5xx, 429, an unreadable or mixed-up document).
    `retry_after`: the seconds its Retry-After named on a 429/5xx, when it named a number."""

    def __init__(self, what: str, retry_after: int | None = None) -> None:
        super().__init__(what)
        self.retry_after = retry_after


class ProviderRefused(Exception):
    """The token endpoint refused the request (`error` from its answer: invalid_grant, invalid_client, ...)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class IdTokenRejected(Exception):
    """The ID token's signature, issuer, audience, nonce, hash or times did not check out."""


class OidcClient:
    def __init__(self, issuer: str, client_id: str, client_secret: str, http: httpx.AsyncClient) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._auth = ClientAuth(client_id, client_secret, "client_secret_basic")
        self._http = http
        self._metadata: dict | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None

    async def metadata(self) -> dict:
        if self._metadata is None or time.monotonic() - self._metadata_at > DISCOVERY_TTL_SECONDS:
            document = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            if str(document.get("issuer", "")).rstrip("/") != self.issuer:
                raise ProviderUnavailable("discovery document names another issuer")  # mix-up defence
            self._metadata, self._metadata_at = document, time.monotonic()
        return self._metadata

    async def authorize_url(self, redirect_uri: str, scopes: list[str], *, state: str, nonce: str,
                            code_challenge: str, **extra: str) -> str:
        endpoint = (await self.metadata())["authorization_endpoint"]
        return prepare_grant_uri(endpoint, self.client_id, "code", redirect_uri, scope=scopes, state=state,
                                 nonce=nonce, code_challenge=code_challenge, code_challenge_method="S256", **extra)

    async def exchange_code(self, code: str, verifier: str, redirect_uri: str) -> dict:
        """The token endpoint's answer (a dict with at least `access_token`)."""
        answer = await self.token_request(prepare_token_request(
            "authorization_code", redirect_uri=redirect_uri, code=code, code_verifier=verifier))
        if not answer.get("access_token"):
            raise ProviderRefused(str(answer.get("error") or "invalid_request"))
        return answer

    async def token_request(self, body: str) -> dict:
        """The token endpoint's JSON answer to a prepared grant (authorization_code, refresh_token, ...), unchecked
        beyond being a 200 with a JSON object: which tokens it must hold is the caller's to say."""
        response = await self.post_form("token_endpoint", body)
        if response.status_code != 200:
            raise refusal(response)
        answer = _json_object(response)
        if answer is None:
            raise ProviderUnavailable("token endpoint answered something unreadable")
        return answer

    async def post_form(self, endpoint: str, body: str) -> httpx.Response:
        """A client-authenticated form POST to the endpoint discovery names `endpoint` (token_endpoint,
        revocation_endpoint): the answer as it came; ProviderUnavailable only when none came."""
        url = (await self.metadata()).get(endpoint)
        if not isinstance(url, str):
            raise ProviderUnavailable(f"discovery names no {endpoint}")
        url, headers, body = self._auth.prepare("POST", url, dict(_FORM), body)
        try:
            return await self._http.post(url, content=body, headers=headers)
        except httpx.TransportError as error:
            raise ProviderUnavailable(f"{endpoint}: {type(error).__name__}") from None

    async def verify_id_token(self, id_token: str, *, nonce: str, access_token: str | None, now: datetime,
                              leeway: int = 120) -> dict:
        """The ID token's claims once signature, `iss`, `aud`, `nonce`, `at_hash` and times are checked."""
        token = await self.decode(id_token)
        params = {"nonce": nonce, "client_id": self.client_id} | ({"access_token": access_token} if access_token
                                                                  else {})
        claims = CodeIDToken(token.claims, token.header, options={
            "iss": {"essential": True, "value": (await self.metadata())["issuer"]},
            "aud": {"essential": True, "value": self.client_id}}, params=params)
        try:
            claims.validate(now=int(now.timestamp()), leeway=leeway)
        except JoseError as error:
            raise IdTokenRejected(f"id_token rejected: {type(error).__name__}") from None
        return dict(claims)

    async def decode(self, value: str) -> jwt.Token:
        """A JWT signed (RS256) by one of the provider's current keys."""
        for attempt in range(2):
            keys = await self._jwks(refetch=attempt > 0)
            try:
                return jwt.decode(value, keys, algorithms=["RS256"])
            except (JoseError, ValueError) as error:
                if attempt:
                    raise IdTokenRejected(f"token signature rejected: {type(error).__name__}") from None
        raise AssertionError("unreachable")

    async def _jwks(self, *, refetch: bool) -> KeySet:
        if self._keys is None or refetch:   # keys rotate: an unknown kid refetches once
            try:
                self._keys = KeySet.import_key_set(await self._get_json((await self.metadata())["jwks_uri"]))
            except (JoseError, ValueError, KeyError, TypeError):
                raise ProviderUnavailable("the provider's JWKS is unreadable") from None
        return self._keys

    async def _get_json(self, url: str) -> dict:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
        except httpx.TransportError as error:
            raise ProviderUnavailable(f"identity provider: {type(error).__name__}") from None
        if response.status_code != 200:
            raise ProviderUnavailable(f"identity provider answered {response.status_code}")
        document = _json_object(response)
        if document is None:
            raise ProviderUnavailable("identity provider answered something unreadable")
        return document


def refusal(response: httpx.Response) -> ProviderUnavailable | ProviderRefused:
    """What a non-200 from the token or revocation endpoint means: 429/5xx, the provider is away for now (with the
    seconds its Retry-After names); anything else, a refusal with the OAuth `error` it gave."""
    if response.status_code == 429 or response.status_code >= 500:
        retry = response.headers.get("Retry-After", "")
        return ProviderUnavailable(f"identity provider answered {response.status_code}",
                                   int(retry) if retry.isdigit() else None)
    return ProviderRefused(str((_json_object(response) or {}).get("error") or "invalid_request"))


def _json_object(response: httpx.Response) -> dict | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None
