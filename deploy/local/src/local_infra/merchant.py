"""A Cloud POS merchant seeded in the Cloud POS sandbox, and their steps as a person would take them in a browser.

Shared by the gateway tests (on the in-process stack) and bench.journey (on the `make run` stack), so both
walk the same pages the same way.
"""

from dataclasses import dataclass, field
from typing import Protocol
from uuid import uuid4

import httpx

from local_infra.browser import Browser, forms_of
from sandboxes.xero import DEMO_PASSWORD, STEVE_EMAIL

# The Cloud POS sandbox's tokens: a stack must start the sandbox with these for `seed_merchant` to work.
CLOUDPOS_TOKENS = {"platform": "platform-token-1", "support": "support-token-1", "control": "control-token-1"}
PASSWORD = "Merchant-Pass-2026!"


@dataclass
class Merchant:
    merchant_id: str
    username: str
    api_key: str
    stores: dict[str, str]


class Site(Protocol):
    """What the steps need of a running gateway: its address, the seeded merchant, and a new browser."""

    gateway_url: str
    merchant: Merchant

    def browser(self) -> Browser: ...


@dataclass
class Walk:
    """A `Site` on a running stack (the `make run` one, for the benchmarks); close `browsers` when done."""

    gateway_url: str
    merchant: Merchant
    browsers: list[Browser] = field(default_factory=list)

    def browser(self) -> Browser:
        self.browsers.append(Browser())
        return self.browsers[-1]


async def seed_merchant(cloudpos_url: str, licence: str = "pro_plus") -> Merchant:
    """A new merchant with two stores, one user (PASSWORD) and an API key for the Xero service."""
    merchant_id = f"m-{uuid4().hex[:10]}"
    stores = {f"{merchant_id}-s1": "Steve Test Store", f"{merchant_id}-s2": "Steve Test Store 2"}
    username = f"{merchant_id}@cloudpos-demo.test"
    async with httpx.AsyncClient(base_url=cloudpos_url) as c:
        seeded = await c.post("/_sandbox/merchants", headers={"x-sandbox-control-token": CLOUDPOS_TOKENS["control"]},
                              json={"merchant_id": merchant_id, "name": "Steve's Cycles", "licence": licence,
                                    "stores": [{"store_id": k, "name": v} for k, v in stores.items()],
                                    "users": [{"user_id": f"u-{merchant_id}", "username": username,
                                               "password": PASSWORD, "display_name": "Steve Rider"}]})
        assert seeded.status_code == 201, seeded.text
        issued = await c.post(f"/support/v1/merchants/{merchant_id}/api-keys",
                              headers={"Authorization": f"Bearer {CLOUDPOS_TOKENS['support']}"},
                              json={"label": "Xero API Client", "service": "xero"})
        assert issued.status_code == 201, issued.text
    return Merchant(merchant_id, username, issued.json()["api_key"], stores)


async def sign_in(site: Site, browser: Browser | None = None) -> Browser:
    browser = browser or site.browser()
    await browser.get(site.gateway_url + "/")
    response = await browser.submit("Log in", {"username": site.merchant.username, "password": PASSWORD})
    assert response.status_code == 200, browser.text()
    return browser


async def validate_key(site: Site, browser: Browser) -> None:
    await browser.submit("Validate Cloud POS API Key", {"api_key": site.merchant.api_key})
    assert "has been validated" in browser.text(), browser.text()


async def to_xero_consent(site: Site, browser: Browser, store_id: str) -> None:
    """Click "Connect to Xero" for a store and log in at Xero if Xero asks."""
    action = f"/stores/{store_id}/connect"   # the button reads "Change organisation" or "Reconnect" once linked
    labels = [text for form in forms_of(browser.page.text) if action in form.action for _, _, text in form.buttons]
    await browser.submit(labels[0] if labels else "Connect to Xero", within=action)
    if "Log in to Xero" in browser.text():
        await browser.submit("Log in", {"email": STEVE_EMAIL, "password": DEMO_PASSWORD})
    assert "wants to access your Xero data" in browser.text(), browser.text()


async def consent(browser: Browser, tenant_id: str) -> None:
    """At Xero: pick the organisation and click Allow access; lands on our "Select an Organisation"."""
    await browser.submit("Allow access", {"tenant_id": tenant_id})


async def connect(site: Site, browser: Browser, store_id: str, tenant_id: str) -> None:
    await to_xero_consent(site, browser, store_id)
    await consent(browser, tenant_id)
    assert "Select an Organisation" in browser.text(), browser.text()
    await browser.submit("Confirm Selection", {"tenant_id": tenant_id})


async def disconnect(browser: Browser, tenant_id: str, *, confirm: bool = True) -> None:
    """"Disconnect from Xero" on an organisation's group, then (`confirm`) the same button on its confirmation
    page, which lists the stores it disconnects."""
    within = f"/organisations/{tenant_id}/disconnect"
    await browser.submit("Disconnect from Xero", within=within)
    assert "from Xero?" in browser.text(), browser.text()
    if confirm:
        await browser.submit("Disconnect from Xero", within=within)


async def ready(site: Site) -> Browser:
    """Signed in with the API key validated: the merchant sees their stores."""
    browser = await sign_in(site)
    await validate_key(site, browser)
    return browser
