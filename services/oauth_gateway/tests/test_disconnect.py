"""Disconnect from Xero, and organisations removed inside Xero, over real HTTP with real Kafka."""

import asyncio
from datetime import timedelta

import pytest

from local_infra.merchant import connect, consent, disconnect, ready, to_xero_consent
from oauth_gateway.adapters.pg_xero import PgJobs
from sandboxes.xero import STEVE_PREMIUM_TENANT_ID, STEVE_TEST_STORE_TENANT_ID
from shared.contracts import topics
from shared.delivery import from_kafka
from tests.support.kafka import eventually, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _disconnects(stack, kafka: str, expect: int) -> list:
    records = await read_topic(kafka, topics.ORG_DISCONNECTED, key=stack.merchant.merchant_id.encode(), expect=expect)
    return [from_kafka({k: v.decode() for k, v in r.headers}, r.value).data for r in records]


async def _live_connection(stack, tenant_id: str) -> str | None:
    """The id of the app's connection to that organisation at Xero (the sandbox), if it has one."""
    return next((c["id"] for c in (await stack.xero_state())["connections"] if c["tenantId"] == tenant_id), None)


async def _local_connection(stack, tenant_id: str) -> tuple[str, str]:
    row = await stack.pool.fetchrow("SELECT status, connection_id::text AS id FROM connections WHERE tenant_id = $1",
                                    tenant_id)
    return row["status"], row["id"]


async def _xero_back_and_jobs_run(stack) -> None:
    await stack.xero("POST", "/_sandbox/faults", json={"count": 0})
    await stack.xero("POST", "/_sandbox/clock/advance", json={"seconds": 600})     # every retry is due
    await stack.xero_client.jobs.run_due()


def _store_state(stack, store_id: str) -> str:
    return stack.registry.merchants[stack.merchant.merchant_id]["stores"][store_id]["state"]


async def _two_connected(stack):
    browser = await ready(stack)
    store_1, store_2 = stack.merchant.stores
    await connect(stack, browser, store_1, STEVE_TEST_STORE_TENANT_ID)
    await connect(stack, browser, store_2, STEVE_PREMIUM_TENANT_ID)

    async def both() -> bool:
        await browser.get(stack.gateway_url + "/")
        return browser.text().count("Disconnect from Xero") == 2
    await eventually(both, timeout=20, what="both organisations in the summary")
    return browser, store_1, store_2


async def test_disconnect_removes_the_connection_at_xero_reaches_the_registry_and_revokes_the_last(
        stack, kafka_bootstrap):
    browser, store_1, store_2 = await _two_connected(stack)
    user = f"u-{stack.merchant.merchant_id}"

    await disconnect(browser, STEVE_TEST_STORE_TENANT_ID)

    assert "being disconnected" in browser.text()
    assert browser.text().count("Disconnect from Xero") == 1       # hidden at once, registry or not
    state = await stack.xero_state()
    assert {c["tenantId"] for c in state["connections"]} == {STEVE_PREMIUM_TENANT_ID}
    assert not any(g["revoked"] for g in state["grants"])          # the grant still serves Premium
    [event] = await _disconnects(stack, kafka_bootstrap, 1)
    assert (str(event.tenant_id), event.reason.value, event.actor) == (STEVE_TEST_STORE_TENANT_ID,
                                                                      "merchant_request", user)
    await eventually(lambda: _is(_store_state(stack, store_1), "disconnected"), what="the registry to disconnect")
    assert _store_state(stack, store_2) == "connected"

    await disconnect(browser, STEVE_PREMIUM_TENANT_ID)

    state = await stack.xero_state()
    assert state["connections"] == [] and all(g["revoked"] for g in state["grants"])
    assert await stack.pool.fetchval("SELECT status FROM grants") == "revoked"
    assert await stack.pool.fetchval("SELECT refresh_token FROM grants") is None
    audit = [r["action"] for r in await stack.pool.fetch("SELECT action FROM audit_log ORDER BY seq")]
    assert audit.count("xero.delete_connection") == 2 and audit.count("xero.revoke_grant") == 1


async def test_a_disconnect_while_xero_is_down_takes_effect_here_and_is_retried_at_xero(stack, kafka_bootstrap):
    browser, store_1, _ = await _two_connected(stack)
    await stack.xero("POST", "/_sandbox/faults", json={"count": 20, "status": 503, "paths": "/connections"})

    await disconnect(browser, STEVE_TEST_STORE_TENANT_ID)

    assert browser.page.status_code == 200 and "being disconnected" in browser.text()
    assert len(await _disconnects(stack, kafka_bootstrap, 1)) == 1
    assert STEVE_TEST_STORE_TENANT_ID in {c["tenantId"] for c in (await stack.xero_state())["connections"]}
    job = await stack.pool.fetchrow("SELECT attempts, done_at, last_error FROM xero_jobs")
    assert job["attempts"] == 1 and job["done_at"] is None and "503" in job["last_error"]

    await stack.xero("POST", "/_sandbox/faults", json={"count": 0})
    await stack.xero("POST", "/_sandbox/clock/advance", json={"seconds": 60})
    await stack.xero_client.jobs.run_due()

    assert STEVE_TEST_STORE_TENANT_ID not in {c["tenantId"] for c in (await stack.xero_state())["connections"]}
    assert await stack.pool.fetchval("SELECT done_at IS NOT NULL FROM xero_jobs WHERE kind = 'delete_connection'")


