"""The gateway with the REAL connection_registry (consuming the gateway's events from Kafka and serving the
summary and completion API); key_validator is still the fake, but it publishes a real KeyValidated."""

import httpx
import pytest

from local_infra.merchant import connect, disconnect, ready
from sandboxes.xero import STEVE_PREMIUM_TENANT_ID, STEVE_TEST_STORE_TENANT_ID
from services.oauth_gateway.tests.stack import SERVICE_TOKEN, gateway_stack

from .support.kafka import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_connect_disconnect_and_finish_against_the_real_registry(pg_dsn, kafka_bootstrap, unique_name):
    async with gateway_stack(pg_dsn, kafka_bootstrap, unique_name("gw-real"), use_real_registry=True) as stack:
        browser = await ready(stack)
        store_1, store_2 = stack.merchant.stores

        async def summary_lists(count: int) -> bool:
            await browser.get(stack.gateway_url + "/")
            return browser.text().count("Disconnect from Xero") == count

        await eventually(lambda: _registry_knows(stack), timeout=30, what="the registry to learn the merchant")
        await connect(stack, browser, store_1, STEVE_TEST_STORE_TENANT_ID)
        await connect(stack, browser, store_2, STEVE_PREMIUM_TENANT_ID)
        await eventually(lambda: summary_lists(2), timeout=30, what="both organisations in the registry summary")
        assert "Xero Organisation Name: Steve Premium Ltd" in browser.text()

        await disconnect(browser, STEVE_TEST_STORE_TENANT_ID)
        await eventually(lambda: _registry_state(stack, store_1, "disconnected"), timeout=30,
                         what="the registry to disconnect the store")
        await eventually(lambda: summary_lists(1), timeout=30, what="one organisation left")

        await browser.submit("I have finished connecting stores")
        assert "Helpdesk Team will now arrange" in browser.text()


async def _registry(stack, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.urls["registry"],
                                 headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}) as client:
        return await client.get(f"/v1/merchants/{stack.merchant.merchant_id}{path}")


async def _registry_knows(stack) -> bool:
    return (await _registry(stack, "/summary")).status_code == 200


async def _registry_state(stack, store_id: str, state: str) -> bool:
    response = await _registry(stack, f"/stores/{store_id}")
    return response.status_code == 200 and response.json().get("state") == state
