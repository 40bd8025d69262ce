"""GET /api.xro/2.0/Organisation: envelope, Class per org, XML default, tenant errors, Xero-side changes."""

import re

import httpx
import pytest

from sandboxes.xero import (
    DEMO_COMPANY_UK_TENANT_ID,
    OTHER_ORG_TENANT_ID,
    STEVE_PREMIUM_TENANT_ID,
    STEVE_STARTER_TENANT_ID,
    STEVE_TEST_STORE_TENANT_ID,
    STEVE_TRIAL_TENANT_ID,
)

ALL_STEVE = {STEVE_TEST_STORE_TENANT_ID: ("Steve Test Store", "STANDARD", False),
             STEVE_PREMIUM_TENANT_ID: ("Steve Premium Ltd", "PREMIUM", False),
             STEVE_STARTER_TENANT_ID: ("Steve Starter Ltd", "STARTER", False),
             STEVE_TRIAL_TENANT_ID: ("Steve Trial Ltd", "TRIAL", False),
             DEMO_COMPANY_UK_TENANT_ID: ("Demo Company (UK)", "DEMO", True)}


async def org(sandbox, token, tenant, accept="application/json", path="/api.xro/2.0/Organisation"):
    headers = {"Authorization": f"Bearer {token['access_token']}", "Accept": accept}
    if tenant is not None:
        headers["xero-tenant-id"] = tenant
    async with httpx.AsyncClient() as http:
        return await http.get(sandbox.base_url + path, headers=headers)


async def test_each_org_reports_its_class(sandbox):
    async with sandbox.browser() as browser:
        for tenant in ALL_STEVE:  # one org per pass, login only on the first
            token = await sandbox.connect(browser=browser, tenants=[tenant])
    login_posts = [c for c in sandbox.state()["calls"] if c["path"] == "/identity/user/login"
                   and c["method"] == "POST"]
    assert len(login_posts) == 1
    for tenant, (name, cls, demo) in ALL_STEVE.items():
        response = await org(sandbox, token, tenant)
        assert response.status_code == 200
        body = response.json()
        assert list(body) == ["Id", "Status", "ProviderName", "DateTimeUTC", "Organisations"]
        assert body["Status"] == "OK" and body["ProviderName"] == "Citrus-Lime Cloud POS"
        assert re.fullmatch(r"/Date\(\d+\)/", body["DateTimeUTC"])
        [o] = body["Organisations"]
        assert o["OrganisationID"] == tenant and o["Name"] == name and o["Class"] == cls
        assert o["IsDemoCompany"] is demo and o["Edition"] == "BUSINESS" and o["OrganisationStatus"] == "ACTIVE"
        for field in ("LegalName", "CountryCode", "BaseCurrency", "OrganisationType", "Version", "ShortCode"):
            assert o[field]
        assert response.headers["x-minlimit-remaining"] == "59"
        assert response.headers["x-daylimit-remaining"] == "4999"
        assert "x-appminlimit-remaining" in response.headers


async def test_xml_unless_json_is_asked_for(sandbox):
    token = await sandbox.connect()
    response = await org(sandbox, token, STEVE_TEST_STORE_TENANT_ID, accept="*/*")
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Class>STANDARD</Class>" in response.text and "<Status>OK</Status>" in response.text


async def test_path_case_insensitive_and_unknown_resources_404(sandbox):
    token = await sandbox.connect()
    assert (await org(sandbox, token, STEVE_TEST_STORE_TENANT_ID, path="/api.xro/2.0/organisation")).status_code == 200
    missing = await org(sandbox, token, STEVE_TEST_STORE_TENANT_ID, path="/api.xro/2.0/Nope")
    assert missing.status_code == 404 and missing.text == "The resource you're looking for cannot be found"


@pytest.mark.parametrize("tenant", [None, "", "not-a-uuid", "0b7e1c9a-1111-4222-8333-944455556666",
                                    STEVE_PREMIUM_TENANT_ID, OTHER_ORG_TENANT_ID])
