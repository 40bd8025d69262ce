"""The browser side: request validation, login only without a session, consent page, Cancel and Allow."""

import re
from urllib.parse import urlencode

import pytest

from sandboxes.xero import (
    DEMO_COMPANY_UK_TENANT_ID,
    DEMO_PASSWORD,
    OTHER_EMAIL,
    OTHER_ORG_TENANT_ID,
    STEVE_EMAIL,
    STEVE_PREMIUM_TENANT_ID,
    STEVE_TEST_STORE_TENANT_ID,
)

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def authorize_url(sandbox, **overrides) -> str:
    params = {"response_type": "code", "client_id": sandbox.client_id, "redirect_uri": sandbox.redirect_uri,
              "scope": sandbox.scopes, "state": "st-123", "code_challenge": CHALLENGE,
              "code_challenge_method": "S256", **overrides}
    return f"{sandbox.authorize_url}?{urlencode({k: v for k, v in params.items() if v is not None})}"


@pytest.mark.parametrize("overrides, message", [
    ({"client_id": "0000000000000000000000000000DEAD"}, "unauthorized_client : Unknown client"),
    ({"redirect_uri": "http://localhost:8123/xero/callback/"}, "unauthorized_client : Invalid redirect_uri"),
    ({"redirect_uri": "http://evil.example/cb"}, "unauthorized_client : Invalid redirect_uri"),
    ({"scope": "openid accounting.settings.read paymentservices"}, "unauthorized_client : Invalid scope for client"),
    ({"scope": "openid made.up.scope"}, "unauthorized_client : Invalid scope for client"),
    ({"scope": None}, "unauthorized_client : Invalid scope for client"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"code_challenge_method": "plain"}, "Transform algorithm not supported"),
    ({"code_challenge_method": None}, "Transform algorithm not supported"),
])
async def test_bad_requests_show_xero_error_page_never_redirect(sandbox, overrides, message):
    async with sandbox.browser() as browser:
        response = await browser.get(authorize_url(sandbox, **overrides))
    assert response.status_code == 500
    assert "location" not in response.headers
    assert "text/html" in response.headers["content-type"]
    assert "Error code: 500" in response.text and message in response.text


async def test_errors_are_checked_before_login(sandbox):
    """Even with no session, a bad redirect_uri gives the error page, not the login page."""
    async with sandbox.browser() as browser:
        response = await browser.get(authorize_url(sandbox, redirect_uri="http://localhost:1/nope"))
    assert response.status_code == 500 and "Log in" not in response.text


async def test_login_page_then_wrong_password_shows_error(sandbox):
    async with sandbox.browser() as browser:
        first = await browser.get(authorize_url(sandbox))
        assert first.status_code == 302 and first.headers["location"].startswith("/identity/user/login?ReturnUrl=")
        page = await browser.get(first.headers["location"])
        assert "Log in to Xero" in page.text and 'name="password"' in page.text
        bad = await browser.post("/identity/user/login", data={
            "email": STEVE_EMAIL, "password": "wrong", "ReturnUrl": "/identity/connect/authorize?x=1"})
        assert bad.status_code == 400
        assert "Your email or password is incorrect" in bad.text
        assert "set-cookie" not in bad.headers


async def test_login_skipped_when_session_cookie_present(sandbox):
    async with sandbox.browser() as browser:
        await sandbox.consent(authorize_url(sandbox), browser)  # logs in
        again = await browser.get(authorize_url(sandbox))
        assert again.status_code == 200
        assert "Citrus-Lime Cloud POS wants to access your Xero data" in again.text
        assert "(already connected)" in again.text


async def test_consent_page_lists_app_name_scopes_and_only_the_users_orgs(sandbox):
    async with sandbox.browser() as browser:
        first = await browser.get(authorize_url(sandbox))
        page = await browser.get(first.headers["location"])
        assert page.status_code == 200
        return_url = authorize_url(sandbox)[len(sandbox.base_url):]
        await browser.post("/identity/user/login",
                           data={"email": STEVE_EMAIL, "password": DEMO_PASSWORD, "ReturnUrl": return_url})
        consent = await browser.get(authorize_url(sandbox))
    text = consent.text
    assert "Citrus-Lime Cloud POS" in text and "accounting.settings.read" in text
    assert "<select" in text  # single select unless bulk connections is enabled
    for name in ("Steve Test Store", "Steve Premium Ltd", "Steve Starter Ltd", "Steve Trial Ltd", "Demo Company (UK)"):
        assert name in text
    assert "Other Org Ltd" not in text
    assert "Allow access" in text and "Cancel" in text


