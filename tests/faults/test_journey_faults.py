"""The whole journey, gateway → registry → notifier, under a broker kill: many merchants sign in, validate
their key (the REAL key_validator, with its outbox), connect a store at the Xero sandbox, confirm the
organisation and say "I have finished", over HTTP, while the private broker is SIGKILLed and restarted. All
services run in this process against the fault suite's private broker (through its LinkProxy) and PostgreSQL,
with the Xero and Cloud POS sandboxes and the helpdesk sandbox's SMTP sink and webhook receiver.

Checker, per merchant: KeyValidated, StoreConnected and OrgSelected (by the ids their producers staged)
each applied exactly once in the registry (its inbox and timeline), exactly one SetupCompleted staged by the
registry and applied once by the notifier, and exactly one helpdesk email and one webhook: zero lost, zero
doubled."""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import uuid4

import asyncpg
import pytest
from fastapi import FastAPI

from key_validator.main import build_app as build_key_validator
from key_validator.settings import KeyValidatorSettings
from local_infra.merchant import CLOUDPOS_TOKENS, Merchant, Walk, connect, ready, seed_merchant
from local_infra.postgres import temporary_database, with_database
from notifier.main import build_app as build_notifier
from notifier.settings import NotifierSettings
from sandboxes.xero import STEVE_TEST_STORE_TENANT_ID
from services.notifier.tests.live import Helpdesk
from services.oauth_gateway.tests.stack import Stack, gateway_stack
from shared.contracts import topics
from shared.runtime import ServiceRuntime

from ..support.kafka import eventually, read_topic
from ..support.services import running
from .conftest import FaultInfra

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.faults, pytest.mark.faults_full]
_PENDING = "SELECT count(*) FROM delivery_outbox WHERE published_at IS NULL"
MERCHANTS = 8
BROKER_DOWN = 5
"""Seconds the broker stays dead before its restart."""
PATIENCE = 150
"""Seconds a journey waits for a step that needs Kafka (the registry learning the key, the store)."""


@dataclass
class Journeys:
    stack: Stack
    notifier: ServiceRuntime
    helpdesk: Helpdesk
    registry_dsn: str
    key_validator_dsn: str


def _key_validator(built: list[FastAPI], dsn: str, kafka: str, group: str) -> Callable[..., FastAPI]:
    """The REAL key_validator for `gateway_stack(key_validator=...)` (as tests/test_tracing.py does)."""
    def build(token: str, cloudpos_url: str, platform_token: str, _on_valid: object) -> FastAPI:
        built.append(build_key_validator(KeyValidatorSettings(
            database={"url": dsn}, kafka={"bootstrap_servers": kafka, "consumer_group": group},
            cloudpos={"base_url": cloudpos_url, "platform_token": platform_token}, api_token=token,
            key_fingerprint_secret="fault-journey-fingerprint-secret-0123456789")))
        return built[-1]
    return build


@asynccontextmanager
async def journeys(infra: FaultInfra) -> AsyncIterator[Journeys]:
    name = f"fault-jny-{uuid4().hex[:8]}"
    helpdesk = Helpdesk()
    try:
        async with temporary_database(infra.postgres.dsn, prefix="fault_jny_kv") as kv_dsn:
            built: list[FastAPI] = []
            async with gateway_stack(infra.postgres.dsn, infra.bootstrap, name, use_real_registry=True,
                                     key_validator=_key_validator(built, kv_dsn, infra.bootstrap, f"{name}-kv")
                                     ) as stack, built[0].router.lifespan_context(built[0]), running(
                    build_notifier, NotifierSettings, pg_dsn=infra.postgres.dsn, kafka_bootstrap=infra.bootstrap,
                    group=f"{name}-notifier", api_token="fault-journey-notifier-token",
                    **helpdesk.settings() | helpdesk.merchant_settings(stack.cloudpos_url, CLOUDPOS_TOKENS["platform"])
                    ) as notifier:
                registry = await _database_named(infra.postgres.dsn, f"{name}-reg".replace("-", "_"))
                yield Journeys(stack, notifier, helpdesk, registry, kv_dsn)
    finally:
        helpdesk.close()


