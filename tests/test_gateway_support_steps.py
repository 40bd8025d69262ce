"""The merchant's steps, as a person would take them in a browser (no tests here)."""

from sandboxes.xero import DEMO_PASSWORD, STEVE_EMAIL

from .test_gateway_support import PASSWORD, Stack
from .test_gateway_support_browser import Browser


async def sign_in(stack: Stack, browser: Browser | None = None) -> Browser:
    browser = browser or stack.browser()
    await browser.get(stack.gateway_url + "/")
    response = await browser.submit("Log in", {"username": stack.merchant.username, "password": PASSWORD})
    assert response.status_code == 200, browser.text()
    return browser


async def validate_key(stack: Stack, browser: Browser) -> None:
    await browser.submit("Validate Cloud POS API Key", {"api_key": stack.merchant.api_key})
    assert "has been validated" in browser.text(), browser.text()


async def to_xero_consent(stack: Stack, browser: Browser, store_id: str) -> None:
    """Click "Connect to Xero" for a store and log in at Xero if Xero asks."""
    await browser.submit("Connect to Xero", within=f"/stores/{store_id}/connect")
    if "Log in to Xero" in browser.text():
        await browser.submit("Log in", {"email": STEVE_EMAIL, "password": DEMO_PASSWORD})
    assert "wants to access your Xero data" in browser.text(), browser.text()


async def consent(browser: Browser, tenant_id: str) -> None:
    """At Xero: pick the organisation and click Allow access; lands on our "Select an Organisation"."""
    await browser.submit("Allow access", {"tenant_id": tenant_id})


async def connect(stack: Stack, browser: Browser, store_id: str, tenant_id: str) -> None:
    await to_xero_consent(stack, browser, store_id)
    await consent(browser, tenant_id)
    assert "Select an Organisation" in browser.text(), browser.text()
    await browser.submit("Confirm Selection", {"tenant_id": tenant_id})


async def ready(stack: Stack) -> Browser:
    browser = await sign_in(stack)
    await validate_key(stack, browser)
    return browser
