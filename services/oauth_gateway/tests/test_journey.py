"""The merchant's whole journey over real HTTP: sandboxes for Xero and Cloud POS, real Kafka and PostgreSQL."""

import pytest

from local_infra.merchant import connect, ready, to_xero_consent
from sandboxes.xero import STEVE_PREMIUM_TENANT_ID, STEVE_TEST_STORE_TENANT_ID
from shared.contracts import topics
from shared.delivery import from_kafka
from tests.support.kafka import eventually, read_topic

from .stack import second_instance

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _events(kafka: str, topic: str, merchant: str, expect: int) -> list:
    records = await read_topic(kafka, topic, key=merchant.encode(), expect=expect)
    return [from_kafka({k: v.decode() for k, v in r.headers}, r.value) for r in records]


async def test_two_stores_connect_to_two_organisations(stack, kafka_bootstrap):
    store_1, store_2 = stack.merchant.stores
    browser = await ready(stack)

    await connect(stack, browser, store_1, STEVE_TEST_STORE_TENANT_ID)
    assert "'Steve Test Store' is now connected to the Xero organisation 'Steve Test Store'" in browser.text()
    await connect(stack, browser, store_2, STEVE_PREMIUM_TENANT_ID)
    assert "'Steve Test Store 2' is now connected to the Xero organisation 'Steve Premium Ltd'" in browser.text()

    merchant = stack.merchant.merchant_id
    connected = await _events(kafka_bootstrap, topics.STORE_CONNECTED, merchant, 2)
    selected = await _events(kafka_bootstrap, topics.ORG_SELECTED, merchant, 2)
    assert [(e.data.store_id, [str(o.tenant_id) for o in e.data.organisations]) for e in connected] == [
        (store_1, [STEVE_TEST_STORE_TENANT_ID]), (store_2, [STEVE_PREMIUM_TENANT_ID])]
    assert [(e.data.store_id, str(e.data.tenant_id), e.data.subscription_class) for e in selected] == [
        (store_1, STEVE_TEST_STORE_TENANT_ID, "STANDARD"), (store_2, STEVE_PREMIUM_TENANT_ID, "PREMIUM")]
    assert {e.source for e in connected + selected} == {"/cloudpos-xero/oauth_gateway"}
    assert connected[0].data.grant_id == selected[0].data.grant_id == selected[1].data.grant_id  # one Xero user

    async def summary_shows_both() -> bool:
        await browser.get(stack.gateway_url + "/")
        return browser.text().count("Disconnect from Xero") == 2
    await eventually(summary_shows_both, timeout=20, what="the registry summary to show both organisations")
    assert "Xero Organisation Name: Steve Test Store" in browser.text()
    assert "Xero Organisation Name: Steve Premium Ltd" in browser.text()

    await browser.submit("I have finished connecting stores")
    assert "Helpdesk Team will now arrange" in browser.text()
    assert stack.registry.completions == [(merchant, f"u-{merchant}")]


async def test_any_instance_can_take_the_callback_and_the_selection(stack, kafka_bootstrap):
    browser = await ready(stack)
    await to_xero_consent(stack, browser, next(iter(stack.merchant.stores)))
    back = await browser.submit("Allow access", {"tenant_id": STEVE_TEST_STORE_TENANT_ID}, follow=False)
    callback = back.headers["location"]
    async with second_instance(stack, kafka_bootstrap) as other:
        await browser.get(callback.replace(stack.gateway_url, other))      # a load balancer chose instance B
        assert "Select an Organisation" in browser.text() and str(browser.page.url).startswith(other)
        await browser.submit("Confirm Selection", {"tenant_id": STEVE_TEST_STORE_TENANT_ID})
    assert "is now connected" in browser.text()
    assert await stack.pool.fetchval("SELECT count(*) FROM connections WHERE status = 'active'") == 1
