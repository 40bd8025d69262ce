"""Read what the product published, the way the wider platform does (plain aiokafka, no consumer group).

Tests and bench.journey check the product's output on the topics with it.
"""

import asyncio
import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


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
