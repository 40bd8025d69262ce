"""`python -m tools.ops erase-merchant <merchant_id> --requested-by NAME --reference TICKET` (docs/erasure.md).

Asks the registry (the source of truth) to erase the merchant: its API deletes the registry's rows, records the
counts and publishes MerchantErased. Then waits, at most `--wait-seconds`, until the record is on its topic and
every consumer group of MerchantErased has committed past it (each service erases its own rows before its offset
moves), and prints the registry's counts (its merchant_erasures row; each service keeps its own counts in its
merchant_erasures table) and where each group stands, as JSON. Exit status 1 while a group is not past it.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.contracts import topics
from shared.kafka_clients import client_options
from shared.settings import KafkaSettings

GROUPS = ("oauth_gateway", "key_validator", "notifier")   # every service consuming MerchantErased


class ErasureFailed(Exception):
    """The registry refused or could not be reached: nothing was erased by this call."""


@dataclass(frozen=True, slots=True)
class Position:
    partition: int
    offset: int


async def request_erasure(registry_url: str, token: str, merchant_id: str, requested_by: str,
                          reference: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=registry_url.rstrip("/"), timeout=30) as http:
        try:
            answer = await http.post(f"/v1/merchants/{merchant_id}/erasure", json={
                "requested_by": requested_by, "reference": reference}, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as error:
            raise ErasureFailed(f"the registry did not answer: {type(error).__name__}") from error
    if answer.status_code not in (200, 201):
        raise ErasureFailed(f"the registry refused ({answer.status_code}): {answer.text[:300]}")
    return answer.json()


async def find_record(kafka: KafkaSettings | str, event_id: str, deadline: float) -> Position | None:
    """Where the MerchantErased with that CloudEvents id sits on its topic (the relay publishes it shortly after
    the registry's commit); None if it is not there before `deadline`. The topic is small: erasures are rare."""
    consumer = AIOKafkaConsumer(**client_options(kafka), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        while time.monotonic() < deadline:
            partitions = [TopicPartition(topics.MERCHANT_ERASED, p)
                          for p in sorted(consumer.partitions_for_topic(topics.MERCHANT_ERASED) or ())]
            if partitions:
                consumer.assign(partitions)
                await consumer.seek_to_beginning(*partitions)
                ends = await consumer.end_offsets(partitions)
                while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                    for records in (await consumer.getmany(timeout_ms=200)).values():
                        for r in records:
                            if dict(r.headers).get("ce_id", b"").decode(errors="replace") == event_id:
                                return Position(r.partition, r.offset)
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a topic created meanwhile
            await asyncio.sleep(0.5)
        return None
    finally:
        await consumer.stop()


async def wait_for_groups(kafka: KafkaSettings | str, groups: tuple[str, ...], position: Position,
                          deadline: float) -> dict[str, int | None]:
    """Each group's committed offset on the record's partition, once all are past it or at the deadline."""
    tp = TopicPartition(topics.MERCHANT_ERASED, position.partition)
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        while True:
            committed: dict[str, int | None] = {}
            for group in groups:
                offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
                meta = offsets.get(tp)
                committed[group] = meta.offset if meta is not None and meta.offset >= 0 else None
            if all(c is not None and c > position.offset for c in committed.values()) or time.monotonic() >= deadline:
                return committed
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def erase_merchant(kafka: KafkaSettings | str, registry_url: str, token: str, merchant_id: str, *,
                         requested_by: str, reference: str, wait_seconds: float,
                         groups: tuple[str, ...] = GROUPS) -> dict[str, Any]:
    deadline = time.monotonic() + wait_seconds
    registry = await request_erasure(registry_url, token, merchant_id, requested_by, reference)
    position = await find_record(kafka, str(registry["event_id"]), deadline)
    if position is None:
        return {"merchant_id": merchant_id, "registry": registry, "complete": False,
                "waiting_for": "the MerchantErased record to reach Kafka (the registry's outbox relay)"}
    committed = await wait_for_groups(kafka, groups, position, deadline)
    behind = sorted(g for g, c in committed.items() if c is None or c <= position.offset)
    return {"merchant_id": merchant_id, "registry": registry, "complete": not behind,
            "record": {"partition": position.partition, "offset": position.offset},
            "groups": {g: {"committed": c, "past_record": g not in behind} for g, c in committed.items()},
            **({"waiting_for": behind} if behind else {})}
