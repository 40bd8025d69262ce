"""Kafka away, the gateway keeps serving (issue #18, item 5): the private broker's link is cut while a merchant
signs in, validates the key, connects a store, confirms an organisation and says "I have finished" (the registry
away too). The pages work, readiness says "degraded" (200) with Kafka unavailable and the outbox ageing; once
both are back each event is on its topic exactly once (by event id and by count) and the completion reaches
the registry once.
The gateway runs in this process against the fault suite's private broker and PostgreSQL, with the Xero and
Cloud POS sandboxes and the fake registry (services/oauth_gateway/tests/stack.py)."""

import asyncio
import time
from collections import Counter
from dataclasses import replace
from uuid import uuid4

import httpx
import pytest

from local_infra.merchant import connect, ready
from sandboxes.xero import STEVE_PREMIUM_TENANT_ID, STEVE_TEST_STORE_TENANT_ID
from services.oauth_gateway.tests.stack import Stack, another_gateway, gateway_stack
from tests.support.http import bound_socket, serving
from shared.contracts import topics

from ..support.kafka import eventually, read_topic
from .conftest import FaultInfra

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.faults, pytest.mark.timeout(180)]
IDLE_IN_TRANSACTION = 3
"""Seconds; the gateway's PostgreSQL sessions run with this idle_in_transaction_timeout_seconds (default 60) so
that the outage below outlasts it: a relay whose batch transaction PostgreSQL ended while it waited for the
broker used to hand the same rows to the producer again, a second copy of each event on the topic."""


def _stack(infra: FaultInfra):  # noqa: ANN202 - an async context manager of Stack
    return gateway_stack(infra.postgres.dsn, infra.bootstrap, f"fault-gw-{uuid4().hex[:8]}",
                         database={"idle_in_transaction_timeout_seconds": IDLE_IN_TRANSACTION})


async def _ready(app) -> httpx.Response:  # noqa: ANN001 - a gateway app; readiness is on its internal listener
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.state.internal), base_url="http://internal",
                                 timeout=10) as http:
        return await http.get("/health/ready")


async def _pending(stack: Stack) -> int:
    return await stack.pool.fetchval("SELECT count(*) FROM delivery_outbox WHERE published_at IS NULL")


async def test_with_the_broker_away_a_merchant_connects_and_each_event_is_published_once_it_returns(fault_infra):
    async with _stack(fault_infra) as stack:
        merchant = stack.merchant.merchant_id
        store_1, store_2 = stack.merchant.stores
        browser = await ready(stack)
        await connect(stack, browser, store_1, STEVE_TEST_STORE_TENANT_ID)   # a running gateway: topics known
        await eventually(lambda: _drained(stack), timeout=30, what="the first store's events to be published")

        fault_infra.proxy.cut()
        try:
            browser = await ready(stack)                                     # sign in and validate the key again
            await connect(stack, browser, store_2, STEVE_PREMIUM_TENANT_ID)
            assert "is now connected to the Xero organisation 'Steve Premium Ltd'" in browser.text()
            during = await _ready(stack.app)
            stack.registry.down = True                     # the registry is away too when the merchant finishes
            await browser.submit("I have finished connecting stores")
            finished = browser.text()
            await asyncio.sleep(3 * IDLE_IN_TRANSACTION)   # the relay waits for the broker longer than that limit
            still_pending = await _pending(stack)
        finally:
            fault_infra.proxy.restore()
            stack.registry.down = False

        assert during.status_code == 200, during.text
        body = during.json()
        assert body["status"] == "degraded"
        assert body["checks"]["kafka"].startswith("unavailable") and body["checks"]["postgres"] == "ok"
        assert body["outbox"]["pending"] >= 2 and body["outbox"]["oldest_age_seconds"] > 0
        assert "recorded that you have finished" in finished
        assert still_pending >= 2, "nothing can have been published while the broker was away"

        await eventually(lambda: _drained(stack), timeout=90, what="the outbox to drain once the broker is back")
        await asyncio.sleep(2)                             # a late second copy would land now
        staged = await stack.pool.fetch("SELECT event_id, topic FROM delivery_outbox WHERE record_key = $1",
                                        merchant.encode())
        for topic in (topics.STORE_CONNECTED, topics.ORG_SELECTED):
            records = await read_topic(fault_infra.bootstrap, topic, key=merchant.encode(), expect=2, timeout=30)
            on_topic = Counter(dict(r.headers)["ce_id"].decode() for r in records)
            ours = {str(r["event_id"]) for r in staged if r["topic"] == topic}
            assert len(ours) == 2 and on_topic == Counter({event_id: 1 for event_id in ours}), (topic, on_topic)

        await eventually(lambda: _ok(stack.app), timeout=30, what="readiness to be ok again")
        await eventually(lambda: _completed(stack), timeout=60, what="the kept completion to reach the registry")
        assert stack.registry.completions == [(merchant, f"u-{merchant}")]
        assert {s["store_id"]: s["state"] for s in stack.registry.summary(merchant)["stores"]} == {
            store_1: "connected", store_2: "connected"}


async def test_a_gateway_started_while_the_broker_is_away_serves_and_connects_when_it_returns(fault_infra):
    async with _stack(fault_infra) as stack:
        fault_infra.proxy.cut()
        try:
            began = time.monotonic()
            async with another_gateway(stack) as late, serving(late, bound_socket()) as url:
                started = time.monotonic() - began
                browser = await ready(replace(stack, gateway_url=url))       # sign-in and key pages answer
                during = await _ready(late)
                fault_infra.proxy.restore()
                await eventually(lambda: _ok(late), timeout=60, what="the late instance to connect to Kafka")
        finally:
            fault_infra.proxy.restore()

    assert "has been validated" in browser.text()
    assert started < 20, f"start-up took {started:.1f}s with the broker away"
    assert during.status_code == 200 and during.json()["status"] == "degraded"
    assert during.json()["checks"] == {"postgres": "ok", "migrations": "ok", "kafka": "connecting",
                                       "outbox_relay": "waiting for kafka"}


async def _drained(stack: Stack) -> bool:
    return await _pending(stack) == 0


async def _ok(app) -> bool:  # noqa: ANN001 - a gateway app
    response = await _ready(app)
    return response.status_code == 200 and response.json()["status"] == "ok"


async def _completed(stack: Stack) -> bool:
    """The kept request is offered on its backoff; move the gateway's clock so each poll finds it due."""
    stack.clock.advance(600)
    await stack.app.state.completions.run_once()
    return bool(stack.registry.completions)