async def test_cancel_redirects_with_access_denied_and_state(sandbox):
    async with sandbox.browser() as browser:
        location = await sandbox.consent(authorize_url(sandbox), browser, action="cancel")
    assert location.startswith(sandbox.redirect_uri + "?")
    assert sandbox.query_of(location) == {"error": "access_denied", "state": "st-123"}
    assert sandbox.state()["connections"] == []


async def test_allow_redirects_with_code_state_scope_and_connects_one_org(sandbox):
    async with sandbox.browser() as browser:
        location = await sandbox.consent(authorize_url(sandbox), browser, tenants=[STEVE_PREMIUM_TENANT_ID])
    query = sandbox.query_of(location)
    assert location.startswith(sandbox.redirect_uri + "?code=")
    assert query["state"] == "st-123" and query["scope"] == sandbox.scopes and query["code"]
    assert "session_state" in query and "%20" in location  # spaces encoded as %20 like IdentityServer
    connections = sandbox.state()["connections"]
    assert [c["tenantId"] for c in connections] == [STEVE_PREMIUM_TENANT_ID]


async def test_single_select_refuses_two_orgs_and_foreign_orgs(sandbox):
    async with sandbox.browser() as browser:
        with pytest.raises(AssertionError):
            await sandbox.consent(authorize_url(sandbox), browser,
                                  tenants=[STEVE_TEST_STORE_TENANT_ID, STEVE_PREMIUM_TENANT_ID])
        with pytest.raises(AssertionError):
            await sandbox.consent(authorize_url(sandbox), browser, tenants=[OTHER_ORG_TENANT_ID])
    assert sandbox.state()["connections"] == []


async def test_second_user_sees_only_their_org(sandbox):
    async with sandbox.browser() as browser:
        location = await sandbox.consent(authorize_url(sandbox), browser, tenants=[OTHER_ORG_TENANT_ID],
                                         email=OTHER_EMAIL)
    assert "code" in sandbox.query_of(location)


async def test_consent_needs_the_same_browser_session(sandbox):
    async with sandbox.browser() as browser, sandbox.browser() as stranger:
        first = await browser.get(authorize_url(sandbox))
        await browser.post("/identity/user/login", data={
            "email": STEVE_EMAIL, "password": DEMO_PASSWORD, "ReturnUrl": "/identity/connect/authorize?a=b"})
        page = await browser.get(authorize_url(sandbox))
        txn = re.search(r'name="txn" value="([^"]*)"', page.text).group(1)
        forged = await stranger.post("/identity/connect/consent", data={
            "txn": txn, "action": "allow", "tenant_id": STEVE_TEST_STORE_TENANT_ID})
    assert first.status_code == 302
    assert forged.status_code == 500 and "location" not in forged.headers


async def test_bulk_connections_multi_select_shares_one_auth_event(make_sandbox):
    with make_sandbox(bulk_connections=True) as bulk:
        async with bulk.browser() as browser:
            url = authorize_url(bulk)
            page_location = await sandbox_consent_all(bulk, browser, url)
        assert "code" in bulk.query_of(page_location)
        connections = bulk.state()["connections"]
        assert {c["tenantId"] for c in connections} == {STEVE_TEST_STORE_TENANT_ID, DEMO_COMPANY_UK_TENANT_ID}
        assert len({c["authEventId"] for c in connections}) == 1


async def sandbox_consent_all(sb, browser, url):
    return await sb.consent(url, browser, tenants=[STEVE_TEST_STORE_TENANT_ID, DEMO_COMPANY_UK_TENANT_ID])


async def test_granular_only_app_refuses_broad_scopes(make_sandbox):
    with make_sandbox(granular_scopes_only=True) as strict:
        async with strict.browser() as browser:
            broad = await browser.get(authorize_url(strict, scope="openid accounting.transactions"))
            granular = await browser.get(authorize_url(strict, scope="openid accounting.invoices"))
    assert broad.status_code == 500 and "Invalid scope for client" in broad.text
    assert granular.status_code == 302