async def test_an_organisation_removed_inside_xero_asks_the_merchant_to_reconnect_and_reconnecting_repairs_it(
        stack, kafka_bootstrap):
    browser, store_1, store_2 = await _two_connected(stack)
    merchant = stack.merchant.merchant_id.encode()

    await stack.xero("POST", f"/_sandbox/tenants/{STEVE_TEST_STORE_TENANT_ID}/remove-app")
    assert await stack.check_now() == 1
    assert await stack.check_now() == 0          # published once, not every check

    [broken] = [_data(r) for r in await read_topic(kafka_bootstrap, topics.CONNECTION_BROKEN, key=merchant, expect=1)]
    assert (broken.store_id, str(broken.tenant_id), broken.reason.value) == (store_1, STEVE_TEST_STORE_TENANT_ID,
                                                                            "removed_in_xero")
    assert broken.authorised_by is not None and broken.authorised_by.email == "steve@xero-demo.test"
    await browser.get(stack.gateway_url + "/")
    assert "1 store needs reconnecting to Xero" in browser.text()
    assert "the Cloud POS app was removed from this organisation inside Xero" in browser.text()

    await browser.get(broken.reconnect_url)                                  # the emailed link, signed in already
    assert f"Reconnect '{stack.merchant.stores[store_1]}' to Xero" in browser.text()
    await connect(stack, browser, store_1, STEVE_TEST_STORE_TENANT_ID)       # the same organisation again
    [restored] = [_data(r) for r in await read_topic(kafka_bootstrap, topics.CONNECTION_RESTORED, key=merchant,
                                                     expect=1)]
    assert (restored.store_id, restored.incident_id, restored.same_organisation) == (store_1, broken.incident_id,
                                                                                   True)
    await browser.get(stack.gateway_url + "/")
    assert "needs reconnecting" not in browser.text()
    assert _store_state(stack, store_2) == "connected"


def _data(record):  # noqa: ANN001, ANN202
    return from_kafka({k: v.decode() for k, v in record.headers}, record.value).data


async def _is(value, expected) -> bool:
    return value == expected


@pytest.mark.parametrize("status", [503, 429])
async def test_a_long_xero_storm_breaks_nothing_and_tells_nobody(stack, status):
    """Health checks (each one is 30 s of make run's storm) and proxied calls while every Xero answer is a 503
    or a 429: no store needs reconnecting, no ConnectionBroken is staged, the page shows no banner. Each check
    already retries its calls, so six of them stand for the long storm (the unit tests run more, faster)."""
    browser, store_1, _ = await _two_connected(stack)
    await stack.xero("POST", "/_sandbox/faults", json={"count": 10_000, "status": status, "paths": "/",
                                                        "retry_after": 1})
    async with stack.platform() as platform:
        for _ in range(6):
            await stack.check_now()
            answer = await platform.get(f"/internal/v1/stores/{store_1}/xero/proxy/api.xro/2.0/Organisation")
            assert answer.status_code in (status, 429, 502), answer.text
    await stack.xero("POST", "/_sandbox/faults", json={"count": 0})
    assert await stack.pool.fetchval("SELECT count(*) FROM delivery_outbox WHERE topic = 'ConnectionBroken'") == 0
    assert await stack.pool.fetchval("SELECT count(*) FROM connections WHERE status <> 'active'") == 0
    await browser.get(stack.gateway_url + "/")
    assert "reconnecting" not in browser.text()


@pytest.mark.parametrize("jobs_run", ["after_the_confirmation", "while_the_selection_waits"])
async def test_xero_down_at_disconnect_then_the_same_organisation_reconnected_keeps_its_live_connection(
        stack, jobs_run):
    """Xero keeps a connection's id when the same organisation is authorised again: the DELETE owed since the
    disconnect must not remove the connection the merchant has since confirmed (or is about to)."""
    browser, store_1, _ = await _two_connected(stack)
    connection_id = await _live_connection(stack, STEVE_TEST_STORE_TENANT_ID)
    await stack.xero("POST", "/_sandbox/faults", json={"count": 1000, "status": 503, "paths": "/connections/"})

    await disconnect(browser, STEVE_TEST_STORE_TENANT_ID)
    assert "being disconnected" in browser.text()
    assert await stack.pool.fetchval("SELECT outcome FROM xero_jobs WHERE done_at IS NULL") == "xero_unavailable"
    await to_xero_consent(stack, browser, store_1)
    await consent(browser, STEVE_TEST_STORE_TENANT_ID)
    assert "Select an Organisation" in browser.text()
    if jobs_run == "while_the_selection_waits":
        await _xero_back_and_jobs_run(stack)
    await browser.submit("Confirm Selection", {"tenant_id": STEVE_TEST_STORE_TENANT_ID})
    assert "is now connected" in browser.text(), browser.text()
    if jobs_run == "after_the_confirmation":
        ended_by = await stack.pool.fetchval("SELECT actor FROM audit_log WHERE detail->>'outcome' = 'superseded'")
        assert ended_by == f"u-{stack.merchant.merchant_id}"        # by the confirmation, not when claimed
        await _xero_back_and_jobs_run(stack)

    assert await _live_connection(stack, STEVE_TEST_STORE_TENANT_ID) == connection_id
    assert await _local_connection(stack, STEVE_TEST_STORE_TENANT_ID) == ("active", connection_id)
    jobs = await stack.pool.fetch("SELECT kind, outcome, done_at IS NOT NULL AS done FROM xero_jobs")
    assert [(j["kind"], j["outcome"], j["done"]) for j in jobs] == [("delete_connection", "superseded", True)]
    deletes = [c["status"] for c in (await stack.xero_state())["calls"] if c["method"] == "DELETE"]
    assert deletes and set(deletes) == {503}                   # none reached Xero once it was back
    assert not any(g["revoked"] for g in (await stack.xero_state())["grants"])


