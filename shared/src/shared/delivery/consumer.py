"""Kafka consumers with at-least-once delivery, idempotent effects and dead letters, in batches.

A service declares what it consumes with `ServiceRuntime.consumes(EventType, handle)`; `handle` takes one
`CloudEvent` and does its work in one database transaction that also claims the event id in the inbox.
`EventConsumer` subscribes a FastStream *batch* subscriber per topic (aiokafka `getmany`) and runs each
record through the same rules, one record at a time in partition order (a batch's partitions concurrently):

- handled: the record counts as done;
- poison (undecodable, schema-invalid, foreign type) or `PoisonMessage`/`ValidationError` raised by the
  handler: published to the group's dead-letter topic with the reason, then done, so the partition flows;
- infrastructure away (`shared.delivery.errors`: PostgreSQL's "try again" SQLSTATE classes, the network,
  a lock or statement timeout): back off, seek the partition back to this record (the rest of its records
  in the batch are left for the next fetch): retried forever, and never counted toward `max_attempts`;
- any other exception: retried `max_attempts` times the same way, then dead-lettered with the error.

After the batch, one offset commit covers every partition's done prefix. The commit is never ahead of a
committed effect; a crash or a rebalance before it only means redelivery, which the inbox absorbs. Per
record, the ids are bound to log lines and a CONSUMER span continues the `traceparent` the record carries.
"""

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faststream import Context
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from faststream.middlewares import AckPolicy
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from pydantic import SkipValidation, ValidationError

from shared.contracts import Event
from shared.contracts.topics import dead_letter_topic

from ..logs import bind_ids, unbind
from ..metrics import CONSUMER_RETRIES, DEAD_LETTERS
from ..contracts.cloudevents import CloudEvent, PoisonMessage, from_kafka
from ..personal_data import PersonalData
from .errors import is_infrastructure

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("shared.delivery")

Handle = Callable[[CloudEvent], Awaitable[object]]


