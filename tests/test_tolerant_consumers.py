"""An added optional field passes through an old consumer, on real Kafka and PostgreSQL: a record whose data
(and a nested part) carries a field this code does not know, as a newer producer sends it, is applied by the
connection registry's consumer and never reaches its dead-letter topic."""

import json
from uuid import uuid4

import pytest

from connection_registry.main import build_app as build_registry
from connection_registry.settings import RegistrySettings
from shared.contracts import topics
from shared.contracts.examples import key_validated
from shared.delivery import CloudEvent, to_kafka

from .support.kafka import eventually, produce, read_topic
from .support.services import REGISTRY_CONSOLE, running

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
async def registry(pg_dsn, kafka_bootstrap, unique_name):
    async with running(build_registry, RegistrySettings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                       group=unique_name("registry"), api_token="unused-api-token-0123456789",
                       **REGISTRY_CONSOLE) as runtime:
        yield runtime


async def test_a_newer_producers_optional_field_is_applied_not_dead_lettered(registry, kafka_bootstrap):
    merchant = f"m-{uuid4().hex[:8]}"
    event = CloudEvent(data=key_validated(merchant, stores=3), source="/tests/newer-producer")
    record = to_kafka(event)
    newer = json.loads(record.value) | {"channel": "web"}
    newer["stores"][0]["timezone"] = "Pacific/Auckland"
    # A schema-invalid record right behind it on the same partition: once it is dead-lettered, the consumer
    # has decided about the newer record too, so an empty dead-letter topic before it means "applied".
    sentinel = to_kafka(CloudEvent(data=key_validated(merchant), source="/tests/sentinel"))
    missing = json.dumps({"merchant_id": merchant}).encode()

    await produce(kafka_bootstrap, topics.KEY_VALIDATED, json.dumps(newer).encode(), key=record.key,
                  headers=record.headers)
    await produce(kafka_bootstrap, topics.KEY_VALIDATED, missing, key=record.key, headers=sentinel.headers)

    dead = await read_topic(kafka_bootstrap, registry.dead_letters.topic, key=merchant.encode(), expect=1)
    assert [r.value for r in dead] == [missing]
    await eventually(lambda: _count_is(registry, 3, "SELECT count(*) FROM stores WHERE merchant_id = $1"
                                       " AND state = 'eligible'", merchant), what="the newer record's stores")
    assert await registry.pool.fetchval("SELECT count(*) FROM delivery_inbox WHERE event_id = $1", event.id) == 1
    names = await registry.pool.fetch("SELECT name FROM stores WHERE merchant_id = $1 ORDER BY name", merchant)
    assert [r["name"] for r in names] == [s.name for s in event.data.stores]


async def _count_is(runtime, expected: int, sql: str, *args) -> bool:
    return await runtime.pool.fetchval(sql, *args) == expected
