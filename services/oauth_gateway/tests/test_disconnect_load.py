"""Fifty merchants confirm "Disconnect from Xero" at the same moment, on the gateway's pool of 10 PostgreSQL
connections, with every DELETE slow at Xero (the sandbox over real HTTP, real PostgreSQL and Kafka).

Each disconnect owes a DELETE and then a revocation, run inline right after the disconnect. Were a job to hold a
transaction (or a row lock) across its Xero calls while taking another connection for the token, about nine of
them would starve the pool; as a lease-based queue every job ends, promptly."""

import asyncio
import time

import pytest

from local_infra.browser import Browser
from local_infra.merchant import Walk, consent, disconnect, ready, seed_merchant
from sandboxes.xero import DEMO_PASSWORD

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

MERCHANTS = 50
DELETE_LATENCY = 0.5          # seconds each DELETE /connections/{id} spends at Xero


async def _connected_merchant(stack, user: dict) -> tuple[Browser, str]:
    """A Cloud POS merchant whose first store is connected to the seeded Xero user's organisation."""
    walk = Walk(stack.gateway_url, await seed_merchant(stack.cloudpos_url))
    browser = await ready(walk)
    stack.browsers.extend(walk.browsers)
    store_id, tenant_id = next(iter(walk.merchant.stores)), user["tenant_ids"][0]
    await browser.submit("Connect to Xero", within=f"/stores/{store_id}/connect")
    await browser.submit("Log in", {"email": user["email"], "password": DEMO_PASSWORD})
    await consent(browser, tenant_id)
    await browser.submit("Confirm Selection", {"tenant_id": tenant_id})
    assert "is now connected" in browser.text(), browser.text()
    return browser, tenant_id


async def _peak_in_use(pool, stop: asyncio.Event) -> int:
    peak = 0
    while not stop.is_set():
        peak = max(peak, pool.get_size() - pool.get_idle_size())
        await asyncio.sleep(0.005)
    return peak


async def test_fifty_concurrent_disconnects_complete_on_a_pool_of_ten(stack):
    assert stack.app.state.settings.database.pool_max_size == 10 and stack.pool.get_max_size() == 10
    seeded = (await stack.xero("POST", "/_sandbox/seed", json={"users": MERCHANTS, "prefix": "Load"})).json()
    merchants = []
    for start in range(0, MERCHANTS, 10):
        merchants += await asyncio.gather(*(_connected_merchant(stack, u) for u in seeded["users"][start:start + 10]))
    tenants = {tenant for _, tenant in merchants}
    assert await stack.pool.fetchval("SELECT count(*) FROM connections WHERE status = 'active'") == MERCHANTS
    await stack.xero("POST", "/_sandbox/latency", json={"seconds": DELETE_LATENCY, "paths": "/connections/"})

    for browser, tenant in merchants:          # each confirmation page opened; the load is the confirmations
        await disconnect(browser, tenant, confirm=False)
    stop = asyncio.Event()
    watching = asyncio.ensure_future(_peak_in_use(stack.pool, stop))
    started = time.monotonic()
    pages = await asyncio.wait_for(asyncio.gather(*(
        browser.submit("Disconnect from Xero", within=f"/organisations/{tenant}/") for browser, tenant in merchants)),
        timeout=120)
    elapsed = time.monotonic() - started
    stop.set()
    peak = await watching

    assert [p.status_code for p in pages] == [200] * MERCHANTS
    jobs = await stack.pool.fetch("SELECT kind, outcome, done_at IS NOT NULL AS done, attempts FROM xero_jobs")
    assert sorted((j["kind"], j["outcome"], j["done"], j["attempts"]) for j in jobs) == sorted(
        [("delete_connection", "deleted", True, 1)] * MERCHANTS + [("revoke_grant", "revoked", True, 1)] * MERCHANTS)
    state = await stack.xero_state()
    assert not tenants & {c["tenantId"] for c in state["connections"]}
    assert await stack.pool.fetchval("SELECT count(*) FROM grants WHERE status = 'revoked' AND refresh_token IS NULL"
                                     ) == MERCHANTS
    assert elapsed < 60, elapsed
    print(f"\n{MERCHANTS} concurrent disconnects ({DELETE_LATENCY}s per DELETE at Xero): {elapsed:.1f}s, "
          f"peak pool connections in use {peak} of 10")
