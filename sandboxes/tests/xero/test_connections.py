"""GET/DELETE /connections: field names, timestamp format, authEventId filter, 204/404/403."""

import re

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from sandboxes.xero import (
    DEMO_COMPANY_UK_TENANT_ID,
    OTHER_EMAIL,
    OTHER_ORG_TENANT_ID,
    STEVE_PREMIUM_TENANT_ID,
    STEVE_TEST_STORE_TENANT_ID,
)

XERO_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}$")


def claims_of(sandbox, access_token):
    keys = KeySet.import_key_set(httpx.get(f"{sandbox.base_url}/.well-known/openid-configuration/jwks").json())
    return jwt.decode(access_token, keys).claims


async def get(sandbox, token, path="/connections", **params):
    async with httpx.AsyncClient() as http:
        return await http.get(sandbox.base_url + path, params=params,
                              headers={"Authorization": f"Bearer {token['access_token']}"})


async def delete(sandbox, token, ident):
    async with httpx.AsyncClient() as http:
        return await http.delete(f"{sandbox.base_url}/connections/{ident}",
                                 headers={"Authorization": f"Bearer {token['access_token']}"})


async def test_list_has_xero_fields_format_and_headers(sandbox):
    token = await sandbox.connect()
    response = await get(sandbox, token)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "max-age=0, no-cache, no-store"
    assert int(response.headers["x-appminlimit-remaining"]) == 9999
    assert "x-minlimit-remaining" not in response.headers and "x-daylimit-remaining" not in response.headers
    [conn] = response.json()
    assert list(conn) == ["id", "authEventId", "tenantId", "tenantType", "tenantName", "createdDateUtc",
                          "updatedDateUtc"]
    assert conn["tenantId"] == STEVE_TEST_STORE_TENANT_ID and conn["tenantType"] == "ORGANISATION"
    assert conn["tenantName"] == "Steve Test Store"
    assert XERO_TIMESTAMP.match(conn["createdDateUtc"]) and XERO_TIMESTAMP.match(conn["updatedDateUtc"])


async def test_path_is_case_insensitive(sandbox):
    token = await sandbox.connect()
    assert (await get(sandbox, token, "/Connections")).json() == (await get(sandbox, token)).json()


async def test_auth_event_filter_finds_the_org_just_picked(sandbox):
    async with sandbox.browser() as browser:
        first = await sandbox.connect(browser=browser)
        sandbox.advance(5)
        second = await sandbox.connect(browser=browser, tenants=[STEVE_PREMIUM_TENANT_ID])
    event = claims_of(sandbox, second["access_token"])["authentication_event_id"]
    assert event != claims_of(sandbox, first["access_token"])["authentication_event_id"]
    everything = (await get(sandbox, second)).json()
    assert {c["tenantId"] for c in everything} == {STEVE_TEST_STORE_TENANT_ID, STEVE_PREMIUM_TENANT_ID}
    picked = (await get(sandbox, second, authEventId=event)).json()
    assert [c["tenantId"] for c in picked] == [STEVE_PREMIUM_TENANT_ID]
    assert (await get(sandbox, second, authEventId=event.upper())).json() == picked


async def test_reconnecting_keeps_id_and_updates_event_and_updated_date(sandbox):
    async with sandbox.browser() as browser:
        first = await sandbox.connect(browser=browser)
        [before] = (await get(sandbox, first)).json()
        sandbox.advance(3600)
        again = await sandbox.connect(browser=browser)
    [after] = (await get(sandbox, again)).json()
    assert after["id"] == before["id"] and after["createdDateUtc"] == before["createdDateUtc"]
    assert after["authEventId"] != before["authEventId"] and after["updatedDateUtc"] > before["updatedDateUtc"]


async def test_connections_are_per_user(sandbox):
    steve = await sandbox.connect()
    async with sandbox.browser() as browser, sandbox.oauth_client() as client:
        url, _ = client.create_authorization_url(sandbox.authorize_url, code_verifier="v" * 50)
        location = await sandbox.consent(url, browser, tenants=[OTHER_ORG_TENANT_ID], email=OTHER_EMAIL)
        other = await client.fetch_token(sandbox.token_url, authorization_response=location, code_verifier="v" * 50)
    assert [c["tenantId"] for c in (await get(sandbox, other)).json()] == [OTHER_ORG_TENANT_ID]
    steve_conn = (await get(sandbox, steve)).json()[0]
    forbidden = await delete(sandbox, other, steve_conn["id"])
    assert forbidden.status_code == 403 and forbidden.json()["detail"] == "AuthenticationUnsuccessful"


async def test_delete_204_then_404_and_403_for_tenant_or_event_ids(sandbox):
    async with sandbox.browser() as browser:
        await sandbox.connect(browser=browser)
        token = await sandbox.connect(browser=browser, tenants=[DEMO_COMPANY_UK_TENANT_ID])
    conns = (await get(sandbox, token)).json()
    target = next(c for c in conns if c["tenantId"] == STEVE_TEST_STORE_TENANT_ID)
    assert (await delete(sandbox, token, target["tenantId"])).status_code == 403
    assert (await delete(sandbox, token, target["authEventId"])).status_code == 403
    gone = await delete(sandbox, token, target["id"])
    assert gone.status_code == 204 and gone.content == b""
    again = await delete(sandbox, token, target["id"])
    assert again.status_code == 404
    assert (await delete(sandbox, token, "0b7e1c9a-1111-4222-8333-944455556666")).status_code == 404
    remaining = (await get(sandbox, token)).json()
    assert [c["tenantId"] for c in remaining] == [DEMO_COMPANY_UK_TENANT_ID]
    # the token keeps working for the other connection
    async with httpx.AsyncClient() as http:
        org = await http.get(f"{sandbox.base_url}/api.xro/2.0/Organisation", headers={
            "Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": DEMO_COMPANY_UK_TENANT_ID,
            "Accept": "application/json"})
        removed = await http.get(f"{sandbox.base_url}/api.xro/2.0/Organisation", headers={
            "Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": STEVE_TEST_STORE_TENANT_ID,
            "Accept": "application/json"})
    assert org.status_code == 200 and removed.status_code == 403


async def test_connections_need_a_valid_bearer(sandbox):
    async with httpx.AsyncClient() as http:
        none = await http.get(f"{sandbox.base_url}/connections")
        junk = await http.get(f"{sandbox.base_url}/connections", headers={"Authorization": "Bearer x.y.z"})
    assert none.status_code == 401 and junk.status_code == 401
    assert junk.json()["title"] == "Unauthorized"  # lower-case keys on the identity side
