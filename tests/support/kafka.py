"""Plain-aiokafka helpers for tests that look at the topics the way the wider platform does."""

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def read_topic(bootstrap: str, topic: str, *, key: bytes | None = None,
                     expect: int = 1, timeout: float = 30) -> list[ConsumerRecord]:
    """Every record on `topic` (optionally only `key`'s), waiting until at least `expect` are there."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        while not (partitions := consumer.partitions_for_topic(topic)):
            await consumer._client.force_metadata_update()  # noqa: SLF001 - topic may be new
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic} never appeared")
            await asyncio.sleep(0.2)
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        found: list[ConsumerRecord] = []
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            found += [r for records in batch.values() for r in records if key is None or r.key == key]
            if len(found) >= expect and not batch:
                return found
        raise TimeoutError(f"{len(found)} of {expect} record(s) on {topic} within {timeout}s")
    finally:
        await consumer.stop()


async def produce(bootstrap: str, topic: str, value: bytes, *, key: bytes,
                  headers: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def committed_offset(bootstrap: str, group: str, topic: str, partition: int = 0) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        meta = offsets.get(TopicPartition(topic, partition))
        return meta.offset if meta else -1
    finally:
        await admin.close()


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 30, what: str = "") -> None:
    """Poll `check` until it is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await asyncio.sleep(0.1)
