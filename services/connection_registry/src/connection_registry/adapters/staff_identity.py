"""The company's OpenID Connect provider for staff sign-in, through `shared.oidc.OidcClient` (Authlib)."""

from datetime import datetime
from urllib.parse import urlencode

from shared.oidc import IdTokenRejected, OidcClient, ProviderRefused, ProviderUnavailable

from ..ports import SignInFailed


class OidcStaffIdentity:
    def __init__(self, client: OidcClient, *, redirect_uri: str, post_logout_redirect_uri: str,
                 scopes: tuple[str, ...]) -> None:
        self._client = client
        self._redirect_uri = redirect_uri
        self._post_logout_redirect_uri = post_logout_redirect_uri
        self._scopes = list(scopes)

    async def authorize_url(self, state: str, nonce: str, code_challenge: str) -> str:
        try:
            return await self._client.authorize_url(self._redirect_uri, self._scopes, state=state, nonce=nonce,
                                                    code_challenge=code_challenge)
        except ProviderUnavailable:
            raise SignInFailed("unavailable") from None

    async def identify(self, code: str, code_verifier: str, nonce: str, now: datetime) -> dict[str, object]:
        try:
            tokens = await self._client.exchange_code(code, code_verifier, self._redirect_uri)
            if not tokens.get("id_token"):
                raise SignInFailed("invalid_token")
            return await self._client.verify_id_token(tokens["id_token"], nonce=nonce,
                                                      access_token=tokens.get("access_token"), now=now)
        except ProviderUnavailable:
            raise SignInFailed("unavailable") from None
        except ProviderRefused:
            raise SignInFailed("refused") from None
        except IdTokenRejected:
            raise SignInFailed("invalid_token") from None

    async def logout_url(self) -> str | None:
        try:
            endpoint = (await self._client.metadata()).get("end_session_endpoint")
        except ProviderUnavailable:
            raise SignInFailed("unavailable") from None
        if not endpoint:
            return None
        query = urlencode({"client_id": self._client.client_id,
                           "post_logout_redirect_uri": self._post_logout_redirect_uri})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