class DeadLetters:
    """Publishes unprocessable records, untouched, to the consumer group's dead-letter topic."""

    def __init__(self, group_id: str) -> None:
        self._producer: AIOKafkaProducer | None = None
        self._group_id = group_id
        self.topic = dead_letter_topic(group_id)

    def attach(self, producer: AIOKafkaProducer) -> None:
        """Producers are created inside the event loop, after the broker and its middleware."""
        self._producer = producer

    async def send(self, record: ConsumerRecord, reason: str) -> None:
        headers = [*record.headers,
                   ("dlq_reason", reason[:2000].encode()), ("dlq_consumer", self._group_id.encode()),
                   ("dlq_topic", record.topic.encode()), ("dlq_partition", str(record.partition).encode()),
                   ("dlq_offset", str(record.offset).encode())]
        if self._producer is None:
            raise RuntimeError("dead-letter producer not attached")
        await self._producer.send_and_wait(self.topic, value=record.value, key=record.key, headers=headers)
        DEAD_LETTERS.labels(self._group_id, record.topic).inc()
        log.warning("dead-lettered %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason)


class _Outcome(Enum):
    DONE = "done"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """How much one fetch may hand over, and how long an empty fetch waits (also the idle poll period)."""

    max_records: int = 500
    fetch_timeout_ms: int = 100
    broker_wait_ms: int = 1000  # how long the broker holds an empty fetch (it answers at once when data comes)


class EventConsumer:
    """One consumer group's subscribers and the per-record rules of the module doc."""

    max_attempts = 5

    def __init__(self, group_id: str, dead_letters: DeadLetters, options: BatchOptions = BatchOptions(),
                 personal_data: PersonalData | None = None) -> None:
        """`personal_data`: open the sealed personal fields of each record before it is decoded (a key store
        away is "not now": retried, never dead-lettered; a destroyed key reads as erased)."""
        self.group_id = group_id
        self._personal = personal_data
        self._dead_letters = dead_letters
        self._options = options
        self._attempts: dict[tuple[str, int, int], int] = {}   # counted failures: bugs, never infrastructure
        self._retries: dict[tuple[str, int, int], int] = {}    # every retry, for the backoff

    def subscribe(self, broker: KafkaBroker, event: type[Event], handle: Handle, description: str) -> None:
        """Register a batch subscriber for `event`'s topic. FastStream leaves the body undecoded (each record
        is decoded here, so one bad record cannot fail its neighbours); the parameter's annotation only
        gives the AsyncAPI document one message's schema."""

        async def consume(payload: Annotated[event, SkipValidation],  # type: ignore[valid-type]
                          message: KafkaMessage = Context("message")) -> None:
            await self.deliver(message, handle)

        consume.__name__ = "on" + re.sub(r"([A-Z])", r"_\1", event.__name__).lower()  # on_key_validated
        broker.subscriber(event.topic, batch=True, group_id=self.group_id, auto_offset_reset="earliest",
                          ack_policy=AckPolicy.MANUAL, max_records=self._options.max_records,
                          batch_timeout_ms=self._options.fetch_timeout_ms,
                          fetch_max_wait_ms=self._options.broker_wait_ms, decoder=_undecoded,
                          description=description)(consume)

    async def deliver(self, message: KafkaMessage, handle: Handle) -> None:
        """Run a fetched batch through the rules, its partitions concurrently (each in order, so one merchant's
        events stay in order), then commit once."""
        partitions: dict[TopicPartition, list[tuple[ConsumerRecord, dict[str, str]]]] = {}
        for record, headers in zip(message.raw_message, message.batch_headers, strict=True):
            partitions.setdefault(TopicPartition(record.topic, record.partition), []).append((record, headers))
        consumer: AIOKafkaConsumer = message.consumer
        reached = await asyncio.gather(*(self._partition(consumer, partition, records, handle)
                                         for partition, records in partitions.items()))
        await _commit(consumer, {partition: offset for partition, offset in zip(partitions, reached, strict=True)
                                 if offset is not None})

    async def _partition(self, consumer: AIOKafkaConsumer, partition: TopicPartition,
                         records: list[tuple[ConsumerRecord, dict[str, str]]], handle: Handle) -> int | None:
        """Handle one partition's records in order; the offset to commit (None when none was done)."""
        done = None
        for record, headers in records:
            if partition not in consumer.assignment():  # revoked meanwhile: its new owner handles the rest
                break
            if await self._one(record, headers, handle) is _Outcome.RETRY:
                _seek(consumer, partition, record.offset)
                break
            done = record.offset + 1
        return done

    async def _one(self, record: ConsumerRecord, headers: dict[str, str], handle: Handle) -> _Outcome:
        token = bind_ids(event_id=headers.get("ce_id"), subject=headers.get("ce_subject"),
                         merchant_id=record.key.decode(errors="replace") if record.key else None)
        try:
            with _tracer.start_as_current_span(f"{record.topic} process", context=propagate.extract(headers),
                                               kind=SpanKind.CONSUMER, attributes=_span_attributes(record, self)):
                return await self._handle(record, headers, handle)
        finally:
            unbind(token)

    async def _handle(self, record: ConsumerRecord, headers: dict[str, str], handle: Handle) -> _Outcome:
        position = (record.topic, record.partition, record.offset)
        try:
            try:
                await handle(await self._decode(record, headers))
            except (PoisonMessage, ValidationError) as error:
                await self._dead_letters.send(record, str(error))
            except Exception as error:
                if is_infrastructure(error):  # not now: retried for as long as it lasts, never counted
                    return await self._back_off(position, error)
                failures = self._attempts[position] = self._attempts.get(position, 0) + 1
                if failures < self.max_attempts:  # a bug or a broken invariant: a few tries, then park it
                    return await self._back_off(position, error)
                await self._dead_letters.send(record, f"handler failed {self.max_attempts} times: {error!r}")
        except Exception as error:  # the dead-letter topic itself is away: nothing is done, try again
            return await self._back_off(position, error)
        self._attempts.pop(position, None)
        self._retries.pop(position, None)
        return _Outcome.DONE

    async def _decode(self, record: ConsumerRecord, headers: dict[str, str]) -> CloudEvent:
        value = record.value or b""
        if self._personal is not None:
            value = await self._personal.open(headers.get("ce_type", ""), value)
        return _decode(record, headers, value)

    async def _back_off(self, position: tuple[str, int, int], error: Exception) -> _Outcome:
        retry = self._retries[position] = self._retries.get(position, 0) + 1
        CONSUMER_RETRIES.labels(self.group_id, position[0]).inc()
        delay = min(0.1 * 2 ** retry, 10.0)
        log.warning("handling %s[%s]@%s failed (retry %d, %d counted failure(s)), retrying in %.1fs: %r",
                    *position, retry, self._attempts.get(position, 0), delay, error)
        await asyncio.sleep(delay)
        return _Outcome.RETRY


def _decode(record: ConsumerRecord, headers: dict[str, str], value: bytes) -> CloudEvent:
    decoded = from_kafka(headers, value)
    if decoded.topic != record.topic:
        raise PoisonMessage(f"event type {decoded.type!r} does not belong on topic {record.topic!r}")
    return decoded


def _undecoded(message: KafkaMessage) -> list[Any]:
    return []


def _seek(consumer: AIOKafkaConsumer, partition: TopicPartition, offset: int) -> None:
    try:
        consumer.seek(partition, offset)
    except Exception as error:  # noqa: BLE001 - revoked meanwhile: its new owner starts from the commit
        log.info("not seeking %s back to %s: %r", partition, offset, error)


async def _commit(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
    """Commit the done prefixes of the partitions still assigned (aiokafka refuses the whole commit if one
    is not); a failure (rebalance, coordinator moving) only means redelivery."""
    assigned = consumer.assignment()
    offsets = {partition: offset for partition, offset in offsets.items() if partition in assigned}
    if not offsets:
        return
    try:
        await consumer.commit(offsets)
    except (KafkaError, OSError, AssertionError) as error:
        log.warning("offset commit of %s failed, those records will be redelivered: %r", offsets, error)


def _span_attributes(record: ConsumerRecord, consumer: EventConsumer) -> dict[str, Any]:
    return {"messaging.system": "kafka", "messaging.operation.type": "process",
            "messaging.destination.name": record.topic, "messaging.consumer.group.name": consumer.group_id,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset}
