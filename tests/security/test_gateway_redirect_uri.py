"""§B8 (redirect URI tampering) and §B9 (no off-site redirect) end to end: the Xero sandbox enforces PKCE
(S256 of the verifier must equal the challenge, §B7) and the exact redirect_uri at /connect/token, so a
connect that succeeds proves both; attempts to steer the redirect through the callback change nothing."""

from urllib.parse import parse_qs, urlsplit

import pytest

from local_infra.merchant import ready, to_xero_consent
from sandboxes.xero import STEVE_TEST_STORE_TENANT_ID
from services.oauth_gateway.tests.stack import stack  # noqa: F401 - fixture

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.security]
TAMPER = ["redirect_uri=https%3A%2F%2Fevil.example%2Fxero%2Fcallback", "redirect_uri=%2F%2Fevil.example",
          "return_to=%2F%2Fevil.example", "next=https%3Aevil.example", "return_to=%2F%5Cevil.example"]


async def test_redirect_uri_and_return_to_cannot_be_steered_through_the_callback(stack):
    browser = await ready(stack)
    store = next(iter(stack.merchant.stores))
    authorize = await browser.submit("Connect to Xero", within=f"/stores/{store}/connect", follow=False)
    sent = parse_qs(urlsplit(authorize.headers["location"]).query)
    assert sent["redirect_uri"] == [stack.gateway_url + "/xero/callback"]
    await browser.get(authorize.headers["location"])
    if "Log in to Xero" in browser.text():
        await browser.get(stack.gateway_url + "/")
        await to_xero_consent(stack, browser, store)
    consent = await browser.submit("Allow access", {"tenant_id": STEVE_TEST_STORE_TENANT_ID}, follow=False)
    callback = consent.headers["location"]
    assert callback.startswith(stack.gateway_url + "/xero/callback?")

    response = await browser.http.get(callback + "&" + "&".join(TAMPER))

    assert response.status_code < 500
    location = response.headers.get("location", "")
    assert not location.startswith(("//", "http://evil", "https://evil", "https:evil", "/\\")), location
    tokens = await stack.token_calls()
    assert all(c["status"] == 200 for c in tokens)  # the sandbox refuses a changed redirect_uri or verifier
    if response.status_code in (302, 303):  # tampering ignored: the connect went on with the constant URI
        assert location.startswith("/connect/") and len(tokens) == 1
    else:                                   # or refused before any token request
        assert response.status_code == 400 and tokens == []