async def test_a_delete_still_at_xero_when_the_organisation_is_confirmed_again_is_never_reported_connected(stack):
    """The race a queued DELETE cannot see: the merchant authorises the organisation again (same connection id)
    while the DELETE is at Xero. The confirmation says so instead of connecting a connection about to vanish,
    and the next Connect to Xero connects a live one."""
    browser, store_1, _ = await _two_connected(stack)
    connection_id = await _live_connection(stack, STEVE_TEST_STORE_TENANT_ID)
    tab = await ready(stack)                                   # the same merchant, in another tab
    await stack.xero("POST", "/_sandbox/latency", json={"seconds": 4, "paths": "/connections/"})

    disconnecting = asyncio.ensure_future(disconnect(browser, STEVE_TEST_STORE_TENANT_ID))

    async def in_flight() -> bool:
        return await stack.pool.fetchval("SELECT count(*) FROM xero_jobs WHERE outcome IS NULL AND attempts = 1") == 1
    await eventually(in_flight, timeout=10, what="the DELETE to be at Xero")
    await to_xero_consent(stack, tab, store_1)
    await consent(tab, STEVE_TEST_STORE_TENANT_ID)
    offered = await stack.pool.fetchval("SELECT organisations::text FROM oauth_flows WHERE status = 'authorised'")
    assert connection_id in offered                             # Xero kept the connection's id
    refused = await tab.submit("Confirm Selection", {"tenant_id": STEVE_TEST_STORE_TENANT_ID})
    await disconnecting

    assert refused.status_code == 409 and "Xero is finishing an earlier disconnect" in tab.text(), tab.text()
    assert await _live_connection(stack, STEVE_TEST_STORE_TENANT_ID) is None                # the DELETE went through
    assert (await _local_connection(stack, STEVE_TEST_STORE_TENANT_ID))[0] == "disconnected"
    await stack.xero("POST", "/_sandbox/latency", json={"seconds": 0, "paths": "/connections/"})

    await tab.get(stack.gateway_url + "/")
    await connect(stack, tab, store_1, STEVE_TEST_STORE_TENANT_ID)                          # clicked again

    assert "is now connected" in tab.text(), tab.text()
    live = await _live_connection(stack, STEVE_TEST_STORE_TENANT_ID)
    assert live not in (None, connection_id)
    assert await _local_connection(stack, STEVE_TEST_STORE_TENANT_ID) == ("active", live)


async def test_a_job_whose_instance_died_is_retried_once_its_lease_ends_and_the_dead_attempt_records_nothing(stack):
    browser, _, _ = await _two_connected(stack)
    await stack.xero("POST", "/_sandbox/faults", json={"count": 1000, "status": 503, "paths": "/connections/"})
    await disconnect(browser, STEVE_TEST_STORE_TENANT_ID)
    await stack.xero("POST", "/_sandbox/clock/advance", json={"seconds": 60})
    async with stack.pool.acquire() as conn:                    # another instance takes it, then dies
        [dead] = await PgJobs(conn).claim(stack.clock.now(), stack.clock.now() + timedelta(seconds=120), 10)
    await stack.xero("POST", "/_sandbox/faults", json={"count": 0})

    assert await stack.xero_client.jobs.run_due() == 0                                     # leased: left alone
    assert STEVE_TEST_STORE_TENANT_ID in {c["tenantId"] for c in (await stack.xero_state())["connections"]}
    await stack.xero("POST", "/_sandbox/clock/advance", json={"seconds": 121})
    assert await stack.xero_client.jobs.run_due() == 1

    assert STEVE_TEST_STORE_TENANT_ID not in {c["tenantId"] for c in (await stack.xero_state())["connections"]}
    async with stack.pool.acquire() as conn:
        assert not await PgJobs(conn).finish(dead, stack.clock.now(), "xero_unavailable", stack.clock.now())
    job = await stack.pool.fetchrow("SELECT attempts, outcome, done_at, acted_until FROM xero_jobs")
    assert (job["attempts"], job["outcome"]) == (3, "deleted") and job["done_at"] is not None
    assert job["acted_until"] == job["done_at"]
