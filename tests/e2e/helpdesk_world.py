"""Merchants for the helpdesk console's browser tests, made the way merchants make them on the `make run` stack:
seeded in the Cloud POS sandbox, connected through the gateway's pages (a scripted browser: the console is what
the Chromium tests look at), each store to its own Xero organisation of its own Xero user (the Xero sandbox's
seed), so a search or a broken connection touches nobody else, e.g. the knowledge-base journey's Steve.

The queues need, in this order: a merchant with a store connected and no "I have finished" whose Xero
organisation then removes the app (Dogwood: broken), three merchants awaiting finalisation whose webhooks went
through (Alder) or were refused for good by the helpdesk's receiver (Birch, then Elm: parked), and one more
with one of its two stores connected and no "I have finished" (Cedar).
"""

import json
import secrets
from dataclasses import dataclass

import httpx

from local_infra.launch import RunningStack
from local_infra.merchant import PASSWORD, Merchant, Walk, consent, ready
from sandboxes.xero import DEMO_PASSWORD as XERO_PASSWORD
from tests.support.kafka import eventually

REFUSED_FOR_GOOD = 410          # the receiver's "gone": the notifier parks at once (no retry)


@dataclass(frozen=True)
class Shop:
    merchant_id: str
    name: str
    contact_email: str
    stores: dict[str, str]          # store id -> name
    xero_email: str                 # the Xero user who authorised its organisation
    xero_user: str                  # their name as Xero's ID token gives it
    tenant_id: str
    organisation: str
    username: str                   # the merchant's Cloud POS sign-in (password: local_infra.merchant.PASSWORD)
    api_key: str                    # their Cloud POS API key for the Xero service


@dataclass(frozen=True)
class World:
    tag: str
    alder: Shop     # awaiting finalisation, two stores, its webhook delivered
    birch: Shop     # awaiting, its "ready" webhook parked (older)
    elm: Shop       # awaiting, its "ready" webhook parked (newer)
    cedar: Shop     # one of two stores connected (after Dogwood), never finished
    dogwood: Shop   # connected first, never finished, its organisation removed the app (needs attention)


async def build_world(stack: RunningStack) -> World:
    tag = secrets.token_hex(3)
    xero = httpx.AsyncClient(base_url=stack.url(stack.ports.xero).rstrip("/"), timeout=30,
                             headers={"x-sandbox-control-token": stack.secrets["xero_control"]})
    helpdesk = httpx.AsyncClient(base_url=stack.url(stack.ports.helpdesk).rstrip("/"), timeout=30)
    try:
        seeded = await xero.post("/_sandbox/seed", json={"users": 5, "orgs_per_user": 1, "prefix": f"Hd{tag}"})
        assert seeded.status_code == 200, seeded.text
        users = iter(seeded.json()["users"])
        shops = {}
        for key, name, stores in (("alder", "Alder Cycles", ("Alder Workshop", "Alder Showroom")),
                                  ("birch", "Birch Bikes", ("Birch Counter",)),
                                  ("elm", "Elm Wheels", ("Elm Counter",)),
                                  ("cedar", "Cedar Cycles", ("Cedar Workshop", "Cedar Pop-up")),
                                  ("dogwood", "Dogwood Rides", ("Dogwood Counter",))):
            shops[key] = await _seed(stack, f"m-{key}-{tag}", f"{name} {tag}",
                                     [f"{store} {tag}" for store in stores], next(users))
        world = World(tag, **shops)
        await _connect_all(stack, world.dogwood, finish=False)
        await _remove_the_app(stack, xero, world.dogwood)
        await _connect_all(stack, world.alder, finish=True)
        await _until_webhook(helpdesk, world.alder, 204)
        await helpdesk.post("/_sandbox/receiver/down", json={"status": REFUSED_FOR_GOOD})
        try:
            for shop in (world.birch, world.elm):
                await _connect_all(stack, shop, finish=True)
                await _until_webhook(helpdesk, shop, REFUSED_FOR_GOOD)
        finally:
            await helpdesk.post("/_sandbox/receiver/up")
        await _connect_all(stack, world.cedar, finish=False, only=1)
        return world
    finally:
        await xero.aclose()
        await helpdesk.aclose()


