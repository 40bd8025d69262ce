"""shared.oidc's relying party against a small OpenID provider in process (tests/support/oidc_provider.py): real
RS256 keys, PKCE checked by the provider, HTTP Basic client authentication. Every check the client makes is
shown to refuse what it should: a mixed-up discovery document, a rotated or foreign key, an ID token for another
nonce, audience or issuer or access token, and a token endpoint that is away or says no."""

import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from shared.oidc import IdTokenRejected, OidcClient, ProviderRefused, ProviderUnavailable
from tests.support.oidc_provider import (CLIENT_ID, CLIENT_SECRET, ISSUER, REDIRECT_URI, FakeOidcProvider,  # noqa: F401
                                         provider, provider_http)

VERIFIER = "v" * 64


@pytest.fixture
def client(provider_http: httpx.AsyncClient) -> OidcClient:
    return OidcClient(ISSUER + "/", CLIENT_ID, CLIENT_SECRET, provider_http)   # a trailing slash is the same issuer


async def _code(provider: FakeOidcProvider, client: OidcClient, nonce: str = "nonce-1") -> str:
    url = await client.authorize_url(REDIRECT_URI, ["openid", "email"], state="state-1", nonce=nonce,
                                     code_challenge=create_s256_code_challenge(VERIFIER))
    return provider.consent(url)


async def _sign_in(provider: FakeOidcProvider, client: OidcClient, nonce: str = "nonce-1") -> dict:
    return await client.exchange_code(await _code(provider, client, nonce), VERIFIER, REDIRECT_URI)


async def test_a_sign_in_sends_pkce_s256_a_nonce_and_the_exact_redirect_and_yields_checked_claims(provider, client):
    url = await client.authorize_url(REDIRECT_URI, ["openid", "email"], state="state-1", nonce="nonce-1",
                                     code_challenge=create_s256_code_challenge(VERIFIER), prompt="login")
    sent = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    answer = await client.exchange_code(provider.consent(url), VERIFIER, REDIRECT_URI)
    claims = await client.verify_id_token(answer["id_token"], nonce="nonce-1", access_token=answer["access_token"],
                                          now=datetime.now(UTC))

    assert url.startswith(f"{ISSUER}/authorize?")
    assert sent == {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
                    "scope": "openid email", "state": "state-1", "nonce": "nonce-1", "prompt": "login",
                    "code_challenge": create_s256_code_challenge(VERIFIER), "code_challenge_method": "S256"}
    assert (claims["sub"], claims["email"], claims["aud"]) == ("staff-7", "ana@staff.example", CLIENT_ID)
    token_call = next(r for r in provider.requests if r.url.path == "/token")
    assert CLIENT_SECRET not in token_call.content.decode()          # HTTP Basic, not in the body
    assert [r.url.path for r in provider.requests].count("/.well-known/openid-configuration") == 1  # cached


async def test_a_discovery_document_naming_another_issuer_is_refused_and_nothing_is_sent_on(provider, client):
    provider.discovery_issuer = "https://attacker.example.test"

    with pytest.raises(ProviderUnavailable, match="another issuer"):
        await client.authorize_url(REDIRECT_URI, ["openid"], state="s", nonce="n", code_challenge="c")
    with pytest.raises(ProviderUnavailable):
        await client.exchange_code("code", VERIFIER, REDIRECT_URI)

    assert {r.url.path for r in provider.requests} == {"/.well-known/openid-configuration"}


async def test_a_rotated_key_refetches_the_jwks_once_and_an_unknown_key_is_refused_after_one_refetch(
        provider, client):
    first = await _sign_in(provider, client)
    await client.decode(first["id_token"])
    await client.decode(first["access_token"])
    assert provider.jwks_fetches == 1                                  # cached while the kid is known

    provider.rotate()
    rotated = await _sign_in(provider, client)
    assert (await client.decode(rotated["id_token"])).claims["sub"] == "staff-7"
    assert provider.jwks_fetches == 2                                  # the new kid: one refetch

    foreign = provider.sign({"iss": ISSUER, "sub": "staff-7"}, key=provider.new_key())   # never published
    with pytest.raises(IdTokenRejected):
        await client.decode(foreign)
    assert provider.jwks_fetches == 3                                  # one refetch, then refused