async def _database_named(admin_dsn: str, prefix: str) -> str:
    """The DSN of the database `temporary_database(prefix=...)` made (the real registry's, in gateway_stack)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        (name,) = [r["datname"] for r in await conn.fetch(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", prefix + "_")]
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


async def journey(stack: Stack, merchant: Merchant, finished: list[str], xero: asyncio.Lock) -> None:
    """One merchant's pages, as a person would click them; a step that needs Kafka is waited for. Every
    merchant here consents as the sandbox's one Xero user to the same organisation, so consents take turns
    (`xero`): Xero reports only the latest authorisation event of a connection, and a consent overtaken by
    another merchant's would find none of its own (a page that says so, not a fault of ours)."""
    site = Walk(stack.gateway_url, merchant)
    try:
        browser = await ready(site)
        store = next(iter(merchant.stores))

        async def shows(text: str) -> bool:
            await browser.get(stack.gateway_url + "/")
            return text in browser.page.text          # the HTML: a form's action, a button's label

        async def until_shown(text: str, what: str) -> None:
            try:
                await eventually(lambda: shows(text), timeout=PATIENCE, what=f"{merchant.merchant_id}'s {what}")
            except AssertionError as error:
                raise AssertionError(f"{error}; the page:\n{browser.text()[:1500]}") from None
        await until_shown(f"/stores/{store}/connect", "store on the page (the registry learnt the key)")
        async with xero:
            await connect(site, browser, store, STEVE_TEST_STORE_TENANT_ID)
        assert "is now connected" in browser.text(), browser.text()[:500]
        await until_shown("Disconnect from Xero", "organisation on the page (the registry learnt it)")
        await browser.submit("I have finished connecting stores")
        assert "Helpdesk Team will now arrange" in browser.text(), browser.text()[:500]
        finished.append(merchant.merchant_id)
    finally:
        for browser in site.browsers:
            await browser.close()


@pytest.mark.timeout(420)
async def test_many_journeys_through_gateway_registry_and_notifier_while_the_broker_is_killed(fault_infra):
    async with journeys(fault_infra) as j:
        merchants = [await seed_merchant(j.stack.cloudpos_url) for _ in range(MERCHANTS)]
        finished: list[str] = []
        xero = asyncio.Lock()

        async def staggered(i: int, merchant: Merchant) -> None:
            await asyncio.sleep(1.0 * i)      # half of them start while the broker is dead
            await journey(j.stack, merchant, finished, xero)
        walks = asyncio.gather(*(staggered(i, m) for i, m in enumerate(merchants)))
        try:
            await eventually(lambda: _registry_applied(j, 2), timeout=120, what="the registry to apply 2 events")
            await asyncio.to_thread(fault_infra.broker.kill)
            killed_with = (len(finished), await _registry_applied_count(j))
            await asyncio.sleep(BROKER_DOWN)
            await asyncio.to_thread(fault_infra.broker.restart)
            restarted = time.monotonic()
            await walks
        except BaseException as error:
            walks.cancel()
            await asyncio.gather(walks, return_exceptions=True)
            if isinstance(error, AssertionError):
                raise AssertionError(f"{error}\n{await _diagnose(j, fault_infra)}") from None
            raise
        walked_after = time.monotonic() - restarted
        ids = [m.merchant_id for m in merchants]
        await eventually(lambda: _all_notified(j, ids), timeout=120, what="one helpdesk email per merchant")
        await asyncio.sleep(3)                                # a late duplicate would land now
        report = await _check(j, fault_infra, ids)
    print(f"{MERCHANTS} journeys; broker killed with {killed_with[0]} finished and {killed_with[1]} events applied "
          f"in the registry; the last journey ended {walked_after:.1f} s after the restart; {report}")
    assert killed_with[0] < MERCHANTS, "the kill came after every journey had finished"


