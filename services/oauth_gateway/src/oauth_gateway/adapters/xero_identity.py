"""Xero's identity host: the shared OpenID Connect relying party (shared.oidc: discovery with the mix-up check,
the authorize URL with PKCE S256 + nonce, the token endpoint, ID-token and JWKS checks) plus what only the gateway
needs: the refresh grant, revocation with the refresh token, the access token's claims, and the gateway's own
errors (ports.py), so the use cases never see shared.oidc's. Nothing here logs a token or the secret.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import httpx
from authlib.common.urls import add_params_to_qs
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from shared.oidc import IdTokenRejected, OidcClient, ProviderRefused, ProviderUnavailable, refusal

from ..ports import InvalidIdToken, OAuthRejected, TokenResponse, XeroUnavailable
from ..settings import XeroSettings


class XeroIdentityClient:
    def __init__(self, settings: XeroSettings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._oidc = OidcClient(settings.issuer, settings.client_id, settings.client_secret.get_secret_value(), http)

    async def authorize_url(self, state: str, nonce: str, code_challenge: str) -> str:
        with _gateway_errors():
            return await self._oidc.authorize_url(self._settings.redirect_uri, list(self._settings.scopes),
                                                  state=state, nonce=nonce, code_challenge=code_challenge)

    async def exchange_code(self, code: str, verifier: str) -> TokenResponse:
        return await self._token(prepare_token_request(
            "authorization_code", redirect_uri=self._settings.redirect_uri, code=code, code_verifier=verifier))

    async def refresh(self, refresh_token: str) -> TokenResponse:
        return await self._token(prepare_token_request("refresh_token", refresh_token=refresh_token))

    async def revoke(self, refresh_token: str) -> None:
        """RFC 7009 with the REFRESH token: Xero then drops every connection of this user + app."""
        body = add_params_to_qs("", [("token", refresh_token), ("token_type_hint", "refresh_token")])
        with _gateway_errors():
            response = await self._oidc.post_form("revocation_endpoint", body)
            if response.status_code != 200:
                raise refusal(response)

    async def verify_id_token(self, id_token: str, nonce: str, access_token: str, now: datetime) -> dict:
        with _gateway_errors():
            return await self._oidc.verify_id_token(id_token, nonce=nonce, access_token=access_token, now=now)

    async def access_claims(self, access_token: str) -> dict:
        """Xero's access token is a JWT; `authentication_event_id` names this consent's connections."""
        with _gateway_errors():
            token = await self._oidc.decode(access_token)
            issuer = (await self._oidc.metadata())["issuer"]
        if str(token.claims.get("iss", "")).rstrip("/") != issuer.rstrip("/"):
            raise InvalidIdToken("access token from another issuer")
        return dict(token.claims)

    async def _token(self, body: str) -> TokenResponse:
        with _gateway_errors():
            data = await self._oidc.token_request(body)
        if not data.get("access_token") or not data.get("refresh_token"):
            raise OAuthRejected("no_refresh_token")    # offline_access missing: unusable for us
        return TokenResponse(data["access_token"], data["refresh_token"], int(data.get("expires_in", 1800)),
                             tuple(str(data.get("scope", "")).split()), data.get("id_token"))


@contextmanager
def _gateway_errors() -> Iterator[None]:
    """shared.oidc's errors as the gateway's ports name them (XeroUnavailable keeps the Retry-After)."""
    try:
        yield
    except ProviderUnavailable as error:
        raise XeroUnavailable(str(error), error.retry_after) from None
    except ProviderRefused as error:
        raise OAuthRejected(error.error) from None
    except IdTokenRejected as error:
        raise InvalidIdToken(str(error)) from None
