"""Independent scaling, proven on real Kafka: for each consumer service (connection_registry, notifier), two
`python -m <service>` processes share one consumer group and one database over 4-partition topics; one is
SIGKILLed mid-stream, the other takes over its partitions, and every event of the stream is applied exactly
once (one inbox row and one effect row per event id: a registry timeline line, a notifier delivery).

A private broker with num.partitions=4 keeps the session broker's single-partition topics untouched.
"""

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from local_infra.kafka import KafkaBroker
from local_infra.postgres import temporary_database
from shared.contracts import Event, SetupCompleted, examples, topics
from shared.delivery import CloudEvent, to_kafka

from .support.kafka import eventually
from .support.services import registry_console_env
from local_infra.processes import ServiceProcess, service_process

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
PARTITIONS = 4
EVENTS = 240


@pytest.fixture(scope="module")
def kafka4() -> Iterator[str]:
    with KafkaBroker(num_partitions=PARTITIONS) as broker:
        yield broker.bootstrap_servers


async def create_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in names])
    finally:
        await admin.close()


async def publish(bootstrap: str, events: list[CloudEvent], *, pause: float) -> set[int]:
    """Produce the stream slowly enough that the kill lands in the middle; returns the partitions used."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    used: set[int] = set()
    try:
        for event in events:
            record = to_kafka(event)
            meta = await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
            used.add(meta.partition)
            await asyncio.sleep(pause)
    finally:
        await producer.stop()
    return used


@dataclass(frozen=True)
class Consumer:
    module: str
    topics: tuple[str, ...]
    event: Callable[[str], Event]
    effects: str             # SQL: (event_id, n) rows of the effect each event must leave exactly once
    processed: tuple[str, dict[str, str]]  # the per-process metric that counts handled records
    settings: dict[str, str]


def _setup_completed(merchant: str) -> Event:
    example = next(e for e in examples.ALL if isinstance(e, SetupCompleted))
    return example.model_copy(update={"merchant_id": merchant})


CONSUMERS = [
    Consumer("connection_registry", (topics.KEY_VALIDATED, topics.STORE_CONNECTED, topics.ORG_SELECTED,
                                     topics.ORG_DISCONNECTED),
             lambda merchant: examples.key_validated(merchant, stores=1),
             "SELECT event_id, count(*) AS n FROM timeline WHERE event_id = ANY($1) GROUP BY event_id",
             ("registry_events_total", {"outcome": "applied"}),
             {"API_TOKEN": "registry-api-token-for-tests",
              **{k.removeprefix("CONNECTION_REGISTRY_"): v for k, v in registry_console_env().items()}}),
    Consumer("notifier", (topics.SETUP_COMPLETED, topics.CONNECTIONS_CHANGED), _setup_completed,
             "SELECT event_id, count(*) AS n FROM helpdesk_deliveries WHERE event_id = ANY($1) GROUP BY event_id",
             ("faststream_received_messages_total", {"handler": "SetupCompleted"}),
             {"API_TOKEN": "notifier-api-token-for-tests", "DISPATCHER__ENABLED": "false",
              "EMAIL__HOST": "127.0.0.1", "EMAIL__PORT": "9", "EMAIL__FROM_ADDRESS": "xero@cloudpos.test",
              "EMAIL__TO": '["helpdesk@cloudpos.test"]', "EMAIL__STARTTLS": "false",
              "MERCHANT_EMAIL__HOST": "127.0.0.1", "MERCHANT_EMAIL__PORT": "9",
              "MERCHANT_EMAIL__FROM_ADDRESS": "noreply@cloudpos.test", "MERCHANT_EMAIL__STARTTLS": "false",
              "CLOUDPOS__BASE_URL": "http://127.0.0.1:9", "CLOUDPOS__PLATFORM_TOKEN": "unused-platform-token",
              "PUBLIC_BASE_URL": "http://127.0.0.1:8104",
              "REMINDER_LINK_SECRET": "reminder-link-secret-for-tests-0123456789"}),
]


@pytest.mark.parametrize("consumer", CONSUMERS, ids=lambda c: c.module)
async def test_survivor_takes_over_a_killed_instance(consumer: Consumer, kafka4: str, pg_dsn: str, unique_name,
                                                     tmp_path: Path) -> None:
    await create_topics(kafka4, *consumer.topics)
    group = unique_name(f"takeover-{consumer.module}")
    stream = [CloudEvent(data=consumer.event(f"m-{uuid4().hex[:12]}"), source="/tests") for _ in range(EVENTS)]
    prefix = consumer.module.upper()
    async with temporary_database(pg_dsn, prefix=f"takeover_{consumer.module}") as dsn:
        env = {f"{prefix}_DATABASE__URL": dsn, f"{prefix}_KAFKA__BOOTSTRAP_SERVERS": kafka4,
               f"{prefix}_KAFKA__CONSUMER_GROUP": group,
               **{f"{prefix}_{name}": value for name, value in consumer.settings.items()}}
        with service_process(consumer.module, env, tmp_path) as first, \
                service_process(consumer.module, env, tmp_path) as second:
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
            try:
                await _run(kafka4, pool, consumer, stream, first, second)
            finally:
                await pool.close()


async def _run(bootstrap: str, pool, consumer: Consumer, stream: list[CloudEvent],  # type: ignore[no-untyped-def]
               victim: ServiceProcess, survivor: ServiceProcess) -> None:
    ids = [event.id for event in stream]
    metric, labels = consumer.processed

    async def applied() -> int:
        return await pool.fetchval("SELECT count(*) FROM delivery_inbox WHERE event_id = ANY($1)", ids)

    half = EVENTS // 2
    await publish(bootstrap, stream[:half], pause=0.01)
    await eventually(lambda: _at_least(applied, half // 3), timeout=60, what="the first events to be applied")
    victim_applied = await asyncio.to_thread(victim.metric, metric, **labels)
    survivor_before = await asyncio.to_thread(survivor.metric, metric, **labels)
    assert victim_applied > 0 and survivor_before > 0, "both instances must own partitions before the kill"

    in_flight = asyncio.create_task(publish(bootstrap, stream[half:half + 40], pause=0.01))
    await asyncio.sleep(0.2)
    victim.kill()  # while its partitions still receive events
    await in_flight
    after_kill = stream[half + 40:]
    partitions_after_kill = await publish(bootstrap, after_kill, pause=0.0)

    await eventually(lambda: _at_least(applied, EVENTS), timeout=120, what="every event to be applied")
    await asyncio.sleep(2)  # let any redelivery of the victim's uncommitted records arrive and be deduplicated
    assert await applied() == EVENTS
    per_event = await pool.fetch(consumer.effects, ids)
    counts = {row["event_id"]: row["n"] for row in per_event}
    assert set(counts) == set(ids), f"{len(set(ids) - set(counts))} event(s) lost"
    assert set(counts.values()) == {1}, "an event was applied twice"
    assert partitions_after_kill == set(range(PARTITIONS)), "the post-kill stream must cover every partition"
    survivor_after = await asyncio.to_thread(survivor.metric, metric, **labels)
    assert survivor_after - survivor_before >= len(after_kill), \
        "the survivor applied everything sent after the kill, on the victim's partitions too"
    _check_logs(survivor, consumer)


def _check_logs(process: ServiceProcess, consumer: Consumer) -> None:
    """The process logs JSON only (FastStream's and uvicorn's lines too) and never its API token."""
    lines = [json.loads(line) for line in process.log.read_text().splitlines() if line.strip()]
    assert lines and all(line["service"] == consumer.module for line in lines)
    text = process.log.read_text()
    assert all(secret not in text for name, secret in consumer.settings.items() if "TOKEN" in name)


async def _at_least(read, n: int) -> bool:  # type: ignore[no-untyped-def]
    return await read() >= n
