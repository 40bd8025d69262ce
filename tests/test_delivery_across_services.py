"""The delivery kit end to end on real Kafka and PostgreSQL: key_validator's outbox → Kafka →
connection_registry's consumer, exactly once although Kafka delivers twice; poison to dead letters."""

from uuid import uuid4

import pytest

from connection_registry.main import build_app as build_registry
from connection_registry.settings import RegistrySettings
from key_validator.main import build_app as build_key_validator
from key_validator.settings import KeyValidatorSettings
from shared.contracts import topics
from shared.delivery import CloudEvent, to_kafka, transaction
from shared.contracts.examples import key_validated

from .support.kafka import committed_offset, eventually, produce, read_topic
from .support.services import REGISTRY_CONSOLE, running

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
async def registry(pg_dsn, kafka_bootstrap, unique_name):
    async with running(build_registry, RegistrySettings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                       group=unique_name("registry"), api_token="unused-api-token-0123456789",
                       **REGISTRY_CONSOLE) as runtime:
        yield runtime


@pytest.fixture
async def key_validator(pg_dsn, kafka_bootstrap, unique_name):
    async with running(build_key_validator, KeyValidatorSettings, pg_dsn=pg_dsn,
                       kafka_bootstrap=kafka_bootstrap, group=unique_name("key-validator"),
                       cloudpos={"base_url": "http://127.0.0.1:9", "platform_token": "unused-platform-token"},
                       api_token="unused-api-token-0123456789",
                       key_fingerprint_secret="unused-fingerprint-secret-0123456789abcdef") as runtime:
        yield runtime


async def _count(runtime, sql: str, *args) -> int:
    return await runtime.pool.fetchval(sql, *args)


async def test_an_event_delivered_twice_is_applied_once(key_validator, registry, kafka_bootstrap):
    merchant = f"m-{uuid4().hex[:8]}"
    event = CloudEvent(data=key_validated(merchant, stores=3), source="/tests")

    async with transaction(key_validator.pool) as tx:
        await tx.publish(event)
    published = "SELECT count(*) FROM delivery_outbox WHERE event_id = $1 AND published_at IS NOT NULL"
    await eventually(lambda: _is(key_validator, published, 1, event.id), what="the relay to publish")
    # The relay crashed after the broker's ack but before marking the row: it publishes it again.
    await key_validator.pool.execute("UPDATE delivery_outbox SET published_at = NULL WHERE event_id = $1", event.id)
    await eventually(lambda: _is(key_validator, published, 1, event.id), what="the relay to publish again")

    copies = await read_topic(kafka_bootstrap, topics.KEY_VALIDATED, key=merchant.encode(), expect=2)
    assert [dict(c.headers)["ce_id"] for c in copies] == [str(event.id).encode()] * 2
    last = copies[-1]
    await eventually(lambda: _committed_past(kafka_bootstrap, registry.consumer_group, last),
                     what="the registry to commit past the second copy")

    assert await _count(registry, "SELECT count(*) FROM delivery_inbox WHERE event_id = $1", event.id) == 1
    assert await _count(registry, "SELECT count(*) FROM timeline WHERE merchant_id = $1", merchant) == 1
    assert await _count(registry, "SELECT count(*) FROM stores WHERE merchant_id = $1 AND state = 'eligible'",
                        merchant) == 3


async def test_poison_goes_to_dead_letters_and_the_partition_keeps_flowing(registry, kafka_bootstrap):
    merchant = f"m-{uuid4().hex[:8]}"
    good = to_kafka(CloudEvent(data=key_validated(merchant), source="/tests"))
    poison = {
        "undecodable": (b"\xff{not json", good.headers),
        "schema-invalid": (b'{"merchant_id": "' + merchant.encode() + b'"}', good.headers),
        "not-a-cloudevent": (good.value, [("content-type", b"application/json")]),
    }
    for value, headers in poison.values():
        await produce(kafka_bootstrap, topics.KEY_VALIDATED, value, key=merchant.encode(), headers=headers)
    await produce(kafka_bootstrap, topics.KEY_VALIDATED, good.value, key=good.key, headers=good.headers)

    await eventually(lambda: _is(registry, "SELECT count(*) FROM stores WHERE merchant_id = $1", 3, merchant),
                     what="the good event after the poison to be applied")
    dead = await read_topic(kafka_bootstrap, registry.dead_letters.topic, key=merchant.encode(), expect=3)
    reasons = [dict(r.headers)["dlq_reason"].decode() for r in dead]
    assert len(dead) == 3
    assert reasons[0].startswith("undecodable JSON")
    assert "KeyValidated.v1 data invalid" in reasons[1]
    assert "does not belong on topic" in reasons[2] or "not a CloudEvent" in reasons[2]
    assert [r.value for r in dead] == [v for v, _ in poison.values()]
    assert all(dict(r.headers)["dlq_topic"] == topics.KEY_VALIDATED.encode() for r in dead)


async def _is(runtime, sql: str, expected: int, *args) -> bool:
    return await _count(runtime, sql, *args) == expected


async def _committed_past(bootstrap: str, group: str, record) -> bool:
    return await committed_offset(bootstrap, group, record.topic, record.partition) > record.offset