async def _remove_the_app(stack: RunningStack, xero: httpx.AsyncClient, shop: Shop) -> None:
    """The organisation removes the app inside Xero; the platform's next call through the gateway's proxy gets
    Xero's 403 and the gateway, /connections confirming, marks the connection broken at once (else the health
    check, every 30 s, would find it)."""
    removed = await xero.post(f"/_sandbox/tenants/{shop.tenant_id}/remove-app")
    assert removed.status_code == 200, removed.text
    store = next(iter(shop.stores))
    async with httpx.AsyncClient(base_url=stack.url(stack.ports.platform).rstrip("/"), timeout=30,
                                 headers={"Authorization": f"Bearer {stack.secrets['platform_client']}"}) as platform:
        answer = await platform.get(f"/internal/v1/stores/{store}/xero/proxy/api.xro/2.0/Organisation")
    assert answer.status_code >= 400, answer.text


async def _seed(stack: RunningStack, merchant_id: str, name: str, stores: list[str], xero_user: dict) -> Shop:
    """A Pro Plus merchant in the Cloud POS sandbox with a user, a contact email and a Xero API key."""
    store_ids = {f"{merchant_id}-s{n}": store for n, store in enumerate(stores, start=1)}
    contact, username = f"owner@{merchant_id}.example", f"{merchant_id}@pos.test"
    async with httpx.AsyncClient(base_url=stack.url(stack.ports.cloudpos).rstrip("/"), timeout=30) as c:
        control = {"x-sandbox-control-token": stack.secrets["cloudpos_control"]}
        made = await c.post("/_sandbox/merchants", headers=control,
                            json={"merchant_id": merchant_id, "name": name, "licence": "pro_plus",
                                  "contact_email": contact,
                                  "stores": [{"store_id": k, "name": v} for k, v in store_ids.items()],
                                  "users": [{"user_id": f"u-{merchant_id}", "username": username,
                                             "password": PASSWORD, "display_name": f"{name} owner"}]})
        assert made.status_code == 201, made.text
        key_made = await c.post(f"/support/v1/merchants/{merchant_id}/api-keys",
                                headers={"Authorization": f"Bearer {stack.secrets['cloudpos_support']}"},
                                json={"label": "Xero API Client", "service": "xero"})
        assert key_made.status_code == 201, key_made.text
    return Shop(merchant_id, name, contact, store_ids, xero_user["email"], xero_user["name"],
                xero_user["tenant_ids"][0], xero_user["organisation_names"][0], username, key_made.json()["api_key"])


async def _connect_all(stack: RunningStack, shop: Shop, *, finish: bool, only: int | None = None) -> None:
    """Sign in to the setup page, validate the key, connect the stores (the first `only`) to the shop's Xero
    organisation, and click "I have finished connecting stores" when `finish`."""
    gateway = stack.url(stack.ports.gateway).rstrip("/")
    walk = Walk(gateway, Merchant(shop.merchant_id, shop.username, shop.api_key, shop.stores))
    try:
        browser = await ready(walk)
        for store_id in list(shop.stores)[:only]:
            async def listed() -> bool:
                await browser.get(gateway + "/")
                return f"/stores/{store_id}/connect" in browser.page.text

            await eventually(listed, timeout=30, what=f"the 'Connect to Xero' button of {store_id}")
            await browser.submit("Connect to Xero", within=f"/stores/{store_id}/connect")
            if "Log in to Xero" in browser.text():
                await browser.submit("Log in", {"email": shop.xero_email, "password": XERO_PASSWORD})
            assert "wants to access your Xero data" in browser.text(), browser.text()[:500]
            await consent(browser, shop.tenant_id)
            assert "Select an Organisation" in browser.text(), browser.text()[:500]
            await browser.submit("Confirm Selection", {"tenant_id": shop.tenant_id})
            assert "is now connected" in browser.text(), browser.text()[:500]
        if finish:
            await browser.get(gateway + "/")
            await browser.submit("I have finished connecting stores")
            assert "Helpdesk Team will now arrange" in browser.text(), browser.text()[:500]
    finally:
        for opened in walk.browsers:
            await opened.close()


async def _until_webhook(helpdesk: httpx.AsyncClient, shop: Shop, status: int) -> None:
    """The helpdesk's receiver answered `status` to the shop's "ready to finalise" webhook."""
    async def answered() -> bool:
        hooks = (await helpdesk.get("/webhooks")).json()
        return any(h["status"] == status and shop.merchant_id in json.dumps(h["body"]) for h in hooks)

    await eventually(answered, timeout=30, what=f"the helpdesk webhook about {shop.name} answered {status}")
