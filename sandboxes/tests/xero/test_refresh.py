"""Refresh rotation with the 30-minute grace, 60-day idle expiry, revocation, and access-token expiry."""

import httpx
import pytest
from authlib.integrations.base_client import OAuthError

from sandboxes.xero import STEVE_PREMIUM_TENANT_ID, STEVE_TEST_STORE_TENANT_ID


async def refresh(sandbox, refresh_token, scope=None):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if scope:
        data["scope"] = scope
    async with httpx.AsyncClient() as http:
        return await http.post(sandbox.token_url, data=data, auth=(sandbox.client_id, sandbox.client_secret))


async def organisation(sandbox, access_token, tenant=STEVE_TEST_STORE_TENANT_ID):
    async with httpx.AsyncClient() as http:
        return await http.get(f"{sandbox.base_url}/api.xro/2.0/Organisation", headers={
            "Authorization": f"Bearer {access_token}", "xero-tenant-id": tenant, "Accept": "application/json"})


async def test_authlib_refresh_rotates_the_refresh_token(sandbox):
    token = await sandbox.connect()
    async with sandbox.oauth_client(token=token) as client:
        new = await client.refresh_token(sandbox.token_url, refresh_token=token["refresh_token"])
    assert new["refresh_token"] != token["refresh_token"]
    assert new["access_token"] != token["access_token"] and new["expires_in"] == 1800
    assert "id_token" in new
    assert (await organisation(sandbox, new["access_token"])).status_code == 200


async def test_old_refresh_token_works_during_grace_then_fails(sandbox):
    token = await sandbox.connect()
    first = (await refresh(sandbox, token["refresh_token"])).json()
    sandbox.advance(29 * 60)
    retry = await refresh(sandbox, token["refresh_token"])
    assert retry.status_code == 200  # a lost response can be retried with the old token
    assert retry.json()["refresh_token"] not in (first["refresh_token"], token["refresh_token"])
    assert (await refresh(sandbox, first["refresh_token"])).status_code == 200  # first successor still valid
    sandbox.advance(2 * 60)
    late = await refresh(sandbox, token["refresh_token"])
    assert late.status_code == 400 and late.json() == {"error": "invalid_grant"}


async def test_grace_reuse_can_revoke_successor_when_configured(make_sandbox):
    with make_sandbox(grace_reuse_revokes_successor=True) as sb:
        token = await sb.connect()
        first = (await refresh(sb, token["refresh_token"])).json()
        assert (await refresh(sb, token["refresh_token"])).status_code == 200
        assert (await refresh(sb, first["refresh_token"])).json() == {"error": "invalid_grant"}


async def test_refresh_token_expires_after_60_days_unused(sandbox):
    token = await sandbox.connect()
    sandbox.advance(60 * 86400 - 60)
    still = await refresh(sandbox, token["refresh_token"])
    assert still.status_code == 200
    sandbox.advance(60 * 86400 + 1)
    dead = await refresh(sandbox, still.json()["refresh_token"])
    assert dead.status_code == 400 and dead.json() == {"error": "invalid_grant"}


async def test_control_expires_a_refresh_token(sandbox):
    token = await sandbox.connect()
    assert sandbox.control("POST", "/_sandbox/refresh-tokens/expire",
                           {"refresh_token": token["refresh_token"]}) == {"expired": 1}
    async with sandbox.oauth_client(token=token) as client:
        with pytest.raises(OAuthError) as raised:
            await client.refresh_token(sandbox.token_url, refresh_token=token["refresh_token"])
    assert raised.value.error == "invalid_grant"


async def test_refresh_scope_beyond_grant_is_invalid_scope(sandbox):
    token = await sandbox.connect()
    wider = await refresh(sandbox, token["refresh_token"], scope=sandbox.scopes + " accounting.contacts")
    assert wider.status_code == 400 and wider.json() == {"error": "invalid_scope"}
    same = await refresh(sandbox, token["refresh_token"], scope=sandbox.scopes)
    assert same.status_code == 200 and same.json()["scope"] == sandbox.scopes


async def test_access_token_expires_after_30_minutes(sandbox):
    token = await sandbox.connect()
    sandbox.advance(1801)
    response = await organisation(sandbox, token["access_token"])
    body = response.json()
    assert response.status_code == 401
    assert body["Title"] == "Unauthorized" and body["Detail"].startswith("TokenExpired: token expired at ")
    fresh = (await refresh(sandbox, token["refresh_token"])).json()
    assert (await organisation(sandbox, fresh["access_token"])).status_code == 200


async def test_revocation_removes_all_connections_and_kills_refresh(sandbox):
    async with sandbox.browser() as browser:
        token = await sandbox.connect(browser=browser)
        token = await sandbox.connect(browser=browser, tenants=[STEVE_PREMIUM_TENANT_ID])
    assert len(sandbox.state()["connections"]) == 2
    async with sandbox.oauth_client(token=token) as client:
        response = await client.revoke_token(f"{sandbox.base_url}/connect/revocation",
                                             token=token["refresh_token"], token_type_hint="refresh_token")
    assert response.status_code == 200 and response.content == b""
    assert sandbox.state()["connections"] == []
    assert (await refresh(sandbox, token["refresh_token"])).json() == {"error": "invalid_grant"}
    assert (await organisation(sandbox, token["access_token"])).status_code == 403


async def test_revoking_an_access_token_does_nothing(sandbox):
    token = await sandbox.connect()
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{sandbox.base_url}/connect/revocation", data={"token": token["access_token"]},
                                   auth=(sandbox.client_id, sandbox.client_secret))
        bad_client = await http.post(f"{sandbox.base_url}/connect/revocation",
                                     data={"token": token["refresh_token"]}, auth=(sandbox.client_id, "nope"))
    assert response.status_code == 200
    assert bad_client.status_code == 400 and bad_client.json() == {"error": "invalid_client"}
    assert len(sandbox.state()["connections"]) == 1
    assert (await refresh(sandbox, token["refresh_token"])).status_code == 200