@pytest.mark.parametrize(("bent", "nonce"), [
    ({}, "another-nonce"),                                   # a token minted for another sign-in
    ({"nonce": None}, "nonce-1"),
    ({"aud": "another-client"}, "nonce-1"),
    ({"iss": "https://attacker.example.test"}, "nonce-1"),
    ({"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}, "nonce-1"),     # issued with another access token
    ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "nonce-1"),
], ids=["nonce", "no-nonce", "aud", "iss", "at_hash", "expired"])
async def test_an_id_token_that_does_not_match_is_refused(provider, client, bent, nonce):
    await _sign_in(provider, client)                       # the same provider's keys, already fetched
    provider.id_claims = bent
    answer = await _sign_in(provider, client)

    with pytest.raises(IdTokenRejected):
        await client.verify_id_token(answer["id_token"], nonce=nonce, access_token=answer["access_token"],
                                     now=datetime.now(UTC))


@pytest.mark.parametrize(("status", "retry_after", "seconds"), [
    (429, "7", 7), (503, None, None), (500, "Wed, 21 Oct 2026 07:28:00 GMT", None), (502, "30", 30)])
async def test_a_token_endpoint_that_is_away_is_unavailable_with_its_retry_after(
        provider, client, status, retry_after, seconds):
    code = await _code(provider, client)
    headers = {"Retry-After": retry_after} if retry_after else {}
    provider.faults["/token"] = [httpx.Response(status, headers=headers, text="<html>busy</html>")]

    with pytest.raises(ProviderUnavailable) as away:
        await client.exchange_code(code, VERIFIER, REDIRECT_URI)

    assert away.value.retry_after == seconds
    assert str(status) in str(away.value)


async def test_a_replayed_code_or_a_wrong_verifier_is_refused_with_invalid_grant(provider, client):
    code = await _code(provider, client)
    await client.exchange_code(code, VERIFIER, REDIRECT_URI)

    with pytest.raises(ProviderRefused) as replayed:
        await client.exchange_code(code, VERIFIER, REDIRECT_URI)
    with pytest.raises(ProviderRefused) as wrong_verifier:
        await client.exchange_code(await _code(provider, client), "w" * 64, REDIRECT_URI)

    assert replayed.value.error == wrong_verifier.value.error == "invalid_grant"


@pytest.mark.parametrize(("answer", "error"), [
    (httpx.Response(401, json={"error": "invalid_client"}), "invalid_client"),
    (httpx.Response(400, json={"error_description": "no error code"}), "invalid_request"),
    (httpx.Response(400, text="<html>Bad Request</html>"), "invalid_request"),
    (httpx.Response(200, json={"token_type": "Bearer"}), "invalid_request"),          # 200 without a token
])
async def test_other_refusals_carry_the_oauth_error_or_invalid_request(provider, client, answer, error):
    code = await _code(provider, client)
    provider.faults["/token"] = [answer]

    with pytest.raises(ProviderRefused) as refused:
        await client.exchange_code(code, VERIFIER, REDIRECT_URI)

    assert refused.value.error == error


async def test_a_wrong_client_secret_is_refused_as_invalid_client(provider):
    async with httpx.AsyncClient(transport=provider.transport()) as http:
        client = OidcClient(ISSUER, CLIENT_ID, "not-the-secret", http)
        with pytest.raises(ProviderRefused) as refused:
            await _sign_in(provider, client)

    assert refused.value.error == "invalid_client"


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/jwks", "/token"])
async def test_an_unreadable_answer_is_unavailable(provider, client, path):
    provider.faults[path] = [httpx.Response(200, text="<html>maintenance</html>")]

    with pytest.raises(ProviderUnavailable, match="unreadable"):
        answer = await _sign_in(provider, client)
        await client.decode(answer["id_token"])


async def test_an_unreachable_provider_is_unavailable():
    async def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as http:
        with pytest.raises(ProviderUnavailable, match="ConnectError"):
            await OidcClient(ISSUER, CLIENT_ID, CLIENT_SECRET, http).metadata()
