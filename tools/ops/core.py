"""What on-call asks of the platform: how far behind is a consumer group, how much is stuck in an outbox,
what was dead-lettered and why, and put dead letters back on their original topic.

Replay republishes the record exactly as it was first produced (key, value, original headers without the
`dlq_*` ones) to its original topic; consumers deduplicate on the CloudEvents id, so replaying twice is safe.
"""

import asyncio
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.contracts.topics import dead_letter_topic
from shared.delivery import idempotent_producer, outbox_backlog
from shared.kafka_clients import client_options
from shared.settings import KafkaSettings


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return self.end - max(self.committed, 0)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    offset: int
    event_id: str | None
    event_type: str | None
    reason: str
    original: str   # topic[partition]@offset

    @classmethod
    def of(cls, record: ConsumerRecord) -> "DeadLetter":
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        return cls(record.offset, headers.get("ce_id"), headers.get("ce_type"), headers.get("dlq_reason", ""),
                   f"{headers.get('dlq_topic')}[{headers.get('dlq_partition')}]@{headers.get('dlq_offset')}")


async def consumer_lag(bootstrap: KafkaSettings | str, group: str) -> list[PartitionLag]:
    """Committed offset vs end offset for every partition the group has committed on."""
    admin = AIOKafkaAdminClient(**client_options(bootstrap))
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    if not committed:
        return []
    consumer = AIOKafkaConsumer(**client_options(bootstrap), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(list(committed))
    finally:
        await consumer.stop()
    return sorted((PartitionLag(tp.topic, tp.partition, meta.offset, ends[tp]) for tp, meta in committed.items()),
                  key=lambda p: (p.topic, p.partition))


async def backlog(database_url: str) -> tuple[int, float]:
    """Unpublished outbox rows and the age of the oldest, in one service's database."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        return await outbox_backlog(pool)
    finally:
        await pool.close()


async def read_dead_letters(bootstrap: KafkaSettings | str, group: str, *,
                            timeout: float = 5.0) -> list[ConsumerRecord]:
    """Every record on the group's dead-letter topic, up to its end offsets at the time of the call."""
    topic = dead_letter_topic(group)
    consumer = AIOKafkaConsumer(**client_options(bootstrap), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            return []
        await consumer._client.force_metadata_update()  # noqa: SLF001 - topics() does not refresh the cache
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[ConsumerRecord] = []
        async with asyncio.timeout(timeout):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=200)
                found += [r for records in batch.values() for r in records if r.offset < ends[
                    TopicPartition(r.topic, r.partition)]]
        return sorted(found, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


async def list_dead_letters(bootstrap: KafkaSettings | str, group: str) -> list[DeadLetter]:
    return [DeadLetter.of(record) for record in await read_dead_letters(bootstrap, group)]


async def replay_dead_letters(bootstrap: KafkaSettings | str, group: str, *,
                              event_ids: set[str] | None = None) -> list[str]:
    """Republish dead letters (all, or those with the given CloudEvents ids); returns the ids replayed."""
    records = await read_dead_letters(bootstrap, group)
    producer: AIOKafkaProducer = idempotent_producer(bootstrap, f"ops-replay-{group}")
    await producer.start()
    replayed: list[str] = []
    try:
        for record in records:
            headers = dict((k, v) for k, v in record.headers)
            event_id = headers.get("ce_id", b"").decode(errors="replace")
            if event_ids is not None and event_id not in event_ids:
                continue
            original = [(k, v) for k, v in record.headers if not k.startswith("dlq_")]
            await producer.send_and_wait(headers["dlq_topic"].decode(), value=record.value, key=record.key,
                                         headers=original)
            replayed.append(event_id)
    finally:
        await producer.stop()
    return replayed
