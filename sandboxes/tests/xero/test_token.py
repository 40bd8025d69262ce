"""Token endpoint with Authlib: PKCE S256, id_token checked against the JWKS, code rules, client auth."""

from urllib.parse import urlencode

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from sandboxes.xero import STEVE_EMAIL, STEVE_TEST_STORE_TENANT_ID
from sandboxes.xero.demo_data import STEVE_SUB, STEVE_XERO_USERID


async def get_code(sandbox, *, scope=None, verifier=None, nonce="n-0S6_WzA2Mj"):
    """Browser steps via Authlib's URL builder; returns (code, verifier)."""
    verifier = verifier or generate_token(48)
    async with sandbox.oauth_client(scope or sandbox.scopes) as client, sandbox.browser() as browser:
        url, _ = client.create_authorization_url(sandbox.authorize_url, code_verifier=verifier, nonce=nonce)
        location = await sandbox.consent(url, browser)
    return sandbox.query_of(location)["code"], verifier


async def exchange(sandbox, code, verifier, *, auth=None, redirect_uri=None, extra=None):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri or sandbox.redirect_uri,
            "code_verifier": verifier, **(extra or {})}
    async with httpx.AsyncClient() as http:
        return await http.post(sandbox.token_url, data=data,
                               auth=auth if auth is not None else (sandbox.client_id, sandbox.client_secret))


async def test_full_flow_with_authlib_and_validated_id_token(sandbox):
    token = await sandbox.connect(nonce="nonce-abc-123")
    assert list(token)[:6] == ["id_token", "access_token", "expires_in", "token_type", "refresh_token", "scope"]
    assert token["expires_in"] == 1800 and token["token_type"] == "Bearer"
    assert token["scope"] == sandbox.scopes
    async with httpx.AsyncClient() as http:
        jwks = (await http.get(f"{sandbox.base_url}/.well-known/openid-configuration/jwks")).json()
    keys = KeySet.import_key_set(jwks)
    id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    JWTClaimsRegistry(iss={"essential": True, "value": sandbox.base_url},
                      aud={"essential": True, "value": sandbox.client_id},
                      nonce={"essential": True, "value": "nonce-abc-123"},
                      exp={"essential": True}).validate(id_token.claims)
    claims = id_token.claims
    assert claims["email"] == STEVE_EMAIL and claims["given_name"] == "Steve" and claims["family_name"] == "Tester"
    assert claims["sub"] == STEVE_SUB and claims["xero_userid"] == STEVE_XERO_USERID
    assert {"at_hash", "sid", "auth_time", "global_session_id", "preferred_username"} <= set(claims)
    assert id_token.header["kid"] == jwks["keys"][0]["kid"]

    access = jwt.decode(token["access_token"], keys, algorithms=["RS256"])
    assert access.header["typ"] == "JWT" and access.header["x5t"] == jwks["keys"][0]["x5t"]
    a = access.claims
    assert a["iss"] == sandbox.base_url and a["aud"] == f"{sandbox.base_url}/resources"
    assert a["scope"] == sandbox.scopes.split()  # a JSON array, as Xero sends
    assert a["client_id"] == sandbox.client_id and a["sub"] == STEVE_SUB
    assert a["exp"] - a["nbf"] == 1800
    for claim in ("authentication_event_id", "xero_userid", "global_session_id", "sid", "auth_time", "jti", "idp"):
        assert claim in a
    assert a["sid"] == claims["sid"] and a["global_session_id"] == claims["global_session_id"]
    connection = sandbox.state()["connections"][0]
    assert connection["authEventId"] == a["authentication_event_id"]


async def test_userinfo(sandbox):
    token = await sandbox.connect()
    async with httpx.AsyncClient() as http:
        ok = await http.get(f"{sandbox.base_url}/connect/userinfo",
                            headers={"Authorization": f"Bearer {token['access_token']}"})
        bad = await http.get(f"{sandbox.base_url}/connect/userinfo", headers={"Authorization": "Bearer nope"})
    assert ok.json() == {"sub": STEVE_SUB, "xero_userid": STEVE_XERO_USERID, "preferred_username": STEVE_EMAIL,
                         "email": STEVE_EMAIL, "given_name": "Steve", "family_name": "Tester"}
    assert bad.status_code == 401


async def test_code_is_single_use(sandbox):
    code, verifier = await get_code(sandbox)
    assert (await exchange(sandbox, code, verifier)).status_code == 200
    replay = await exchange(sandbox, code, verifier)
    assert replay.status_code == 400 and replay.json() == {"error": "invalid_grant"}


