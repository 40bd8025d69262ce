"""Abandoned consents over real HTTP with the Xero sandbox, PostgreSQL and Kafka: a consent left at "Select an
Organisation" is resumable from the stores page after signing out and in again; past the consent TTL (the sandbox's
clock, shared with the gateway, moved on) the sweep removes its connection at Xero, revokes the unused grant and
announces ConsentAbandoned once; a connection another store uses survives it."""

from urllib.parse import urlsplit

import pytest

from local_infra.merchant import consent, ready, sign_in, to_xero_consent
from sandboxes.xero import STEVE_PREMIUM_TENANT_ID, STEVE_TEST_STORE_TENANT_ID
from shared.contracts import topics
from shared.delivery import from_kafka
from tests.support.kafka import eventually, read_topic

from .stack import gateway_stack

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
DAY = 24 * 3600


async def _abandoned(stack, kafka: str) -> list:
    records = await read_topic(kafka, topics.CONSENT_ABANDONED, key=stack.merchant.merchant_id.encode(), expect=1)
    return [from_kafka({k: v.decode() for k, v in r.headers}, r.value).data for r in records]


def _store_state(stack, store_id: str) -> str:
    return stack.registry.merchants[stack.merchant.merchant_id]["stores"][store_id]["state"]


async def _live_tenants(stack) -> set[str]:
    return {c["tenantId"] for c in (await stack.xero_state())["connections"]}


async def test_a_consent_left_unconfirmed_is_resumable_then_removed_at_xero_and_announced_once(
        stack, kafka_bootstrap):
    browser = await ready(stack)
    store_1, _ = stack.merchant.stores
    await to_xero_consent(stack, browser, store_1)
    await consent(browser, STEVE_TEST_STORE_TENANT_ID)
    selection = urlsplit(str(browser.page.url)).path
    assert "Select an Organisation" in browser.text() and selection.startswith("/connect/")

    await browser.submit("Sign out")                       # the browser is closed here, say
    await sign_in(stack, browser)
    assert "Select an Organisation to finish connecting" in browser.text()
    await browser.get(stack.gateway_url + selection)       # the link on the stores page
    assert browser.page.status_code == 200 and "Confirm Selection" in browser.text()
    assert await _live_tenants(stack) == {STEVE_TEST_STORE_TENANT_ID}

    await stack.xero("POST", "/_sandbox/clock/advance", json={"seconds": DAY + 60})
    assert await stack.app.state.consents.sweep() == 1
    assert await stack.app.state.consents.sweep() == 0

    assert await _live_tenants(stack) == set()
    assert all(g["revoked"] for g in (await stack.xero_state())["grants"])
    assert await stack.pool.fetchval("SELECT status FROM grants") == "revoked"
    assert await stack.pool.fetchval("SELECT status FROM oauth_flows WHERE status <> 'pending'") == "abandoned"
    [event] = await _abandoned(stack, kafka_bootstrap)
    assert (event.store_id, [str(t) for t in event.released], event.still_awaiting) == (
        store_1, [STEVE_TEST_STORE_TENANT_ID], False)
    assert (event.abandoned_at - event.authorised_at).total_seconds() > DAY
    await eventually(lambda: _is(_store_state(stack, store_1), "eligible"), what="the registry to clear the store")
    await browser.get(stack.gateway_url + "/")
    assert "Select an Organisation to finish connecting" not in browser.text()
    await browser.get(stack.gateway_url + selection)
    assert "Select an Organisation" not in browser.text()         # the expired page


@pytest.fixture
async def bulk_stack(pg_dsn, kafka_bootstrap, unique_name):
    """Xero's consent screen lets the merchant tick several organisations at once."""
    async with gateway_stack(pg_dsn, kafka_bootstrap, unique_name("gateway"),
                             xero_options={"bulk_connections": True}) as running:
        yield running


async def test_abandoning_keeps_the_connection_another_store_uses_and_its_grant(bulk_stack, kafka_bootstrap):
    stack = bulk_stack
    browser = await ready(stack)
    store_1, store_2 = stack.merchant.stores
    await to_xero_consent(stack, browser, store_1)
    await browser.submit("Allow access", {"tenant_id": STEVE_TEST_STORE_TENANT_ID})
    await browser.submit("Confirm Selection", {"tenant_id": STEVE_TEST_STORE_TENANT_ID})
    await to_xero_consent(stack, browser, store_2)
    await browser.submit("Allow access", {"tenant_id": [STEVE_TEST_STORE_TENANT_ID, STEVE_PREMIUM_TENANT_ID]})
    assert "Select an Organisation" in browser.text()
    kept = {c["tenantId"]: c["id"] for c in (await stack.xero_state())["connections"]}
    assert set(kept) == {STEVE_TEST_STORE_TENANT_ID, STEVE_PREMIUM_TENANT_ID}

    await stack.xero("POST", "/_sandbox/clock/advance", json={"seconds": DAY + 60})
    assert await stack.app.state.consents.sweep() == 1

    live = {c["tenantId"]: c["id"] for c in (await stack.xero_state())["connections"]}
    assert live == {STEVE_TEST_STORE_TENANT_ID: kept[STEVE_TEST_STORE_TENANT_ID]}   # same id: Xero kept it
    assert not any(g["revoked"] for g in (await stack.xero_state())["grants"])
    [event] = await _abandoned(stack, kafka_bootstrap)
    assert (event.store_id, [str(t) for t in event.released]) == (store_2, [STEVE_PREMIUM_TENANT_ID])
    assert await stack.pool.fetchval("SELECT status FROM connections") == "active"


async def _is(value, expected) -> bool:
    return value == expected
