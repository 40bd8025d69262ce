"""The OAuth client's defences over real HTTP: Cancel, forged/replayed/foreign/expired state, replayed code,
PKCE + nonce + exact redirect URI + minimal scopes in the authorize request."""

from urllib.parse import parse_qs, urlsplit

import pytest

from local_infra.merchant import ready, to_xero_consent
from sandboxes.xero import DEMO_PASSWORD, STEVE_EMAIL, STEVE_TEST_STORE_TENANT_ID

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _published(stack, topic: str) -> int:
    return await stack.pool.fetchval("SELECT count(*) FROM delivery_outbox WHERE topic = $1", topic)


async def _callback_url(stack, browser, store_id: str) -> str:
    """Consent at Xero but stop before the browser follows the redirect back to the gateway."""
    await to_xero_consent(stack, browser, store_id)
    response = await browser.submit("Allow access", {"tenant_id": STEVE_TEST_STORE_TENANT_ID}, follow=False)
    assert response.status_code == 302
    return response.headers["location"]


async def _authorize_url(stack, browser, store_id: str) -> str:
    response = await browser.submit("Connect to Xero", within=f"/stores/{store_id}/connect", follow=False)
    assert response.status_code == 303
    return response.headers["location"]


async def test_cancel_at_xero_shows_a_way_forward_and_connects_nothing(stack):
    browser = await ready(stack)
    store = next(iter(stack.merchant.stores))
    await to_xero_consent(stack, browser, store)

    page = await browser.submit("Cancel")

    assert page.status_code == 400
    assert "You cancelled at Xero" in browser.text() and "Back to your stores" in browser.text()
    assert await stack.token_calls() == []
    assert await _published(stack, "StoreConnected") == 0
    assert await stack.pool.fetchval("SELECT status FROM oauth_flows") == "cancelled"


async def test_forged_state_is_refused_before_any_token_request(stack):
    browser = await ready(stack)
    await browser.get(stack.gateway_url + "/xero/callback?code=abc&state=forged-state-value")

    assert browser.page.status_code == 400
    assert "expired or was already used" in browser.text()
    assert await stack.token_calls() == []


@pytest.mark.parametrize("query", ["code=abc", "state=s&code=a&error=access_denied", "state=s&state=t&code=a",
                                   "state=s&code=a&code=b", "state=s"])
async def test_malformed_callbacks_are_refused(stack, query):
    browser = await ready(stack)
    await browser.get(f"{stack.gateway_url}/xero/callback?{query}")
    assert browser.page.status_code == 400
    assert await stack.token_calls() == []


async def test_a_replayed_state_is_refused_and_exchanges_nothing(stack):
    browser = await ready(stack)
    url = await _callback_url(stack, browser, next(iter(stack.merchant.stores)))
    await browser.get(url)
    assert "Select an Organisation" in browser.text()

    await browser.get(url)

    assert browser.page.status_code == 400 and "already used" in browser.text()
    assert len(await stack.token_calls()) == 1


async def test_a_replayed_code_with_a_fresh_state_is_refused_by_xero_and_records_nothing(stack):
    browser = await ready(stack)
    store_1, store_2 = stack.merchant.stores
    first = await _callback_url(stack, browser, store_1)
    await browser.get(first)
    await browser.get(stack.gateway_url + "/")
    fresh_state = parse_qs(urlsplit(await _authorize_url(stack, browser, store_2)).query)["state"][0]
    code = parse_qs(urlsplit(first).query)["code"][0]

    await browser.get(f"{stack.gateway_url}/xero/callback?code={code}&state={fresh_state}")

    assert browser.page.status_code == 400 and "Xero did not accept this sign-in" in browser.text()
    calls = await stack.token_calls()
    assert [c["status"] for c in calls] == [200, 400]
    assert await _published(stack, "StoreConnected") == 1


async def test_a_state_from_another_browser_session_is_refused(stack):
    victim, attacker = await ready(stack), await ready(stack)
    url = await _callback_url(stack, attacker, next(iter(stack.merchant.stores)))

    await victim.get(url)

    assert victim.page.status_code == 400
    assert await stack.token_calls() == []
    await attacker.get(url)                  # consumed: the flow cannot be finished by anyone now
    assert attacker.page.status_code == 400


async def test_an_expired_flow_is_refused(stack):
    browser = await ready(stack)
    url = await _callback_url(stack, browser, next(iter(stack.merchant.stores)))
    await stack.xero("POST", "/_sandbox/clock/advance", json={"seconds": 11 * 60})

    await browser.get(url)

    assert browser.page.status_code in (400, 401)
    assert await stack.token_calls() == []


async def test_the_authorize_request_uses_pkce_s256_a_nonce_the_exact_redirect_and_the_sales_scopes(stack):
    browser = await ready(stack)
    store_1, store_2 = stack.merchant.stores
    first = parse_qs(urlsplit(await _authorize_url(stack, browser, store_1)).query)
    await browser.get(stack.gateway_url + "/")
    second = parse_qs(urlsplit(await _authorize_url(stack, browser, store_2)).query)

    assert first["code_challenge_method"] == ["S256"] and len(first["code_challenge"][0]) == 43
    assert first["redirect_uri"] == [stack.gateway_url + "/xero/callback"]
    assert first["scope"] == ["openid profile email offline_access accounting.settings.read accounting.contacts "
                              "accounting.invoices accounting.payments"]          # granular only: no broad scope
    assert first["response_type"] == ["code"] and first["nonce"][0]
    assert first["state"] != second["state"] and first["code_challenge"] != second["code_challenge"]
    assert first["nonce"] != second["nonce"]


async def test_an_iss_from_another_issuer_is_refused(stack):
    browser = await ready(stack)
    url = await _callback_url(stack, browser, next(iter(stack.merchant.stores)))
    await browser.get(url + "&iss=https%3A%2F%2Fevil.example")
    assert browser.page.status_code == 400
    assert await stack.token_calls() == []


async def test_xero_login_is_skipped_when_the_browser_is_still_signed_in_at_xero(stack):
    browser = await ready(stack)
    store_1, store_2 = stack.merchant.stores
    await _callback_url(stack, browser, store_1)
    await browser.get(stack.gateway_url + "/")
    await browser.submit("Connect to Xero", within=f"/stores/{store_2}/connect")
    assert "wants to access your Xero data" in browser.text()
    assert STEVE_EMAIL and DEMO_PASSWORD