async def test_code_expires_after_five_minutes(sandbox):
    code, verifier = await get_code(sandbox)
    sandbox.advance(301)
    response = await exchange(sandbox, code, verifier)
    assert response.status_code == 400 and response.json() == {"error": "invalid_grant"}


async def test_code_just_inside_five_minutes_works(sandbox):
    code, verifier = await get_code(sandbox)
    sandbox.advance(290)
    assert (await exchange(sandbox, code, verifier)).status_code == 200


async def test_code_is_case_sensitive(sandbox):
    code, verifier = await get_code(sandbox)
    assert code != code.lower()
    response = await exchange(sandbox, code.lower(), verifier)
    assert response.json() == {"error": "invalid_grant"}


@pytest.mark.parametrize("verifier", ["wrong-" + "a" * 50, None])
async def test_wrong_or_missing_pkce_verifier(sandbox, verifier):
    code, _ = await get_code(sandbox)
    data_verifier = verifier if verifier is not None else ""
    response = await exchange(sandbox, code, data_verifier)
    assert response.status_code == 400 and response.json() == {"error": "invalid_grant"}


async def test_redirect_uri_must_match(sandbox):
    code, verifier = await get_code(sandbox)
    response = await exchange(sandbox, code, verifier, redirect_uri="http://localhost:8123/other")
    assert response.json() == {"error": "invalid_grant"}


async def test_client_secret_post_is_accepted(sandbox):
    code, verifier = await get_code(sandbox)
    response = await exchange(sandbox, code, verifier, auth=httpx.Auth(),  # no Authorization header
                              extra={"client_id": sandbox.client_id, "client_secret": sandbox.client_secret})
    assert response.status_code == 200 and response.json()["access_token"]


@pytest.mark.parametrize("auth", [("5F1D9C8A2B3E4F60718293A4B5C6D7E8", "wrong"), ("unknown", "x")])
async def test_bad_client_credentials_are_invalid_client(sandbox, auth):
    code, verifier = await get_code(sandbox)
    response = await exchange(sandbox, code, verifier, auth=auth)
    assert response.status_code == 400 and response.json() == {"error": "invalid_client"}
    # the failed attempt did not consume the code
    assert (await exchange(sandbox, code, verifier)).status_code == 200


async def test_malformed_basic_header_is_invalid_client(sandbox):
    async with httpx.AsyncClient() as http:
        response = await http.post(sandbox.token_url, content=urlencode({"grant_type": "refresh_token"}),
                                   headers={"Authorization": "Basic %%%",
                                            "Content-Type": "application/x-www-form-urlencoded"})
    assert response.json() == {"error": "invalid_client"}


@pytest.mark.parametrize("grant_type, error", [("", "unsupported_grant_type"), ("password", "unsupported_grant_type"),
                                               ("client_credentials", "unauthorized_client")])
async def test_grant_type_errors(sandbox, grant_type, error):
    async with httpx.AsyncClient() as http:
        response = await http.post(sandbox.token_url, data={"grant_type": grant_type},
                                   auth=(sandbox.client_id, sandbox.client_secret))
    assert response.status_code == 400 and response.json() == {"error": error}


async def test_without_offline_access_no_refresh_token_and_without_openid_no_id_token(sandbox):
    code, verifier = await get_code(sandbox, scope="accounting.settings.read")
    body = (await exchange(sandbox, code, verifier)).json()
    assert "refresh_token" not in body and "id_token" not in body
    assert body["scope"] == "accounting.settings.read"


async def test_authlib_surfaces_invalid_grant(sandbox):
    code, verifier = await get_code(sandbox)
    await exchange(sandbox, code, verifier)
    async with sandbox.oauth_client() as client:
        with pytest.raises(OAuthError) as raised:
            await client.fetch_token(sandbox.token_url, code=code, code_verifier=verifier)
    assert raised.value.error == "invalid_grant"


async def test_scopes_are_additive_across_consents(sandbox):
    async with sandbox.browser() as browser:
        await sandbox.connect(scope="openid offline_access accounting.settings.read", browser=browser)
        token = await sandbox.connect(scope="openid offline_access accounting.contacts.read", browser=browser,
                                      tenants=[STEVE_TEST_STORE_TENANT_ID])
    assert set(token["scope"].split()) == {"openid", "offline_access", "accounting.settings.read",
                                          "accounting.contacts.read"}
