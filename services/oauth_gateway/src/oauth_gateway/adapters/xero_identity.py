"""Xero's identity host through Authlib: discovery, the authorize URL (code + PKCE S256 + nonce), the token
endpoint (code exchange, refresh), revocation, and id_token / access-token verification against the JWKS.

Authlib's protocol helpers build every request; httpx sends it. Nothing here logs a token or the secret.
"""

import time
from datetime import datetime

import httpx
from authlib.common.urls import add_params_to_qs
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ..ports import InvalidIdToken, OAuthRejected, TokenResponse, XeroUnavailable
from ..settings import XeroSettings

_DISCOVERY_TTL = 3600.0
_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


class XeroIdentityClient:
    def __init__(self, settings: XeroSettings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http
        self._auth = ClientAuth(settings.client_id, settings.client_secret.get_secret_value(), "client_secret_basic")
        self._metadata: dict | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None

    async def metadata(self) -> dict:
        if self._metadata is None or time.monotonic() - self._metadata_at > _DISCOVERY_TTL:
            url = self._settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = (await self._get(url)).json()
            if document.get("issuer", "").rstrip("/") != self._settings.issuer.rstrip("/"):
                raise XeroUnavailable("discovery document names another issuer")  # mix-up defence
            self._metadata, self._metadata_at = document, time.monotonic()
        return self._metadata

    async def authorize_url(self, state: str, nonce: str, code_challenge: str) -> str:
        endpoint = (await self.metadata())["authorization_endpoint"]
        return prepare_grant_uri(endpoint, self._settings.client_id, "code", self._settings.redirect_uri,
                                 scope=list(self._settings.scopes), state=state, nonce=nonce,
                                 code_challenge=code_challenge, code_challenge_method="S256")

    async def exchange_code(self, code: str, verifier: str) -> TokenResponse:
        return await self._token(prepare_token_request(
            "authorization_code", redirect_uri=self._settings.redirect_uri, code=code, code_verifier=verifier))

    async def refresh(self, refresh_token: str) -> TokenResponse:
        return await self._token(prepare_token_request("refresh_token", refresh_token=refresh_token))

    async def revoke(self, refresh_token: str) -> None:
        """RFC 7009 with the REFRESH token: Xero then drops every connection of this user + app."""
        endpoint = (await self.metadata())["revocation_endpoint"]
        body = add_params_to_qs("", [("token", refresh_token), ("token_type_hint", "refresh_token")])
        response = await self._post(endpoint, body)
        if response.status_code != 200:
            raise _token_error(response)

    async def verify_id_token(self, id_token: str, nonce: str, access_token: str, now: datetime) -> dict:
        token = await self._decode(id_token)
        claims = CodeIDToken(token.claims, token.header, options={
            "iss": {"essential": True, "value": (await self.metadata())["issuer"]},
            "aud": {"essential": True, "value": self._settings.client_id}},
            params={"nonce": nonce, "client_id": self._settings.client_id, "access_token": access_token})
        try:
            claims.validate(now=int(now.timestamp()), leeway=120)
        except JoseError as error:
            raise InvalidIdToken(f"id_token rejected: {type(error).__name__}") from None
        return dict(claims)

    async def access_claims(self, access_token: str) -> dict:
        """Xero's access token is a JWT; `authentication_event_id` names this consent's connections."""
        token = await self._decode(access_token)
        if token.claims.get("iss", "").rstrip("/") != (await self.metadata())["issuer"].rstrip("/"):
            raise InvalidIdToken("access token from another issuer")
        return dict(token.claims)

    async def _decode(self, value: str) -> jwt.Token:
        for attempt in range(2):
            keys = await self._jwks(refetch=attempt > 0)
            try:
                return jwt.decode(value, keys, algorithms=["RS256"])
            except JoseError as error:
                if attempt:
                    raise InvalidIdToken(f"token signature rejected: {type(error).__name__}") from None
        raise AssertionError("unreachable")

    async def _jwks(self, *, refetch: bool) -> KeySet:
        if self._keys is None or refetch:   # keys rotate: an unknown kid refetches once
            self._keys = KeySet.import_key_set((await self._get((await self.metadata())["jwks_uri"])).json())
        return self._keys

    async def _token(self, body: str) -> TokenResponse:
        response = await self._post((await self.metadata())["token_endpoint"], body)
        if response.status_code != 200:
            raise _token_error(response)
        data = response.json()
        if not data.get("access_token") or not data.get("refresh_token"):
            raise OAuthRejected("no_refresh_token")    # offline_access missing: unusable for us
        return TokenResponse(data["access_token"], data["refresh_token"], int(data.get("expires_in", 1800)),
                             tuple(str(data.get("scope", "")).split()), data.get("id_token"))

    async def _post(self, url: str, body: str) -> httpx.Response:
        url, headers, body = self._auth.prepare("POST", url, dict(_FORM), body)
        try:
            return await self._http.post(url, content=body, headers=headers)
        except httpx.TransportError as error:
            raise XeroUnavailable(f"identity host: {type(error).__name__}") from None

    async def _get(self, url: str) -> httpx.Response:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
        except httpx.TransportError as error:
            raise XeroUnavailable(f"identity host: {type(error).__name__}") from None
        if response.status_code != 200:
            raise XeroUnavailable(f"identity host answered {response.status_code}")
        return response


def _token_error(response: httpx.Response) -> Exception:
    if response.status_code == 429 or response.status_code >= 500:
        retry = response.headers.get("Retry-After")
        return XeroUnavailable(f"token endpoint {response.status_code}", int(retry) if retry and retry.isdigit()
                               else None)
    try:
        error = str(response.json().get("error") or "invalid_request")
    except ValueError:
        error = "invalid_request"
    return OAuthRejected(error)