async def test_missing_unknown_or_unconnected_tenant_is_403(sandbox, tenant):
    token = await sandbox.connect()
    response = await org(sandbox, token, tenant)
    body = response.json()
    assert response.status_code == 403
    assert body["Title"] == "Forbidden" and body["Status"] == 403 and body["Detail"] == "AuthenticationUnsuccessful"
    assert set(body) == {"Type", "Title", "Status", "Detail", "Instance", "Extensions"}


async def test_missing_settings_scope_is_401_insufficient_scope(sandbox):
    token = await sandbox.connect(scope="openid offline_access accounting.contacts.read")
    response = await org(sandbox, token, STEVE_TEST_STORE_TENANT_ID)
    assert response.status_code == 401 and "insufficient_scope" in response.headers["www-authenticate"]


async def test_removed_in_xero_gives_403_and_refresh_still_works(sandbox):
    token = await sandbox.connect()
    result = sandbox.control("POST", f"/_sandbox/tenants/{STEVE_TEST_STORE_TENANT_ID}/remove-app")
    assert result == {"removed_connections": 1}
    assert (await org(sandbox, token, STEVE_TEST_STORE_TENANT_ID)).status_code == 403
    async with httpx.AsyncClient() as http:
        listed = await http.get(f"{sandbox.base_url}/connections",
                                headers={"Authorization": f"Bearer {token['access_token']}"})
        refreshed = await http.post(sandbox.token_url, auth=(sandbox.client_id, sandbox.client_secret),
                                    data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert listed.json() == []
    assert refreshed.status_code == 200


async def test_refresh_can_require_a_connection_when_configured(make_sandbox):
    with make_sandbox(refresh_requires_connection=True) as sb:
        token = await sb.connect()
        sb.control("POST", f"/_sandbox/tenants/{STEVE_TEST_STORE_TENANT_ID}/remove-app")
        async with httpx.AsyncClient() as http:
            refreshed = await http.post(sb.token_url, auth=(sb.client_id, sb.client_secret),
                                        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert refreshed.json() == {"error": "invalid_grant"}


async def test_org_deleted_and_demo_reset(sandbox):
    async with sandbox.browser() as browser:
        await sandbox.connect(browser=browser, tenants=[STEVE_TRIAL_TENANT_ID])
        token = await sandbox.connect(browser=browser, tenants=[DEMO_COMPANY_UK_TENANT_ID])
        sandbox.control("POST", f"/_sandbox/tenants/{STEVE_TRIAL_TENANT_ID}/delete-org")
        reset = sandbox.control("POST", f"/_sandbox/tenants/{DEMO_COMPANY_UK_TENANT_ID}/demo-reset")
        assert (await org(sandbox, token, STEVE_TRIAL_TENANT_ID)).status_code == 403
        assert (await org(sandbox, token, DEMO_COMPANY_UK_TENANT_ID)).status_code == 403
        new_id = reset["new_tenant_id"]
        assert new_id != DEMO_COMPANY_UK_TENANT_ID
        page = await browser.get(sandbox.authorize_url, params={
            "response_type": "code", "client_id": sandbox.client_id, "redirect_uri": sandbox.redirect_uri,
            "scope": sandbox.scopes})
        assert "Steve Trial Ltd" not in page.text and new_id in page.text
        token = await sandbox.connect(browser=browser, tenants=[new_id])
    body = (await org(sandbox, token, new_id)).json()
    assert body["Organisations"][0]["Name"] == "Demo Company (UK)"


async def test_class_can_be_changed_per_org(sandbox):
    token = await sandbox.connect()
    sandbox.control("PATCH", f"/_sandbox/tenants/{STEVE_TEST_STORE_TENANT_ID}",
                    {"Class": "ULTRA", "Edition": "PARTNER"})
    o = (await org(sandbox, token, STEVE_TEST_STORE_TENANT_ID)).json()["Organisations"][0]
    assert (o["Class"], o["Edition"]) == ("ULTRA", "PARTNER")


async def test_write_methods_not_implemented(sandbox):
    token = await sandbox.connect()
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{sandbox.base_url}/api.xro/2.0/Organisation",
                                   headers={"Authorization": f"Bearer {token['access_token']}"})
    assert response.status_code == 501
