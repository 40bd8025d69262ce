"""The Xero identity adapter on shared.oidc: what the gateway's port promises (ports.XeroIdentity) against an
OpenID provider in process (tests/support/oidc_provider.py), in particular that shared.oidc's errors arrive as the
gateway's own: XeroUnavailable with Xero's Retry-After, OAuthRejected with the OAuth error, "no_refresh_token"
without offline access, InvalidIdToken. The same adapter against the Xero sandbox: test_oauth.py, test_tokens.py."""

from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from oauth_gateway.adapters.xero_identity import XeroIdentityClient
from oauth_gateway.ports import InvalidIdToken, OAuthRejected, XeroUnavailable
from oauth_gateway.settings import XeroSettings
from tests.support.oidc_provider import (CLIENT_ID, CLIENT_SECRET, ISSUER, REDIRECT_URI, FakeOidcProvider,  # noqa: F401
                                         provider, provider_http)

VERIFIER = "v" * 64


@pytest.fixture
def identity(provider_http: httpx.AsyncClient) -> XeroIdentityClient:
    settings = XeroSettings(issuer=ISSUER, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI)
    return XeroIdentityClient(settings, provider_http)


async def _consent(provider: FakeOidcProvider, identity: XeroIdentityClient, nonce: str = "nonce-1") -> str:
    return provider.consent(await identity.authorize_url("state-1", nonce, create_s256_code_challenge(VERIFIER)))


async def test_a_consent_then_refresh_and_revocation_through_the_port(provider, identity):
    url = await identity.authorize_url("state-1", "nonce-1", create_s256_code_challenge(VERIFIER))
    tokens = await identity.exchange_code(provider.consent(url), VERIFIER)
    claims = await identity.verify_id_token(tokens.id_token or "", "nonce-1", tokens.access_token, datetime.now(UTC))
    access = await identity.access_claims(tokens.access_token)
    refreshed = await identity.refresh(tokens.refresh_token)
    with pytest.raises(OAuthRejected) as spent:
        await identity.refresh(tokens.refresh_token)          # rotated: the old refresh token is spent
    await identity.revoke(refreshed.refresh_token)

    assert "offline_access" in parse_qs(url.split("?", 1)[1])["scope"][0].split()
    assert (tokens.scopes, tokens.expires_in) == (("openid", "email"), 1800)
    assert claims["sub"] == access["sub"] == "staff-7" and access["authentication_event_id"]
    assert refreshed.refresh_token != tokens.refresh_token and refreshed.id_token is None
    assert spent.value.error == "invalid_grant"
    revocation = parse_qs(next(r for r in provider.requests if r.url.path == "/revoke").content.decode())
    assert revocation == {"token": [refreshed.refresh_token], "token_type_hint": ["refresh_token"]}
    assert provider.revoked == [refreshed.refresh_token]


@pytest.mark.parametrize(("path", "answer", "retry_after"), [
    ("/token", httpx.Response(429, headers={"Retry-After": "9"}), 9),
    ("/token", httpx.Response(503, text="<html>down</html>"), None),
    ("/revoke", httpx.Response(502, headers={"Retry-After": "40"}), 40),
    ("/.well-known/openid-configuration", httpx.Response(500), None),
])
async def test_xero_away_is_xero_unavailable_with_its_retry_after(provider, identity, path, answer, retry_after):
    provider.faults[path] = [answer]
    call = {"/token": lambda: identity.refresh("a-refresh-token"), "/revoke": lambda: identity.revoke("a-token"),
            "/.well-known/openid-configuration": lambda: identity.authorize_url("state-1", "nonce-1", "c" * 43)}

    with pytest.raises(XeroUnavailable) as away:
        await call[path]()

    assert away.value.retry_after == retry_after
    assert [r.url.path for r in provider.requests][-1] == path


@pytest.mark.parametrize(("answer", "error"), [
    (httpx.Response(400, json={"error": "invalid_grant"}), "invalid_grant"),
    (httpx.Response(401, json={"error": "invalid_client"}), "invalid_client"),
    (httpx.Response(400, text="<html>Bad Request</html>"), "invalid_request"),
])
async def test_a_refusal_is_oauth_rejected_with_the_error_for_tokens_and_revocation(provider, identity, answer, error):
    tokens = await identity.exchange_code(await _consent(provider, identity), VERIFIER)
    provider.faults["/token"], provider.faults["/revoke"] = [answer], [answer]

    with pytest.raises(OAuthRejected) as refreshing:
        await identity.refresh(tokens.refresh_token)
    with pytest.raises(OAuthRejected) as revoking:
        await identity.revoke(tokens.refresh_token)

    assert refreshing.value.error == revoking.value.error == error


async def test_a_consent_without_offline_access_is_rejected_as_no_refresh_token(provider, identity):
    provider.offline = False

    with pytest.raises(OAuthRejected) as rejected:
        await identity.exchange_code(await _consent(provider, identity), VERIFIER)

    assert rejected.value.error == "no_refresh_token"


async def test_a_mixed_up_discovery_document_is_xero_unavailable(provider, identity):
    provider.discovery_issuer = "https://attacker.example.test"

    with pytest.raises(XeroUnavailable, match="another issuer"):
        await identity.authorize_url("state-1", "nonce-1", create_s256_code_challenge(VERIFIER))


async def test_tokens_that_do_not_check_out_are_invalid_id_token(provider, identity):
    tokens = await identity.exchange_code(await _consent(provider, identity), VERIFIER)
    elsewhere = provider.sign({"iss": "https://attacker.example.test", "sub": "staff-7"})
    foreign = provider.sign({"iss": ISSUER, "sub": "staff-7"}, key=provider.new_key())

    with pytest.raises(InvalidIdToken):
        await identity.verify_id_token(tokens.id_token or "", "another-nonce", tokens.access_token, datetime.now(UTC))
    with pytest.raises(InvalidIdToken, match="another issuer"):
        await identity.access_claims(elsewhere)
    with pytest.raises(InvalidIdToken):
        await identity.access_claims(foreign)