async def _registry_applied_count(j: Journeys) -> int:
    conn = await asyncpg.connect(j.registry_dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM delivery_inbox")
    finally:
        await conn.close()


async def _registry_applied(j: Journeys, at_least: int) -> bool:
    return await _registry_applied_count(j) >= at_least


async def _all_notified(j: Journeys, merchants: list[str]) -> bool:
    return all(_emails(j, m) for m in merchants)


def _emails(j: Journeys, merchant: str) -> list[dict]:
    return [m for m in j.helpdesk.mail(merchant) if "ready to finalise" in (m.get("subject") or "")]


async def _check(j: Journeys, infra: FaultInfra, merchants: list[str]) -> str:
    """Zero lost, zero doubled, per merchant and event: the assertions; returns what was counted."""
    staged = await _staged(j.key_validator_dsn, merchants, {topics.KEY_VALIDATED})
    staged += await _staged(j.stack.dsn, merchants, {topics.STORE_CONNECTED, topics.ORG_SELECTED})
    completions = await _staged(j.registry_dsn, merchants, {topics.SETUP_COMPLETED})
    expected = Counter({(m, t): 1 for m in merchants for t in (topics.KEY_VALIDATED, topics.STORE_CONNECTED,
                                                              topics.ORG_SELECTED, topics.SETUP_COMPLETED)})
    assert Counter((m, t) for m, t, _ in staged + completions) == expected, "one event of each kind per merchant"

    inputs = [event_id for _, _, event_id in staged]
    registry = await _per_event(j.registry_dsn, "SELECT event_id, count(*) FROM delivery_inbox WHERE "
                                "event_id = ANY($1) GROUP BY event_id", inputs)
    timeline = await _per_event(j.registry_dsn, "SELECT event_id, count(*) FROM timeline WHERE "
                                "event_id = ANY($1) GROUP BY event_id", inputs)
    assert registry == timeline == Counter(dict.fromkeys(inputs, 1)), "each event applied once in the registry"

    outputs = [event_id for _, _, event_id in completions]
    notified = Counter((r["event_id"], r["channel"]) for r in await j.notifier.pool.fetch(
        "SELECT event_id, channel FROM helpdesk_deliveries WHERE event_id = ANY($1)", outputs))
    assert notified == Counter({(e, c): 1 for e in outputs for c in ("email", "webhook")}), \
        "each SetupCompleted applied once in the notifier, one delivery per channel"
    assert {m: len(_emails(j, m)) for m in merchants} == dict.fromkeys(merchants, 1), "one helpdesk email each"
    assert {m: len(j.helpdesk.hooks(m)) for m in merchants} == dict.fromkeys(merchants, 1), "one webhook each"

    records = await read_topic(infra.bootstrap, topics.STORE_CONNECTED, expect=len(merchants), timeout=60)
    ours = [r for r in records if r.key and r.key.decode() in merchants]
    partitions = {r.partition for r in ours}
    assert len(partitions) > 1, f"the merchants did not spread over partitions: {partitions}"
    copies = Counter(dict(r.headers)["ce_id"] for r in ours)
    return (f"{len(inputs)} events applied once in the registry, {len(outputs)} completions notified once; "
            f"StoreConnected on partitions {sorted(partitions)}, {sum(copies.values()) - len(copies)} extra "
            f"copies on the topic")


async def _staged(dsn: str, merchants: list[str], kinds: set[str]) -> list[tuple[str, str, object]]:
    """(merchant, topic, event id) of what a service's outbox staged for these merchants."""
    conn = await asyncpg.connect(dsn)
    try:
        return [(r["record_key"].decode(), r["topic"], r["event_id"]) for r in await conn.fetch(
            "SELECT record_key, topic, event_id FROM delivery_outbox WHERE topic = ANY($1) AND record_key = ANY($2)",
            list(kinds), [m.encode() for m in merchants])]
    finally:
        await conn.close()


async def _per_event(dsn: str, query: str, ids: list[object]) -> Counter:
    conn = await asyncpg.connect(dsn)
    try:
        return Counter({r[0]: r[1] for r in await conn.fetch(query, ids)})
    finally:
        await conn.close()


async def _diagnose(j: Journeys, infra: FaultInfra) -> str:
    """What was still waiting, attached to a stalled journey: outboxes, the registry's inbox, the groups."""
    lines = []
    for name, dsn in (("key_validator", j.key_validator_dsn), ("gateway", j.stack.dsn), ("registry", j.registry_dsn)):
        conn = await asyncpg.connect(dsn)
        try:
            lines.append(f"{name} outbox pending: {await conn.fetchval(_PENDING)}; inbox: "
                         f"{await conn.fetchval('SELECT count(*) FROM delivery_inbox')}")
        finally:
            await conn.close()
    conn = await asyncpg.connect(j.registry_dsn)
    try:
        kinds = dict(await conn.fetch('SELECT what, count(*) FROM timeline GROUP BY what'))
        lines.append(f"registry timeline: {kinds}")
    finally:
        await conn.close()
    return "\n".join(lines)
