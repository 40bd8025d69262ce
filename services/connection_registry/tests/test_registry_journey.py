"""connection_registry on real Kafka + PostgreSQL: a merchant's whole journey goes in through the topics and
the HTTP API (completion, helpdesk), and we check the graph and timeline it leaves, exactly-once completion,
the organisation cascade, that redelivering every event twice changes nothing, and that a rebuild from
offset zero into an empty database yields the same rows."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
import pytest_asyncio

from connection_registry.rebuild import rebuild
from sandboxes.staff_idp import ALICE_EMAIL
from shared.contracts import topics
from shared.delivery import CloudEvent
from tests.support.kafka import committed_offset, eventually, read_topic

from .journey import ORG_A, ORG_B, Journey
from .live import Registry, serving, snapshot

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@dataclass
class Story:
    registry: Registry
    journey: Journey
    consumed: list[CloudEvent]
    disconnect: CloudEvent
    completion_ids: list[str]
    published_ids: list[UUID]

    @property
    def merchant(self) -> str:
        return self.journey.merchant_id

    async def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        ids = [e.id for e in self.consumed] + self.published_ids
        return await snapshot(self.registry.runtime.pool, [self.merchant], ids)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def story(pg_dsn, kafka_bootstrap) -> AsyncIterator[Story]:
    """One merchant's journey, once for this module: connect 3 stores to 2 organisations, complete (twice),
    lose organisation A (cascade to 2 stores), resend the notification, finalise."""
    async with serving(pg_dsn, kafka_bootstrap, f"registry-journey-{uuid4().hex[:8]}") as registry:
        j = Journey(f"m-{uuid4().hex[:10]}", clock=lambda: datetime.now(UTC))
        connected = j.connected()
        for event in connected:  # one at a time, as a merchant clicks through (see the rebuild module's rules)
            await registry.send(event)
        completions = [await registry.http.post(f"/v1/merchants/{j.merchant_id}/completion",
                                                json={"completed_by": "u-1"}) for _ in range(2)]
        assert [c.status_code for c in completions] == [202, 200]
        disconnect = j.org_disconnected(ORG_A)
        await registry.send(disconnect)
        assert (await registry.helpdesk("resend", j.merchant_id)).headers["location"].endswith("notice=resent")
        assert (await registry.helpdesk("finalise", j.merchant_id)).headers["location"].endswith("notice=finalised")
        await eventually(registry.drained, what="the outbox to be published")
        published = await registry.runtime.pool.fetch("SELECT event_id FROM delivery_outbox ORDER BY seq")
        yield Story(registry, j, [*connected, disconnect], disconnect, [c.json()["event_id"] for c in completions],
                    [r["event_id"] for r in published])


async def test_the_journey_builds_the_expected_graph_and_timeline(story):
    summary = (await story.registry.http.get(f"/v1/merchants/{story.merchant}/summary")).json()
    timeline = (await story.registry.http.get(f"/v1/merchants/{story.merchant}/timeline")).json()["entries"]

    assert (summary["completed"], summary["finalised"]) == (True, True)
    assert [(o["tenant_id"], [s["store_id"] for s in o["stores"]]) for o in summary["organisations"]] == [
        (str(ORG_B), ["s-3"])]
    assert [(s["store_id"], s["state"], s["tenant_id"], s["reason"]) for s in summary["stores"]] == [
        ("s-1", "disconnected", str(ORG_A), "removed_in_xero"), ("s-2", "disconnected", str(ORG_A), "removed_in_xero"),
        ("s-3", "connected", str(ORG_B), None)]
    assert [(e["what"], e["actor"]) for e in timeline] == [
        ("Cloud POS API key 'Xero API Client' validated; 3 store(s) eligible", "u-1"),
        ("Store 'Store 1' authorised Xero access (grant g-1) to 2 organisation(s): Steve's Cycles Ltd, "
         "Steve's Rentals Ltd", "u-1"),
        ("Store 'Store 1' connected to organisation 'Steve's Cycles Ltd'", "u-1"),
        ("Store 'Store 2' connected to organisation 'Steve's Cycles Ltd'", "u-1"),
        ("Store 'Store 3' authorised Xero access (grant g-2) to 1 organisation(s): Steve's Rentals Ltd", "u-1"),
        ("Store 'Store 3' connected to organisation 'Steve's Rentals Ltd'", "u-1"),
        ("Setup completed: 3 store(s) connected to 2 organisation(s)", "u-1"),
        ("Organisation 'Steve's Cycles Ltd' disconnected (removed_in_xero); 2 store(s) disconnected", "u-1"),
        ("Store 'Store 1' disconnected from organisation 'Steve's Cycles Ltd'", "u-1"),
        ("Store 'Store 2' disconnected from organisation 'Steve's Cycles Ltd'", "u-1"),
        ("Setup-completed notification resent to the helpdesk", "helpdesk"),
        ("Setup finalised by the helpdesk", ALICE_EMAIL)]
    consumed_lines = [timeline[i] for i in (0, 1, 2, 3, 4, 5, 7)]
    assert [(e["event_id"], e["occurred_at"]) for e in consumed_lines] == [
        (str(e.id), e.time.isoformat().replace("+00:00", "Z")) for e in story.consumed]


async def test_completion_publishes_exactly_one_setup_completed(story):
    key = story.merchant.encode()
    records = await read_topic(story.registry.bootstrap, topics.SETUP_COMPLETED, key=key, expect=2)
    headers = [dict(r.headers) for r in records]

    first, *others = headers
    assert len(set(story.completion_ids)) == 1 and first["ce_id"].decode() == story.completion_ids[0]
    assert first["ce_source"] == b"/cloudpos-xero/connection_registry" and "ce_causationid" not in first
    # The only other SetupCompleted is the helpdesk's resend: a new id, caused by the completion.
    assert [(h["ce_causationid"], h["ce_id"] != first["ce_id"]) for h in others] == [(first["ce_id"], True)]
    finalised = await read_topic(story.registry.bootstrap, topics.SETUP_FINALISED, key=key, expect=1)
    assert len(finalised) == 1


async def test_an_organisation_disconnect_cascades_to_all_its_stores(story):
    key, od = story.merchant.encode(), story.disconnect
    lost = await read_topic(story.registry.bootstrap, topics.STORE_DISCONNECTED, key=key, expect=2)
    changed = await read_topic(story.registry.bootstrap, topics.CONNECTIONS_CHANGED, key=key, expect=1)

    assert sorted(r.value for r in lost) == sorted(
        b'{"merchant_id":"%s","store_id":"%s","tenant_id":"%s","organisation_name":"Steve\'s Cycles Ltd",'
        b'"reason":"removed_in_xero"}' % (key, s, str(ORG_A).encode()) for s in (b"s-1", b"s-2"))
    assert {(dict(r.headers)["ce_causationid"], dict(r.headers)["ce_correlationid"]) for r in lost} == {
        (str(od.id).encode(), str(story.journey.correlation).encode())}
    assert len(changed) == 1 and dict(changed[0].headers)["ce_causationid"] == str(od.id).encode()
    assert b'"links":[{"store_id":"s-3"' in changed[0].value and b'"reason":"removed_in_xero"' in changed[0].value


async def test_redelivering_every_event_twice_changes_nothing(story):
    registry = story.registry
    before = await story.snapshot()
    outbox = await registry.runtime.pool.fetchval("SELECT count(*) FROM delivery_outbox")

    offsets = await registry.send(*story.consumed, *story.consumed, wait=False)

    last = {e.topic: o for e, o in zip([*story.consumed] * 2, offsets, strict=True)}
    for topic, offset in last.items():
        await eventually(lambda t=topic, o=offset: _committed_past(registry, t, o), what=f"{topic} consumed")
    assert await story.snapshot() == before
    assert await registry.runtime.pool.fetchval("SELECT count(*) FROM delivery_outbox") == outbox


async def test_a_rebuild_from_offset_zero_into_an_empty_database_yields_identical_rows(story, fresh_database):
    live = await story.snapshot()

    report = await rebuild(fresh_database, story.registry.bootstrap, f"registry-rebuild-{uuid4().hex[:8]}")

    conn = await asyncpg.connect(fresh_database)
    try:
        rebuilt = await snapshot(conn, [story.merchant], [e.id for e in story.consumed] + story.published_ids)
        outbox = await conn.fetchval("SELECT count(*) FROM delivery_outbox")
    finally:
        await conn.close()
    assert rebuilt == live, report
    assert len(live["timeline"]) == 12
    assert len(live["delivery_inbox"]) == 10  # 7 consumed, and the completion, resend and finalisation published
    assert outbox == 0  # the rebuild never stages anything to publish
    assert report.outcomes["applied"] >= 10


async def _committed_past(registry: Registry, topic: str, offset: int) -> bool:
    group = registry.runtime.consumer_group
    return await committed_offset(registry.bootstrap, group, topic) > offset
