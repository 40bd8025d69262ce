"""Xero etiquette over real HTTP and PostgreSQL: the shared per-tenant budget, 429 + Retry-After, Xero down."""

import asyncio
from uuid import uuid4

import pytest

from local_infra.merchant import consent, ready, to_xero_consent
from oauth_gateway.adapters.budget import TenantBudget
from oauth_gateway.ports import XeroUnavailable
from sandboxes.xero import STEVE_TEST_STORE_TENANT_ID

from .stack import gateway_stack

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _at_selection(stack):
    browser = await ready(stack)
    await to_xero_consent(stack, browser, next(iter(stack.merchant.stores)))
    await consent(browser, STEVE_TEST_STORE_TENANT_ID)
    return browser


async def test_the_budget_allows_five_in_flight_per_tenant_across_instances(stack):
    tenant = uuid4()
    one, two = TenantBudget(lambda: stack.pool, max_wait=0.5), TenantBudget(lambda: stack.pool, max_wait=0.5)
    held = [(one if i % 2 else two).slot(tenant) for i in range(5)]
    for slot in held:
        await slot.__aenter__()

    with pytest.raises(XeroUnavailable):
        async with one.slot(tenant):
            pass
    waiter = asyncio.create_task(_enter(two, tenant))
    await asyncio.sleep(0.05)
    await held[0].__aexit__(None, None, None)              # a call finished: the waiter gets its slot
    await asyncio.wait_for(waiter, 5)
    for slot in held[1:]:
        await slot.__aexit__(None, None, None)


async def test_the_budget_allows_sixty_calls_a_minute_per_tenant(stack):
    tenant, other = uuid4(), uuid4()
    budget = TenantBudget(lambda: stack.pool, max_wait=0.5)
    for _ in range(60):
        async with budget.slot(tenant):
            pass

    with pytest.raises(XeroUnavailable) as refused:
        async with budget.slot(tenant):
            pass
    assert refused.value.retry_after and refused.value.retry_after > 30
    async with budget.slot(other):                          # another tenant has its own budget
        pass


async def test_a_429_is_honoured_for_every_instance_and_explained(pg_dsn, kafka_bootstrap, unique_name):
    async with gateway_stack(pg_dsn, kafka_bootstrap, unique_name("gw-429"),
                             xero_options={"tenant_minute_limit": 1}) as stack:
        browser = await _at_selection(stack)
        # The sandbox allows one Organisation call a minute for this tenant: use it up from outside.
        await _spend_sandbox_minute(stack)

        page = await browser.submit("Confirm Selection", {"tenant_id": STEVE_TEST_STORE_TENANT_ID})

        assert page.status_code == 503 and "Xero is not responding" in browser.text()
        assert "Select an Organisation" in browser.text()            # the way forward
        blocked = await stack.pool.fetchval("SELECT until > clock_timestamp() FROM rate_limit_holds WHERE bucket = $1",
                                            f"xero-tenant:{STEVE_TEST_STORE_TENANT_ID}:minute")
        assert blocked is True
        statuses = [c["status"] for c in (await stack.xero_state())["calls"] if "organisation" in c["path"].lower()]
        assert statuses.count(429) == 1                              # told once; no hammering


async def test_xero_down_at_confirm_is_a_readable_page_and_a_retry_works(stack):
    browser = await _at_selection(stack)
    await stack.xero("POST", "/_sandbox/faults", json={"count": 3, "status": 503, "paths": "/api.xro"})

    page = await browser.submit("Confirm Selection", {"tenant_id": STEVE_TEST_STORE_TENANT_ID})

    assert page.status_code == 503 and "Xero is not responding" in browser.text()
    flow = await stack.pool.fetchval("SELECT flow_id FROM oauth_flows")
    await browser.get(f"{stack.gateway_url}/connect/{flow}")
    await browser.submit("Confirm Selection", {"tenant_id": STEVE_TEST_STORE_TENANT_ID})
    assert "is now connected" in browser.text()


async def _enter(budget: TenantBudget, tenant) -> None:
    async with budget.slot(tenant):
        pass


async def _spend_sandbox_minute(stack) -> None:
    grant = await stack.pool.fetchval("SELECT grant_id FROM grants")
    token = await stack.xero_client.tokens.access_token(grant)
    import httpx
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{stack.xero_url}/api.xro/2.0/Organisation", headers={
            "Authorization": f"Bearer {token}", "xero-tenant-id": STEVE_TEST_STORE_TENANT_ID,
            "Accept": "application/json"})
    assert response.status_code == 200
