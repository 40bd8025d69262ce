"""Plain-aiokafka helpers for tests that look at the topics the way the wider platform does."""

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from local_infra.probes import read_topic
from shared.contracts import CloudEvent, to_kafka

__all__ = ["committed_offset", "eventually", "produce", "publish", "read_topic"]  # read_topic: local_infra, bench reads too


async def produce(bootstrap: str, topic: str, value: bytes, *, key: bytes,
                  headers: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def publish(bootstrap: str, *events: CloudEvent) -> None:
    """Binary-mode CloudEvents on the events' own topics, keyed by merchant, as a service's outbox sends them."""
    for event in events:
        record = to_kafka(event)
        await produce(bootstrap, record.topic, record.value, key=record.key, headers=record.headers)


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
