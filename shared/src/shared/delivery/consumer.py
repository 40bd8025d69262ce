"""Kafka consumers with at-least-once delivery, idempotent effects and dead letters, in batches.

A service declares what it consumes with `ServiceRuntime.consumes(EventType, handle)`; `handle` takes one
`CloudEvent` and does its work in one database transaction that also claims the event id in the inbox.
`EventConsumer` subscribes ONE FastStream *batch* subscriber (aiokafka `getmany`) to all the group's topics, so
a process is one member of its group (one subscriber per topic made as many members, and every join or
leave of one of them stopped all of them for a rebalance); it routes each partition to its topic's handler
and runs each record through the same rules, one record at a time in partition order (a batch's partitions
concurrently):

- handled: the record counts as done;
- poison (undecodable, schema-invalid, foreign type) or `PoisonMessage`/`ValidationError` raised by the
  handler: published to the group's dead-letter topic with the reason, then done, so the partition flows;
- infrastructure away (`shared.delivery.errors`: PostgreSQL's "try again" SQLSTATE classes, the network,
  a lock or statement timeout): back off, seek the partition back to this record (the rest of its records
  in the batch are left for the next fetch): retried forever, and never counted toward `max_attempts`;
- any other exception: retried `max_attempts` times the same way, then dead-lettered with the error.

Batch mode (`subscribe(..., batch=handle_batch)`): a partition's records of one fetch are decoded and handed to
`handle_batch` in one call, which applies them in ONE transaction (one commit instead of one per record). If it
raises an infrastructure error, the whole run is retried as above (`batch_retries` times: a batch too big for a
lock table or a transaction timeout would never pass); if anything else fails (a poison record, a
bug, a decode error), nothing of it was committed and the records go through the per-record rules above one at a
time, so the failing record alone is dead-lettered and every other one is applied once.

After the batch, one offset commit covers every partition's done prefix. The commit is never ahead of a
committed effect; a crash or a rebalance before it only means redelivery, which the inbox absorbs. Per
record, the ids are bound to log lines and a CONSUMER span continues the `traceparent` the record carries; a
batch call has one CONSUMER span, continuing the first record's trace and linking the other records' traces.
"""

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
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
from opentelemetry.context import Context as TraceContext
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
BatchHandle = Callable[[Sequence[CloudEvent]], Awaitable[object]]
"""Applies a partition's events, in order, in one transaction: all of them or (raising) none."""


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
    SPLIT = "split"   # a batch failed for a reason other than infrastructure: one record at a time instead


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """How much one fetch may hand over, and how long an empty fetch waits (also the idle poll period)."""

    # A fetch mostly holds one partition's records, so this is the batch a transaction applies: 1,000 took the
    # registry's drain from 1,800 to 5,200 events/s (issue 22). It also bounds one fetch's merchant locks, well
    # inside PostgreSQL's shared lock table (64 x max_connections slots, 6,400 by default).
    max_records: int = 1000
    fetch_timeout_ms: int = 100
    broker_wait_ms: int = 1000  # how long the broker holds an empty fetch (it answers at once when data comes)


@dataclass(frozen=True, slots=True)
class Route:
    """What a topic's records go to: `handle` one by one, or a partition's run to `batch` first."""

    handle: Handle
    batch: BatchHandle | None = None


class EventConsumer:
    """One consumer group's subscriber and the per-record rules of the module doc."""

    max_attempts = 5
    batch_retries = 3   # then a batch that keeps failing as infrastructure goes one by one (maybe it is too big)

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
        self._routes: dict[str, Route] = {}
        self._descriptions: list[str] = []
        self._attached = False

    def subscribe(self, event: type[Event], handle: Handle, description: str,
                  batch: BatchHandle | None = None) -> None:
        """Route `event`'s topic to `handle` (with `batch`, a partition's records go to it in one call first,
        and to `handle` one by one only when that fails: module doc). `attach` subscribes them all at once."""
        if event.topic in self._routes:
            raise ValueError(f"{event.topic} is already consumed by {self.group_id}")
        self._routes[event.topic] = Route(handle, batch)
        self._descriptions.append(f"{event.topic}: {description}")

    def attach(self, broker: KafkaBroker) -> None:
        """Register the one batch subscriber for every routed topic (once; nothing when none is routed).
        FastStream leaves the body undecoded: each record is decoded here, so one bad record cannot fail its
        neighbours (the AsyncAPI document is the runtime's, `shared.contracts.asyncapi`)."""
        if self._attached or not self._routes:
            return

        async def consume(payload: Annotated[list[Any], SkipValidation],
                          message: KafkaMessage = Context("message")) -> None:
            await self.deliver(message, self._routes)

        consume.__name__ = "on_" + self.group_id.replace("-", "_")
        broker.subscriber(*self._routes, batch=True, group_id=self.group_id, auto_offset_reset="earliest",
                          ack_policy=AckPolicy.MANUAL, max_records=self._options.max_records,
                          batch_timeout_ms=self._options.fetch_timeout_ms,
                          fetch_max_wait_ms=self._options.broker_wait_ms, decoder=_undecoded,
                          description="; ".join(self._descriptions))(consume)
        self._attached = True

    async def deliver(self, message: KafkaMessage, routes: Mapping[str, Route]) -> None:
        """Run a fetched batch through the rules, each partition to its topic's route, the partitions
        concurrently (each in order, so one merchant's events stay in order), then commit once."""
        partitions: dict[TopicPartition, list[tuple[ConsumerRecord, dict[str, str]]]] = {}
        for record, headers in zip(message.raw_message, message.batch_headers, strict=True):
            partitions.setdefault(TopicPartition(record.topic, record.partition), []).append((record, headers))
        consumer: AIOKafkaConsumer = message.consumer
        reached = await asyncio.gather(*(self._partition(consumer, partition, records, routes[partition.topic])
                                         for partition, records in partitions.items()))
        await _commit(consumer, {partition: offset for partition, offset in zip(partitions, reached, strict=True)
                                 if offset is not None})

    async def _partition(self, consumer: AIOKafkaConsumer, partition: TopicPartition,
                         records: list[tuple[ConsumerRecord, dict[str, str]]], route: Route) -> int | None:
        """Handle one partition's records in order; the offset to commit (None when none was done)."""
        handle, batch = route.handle, route.batch
        if batch is not None and len(records) > 1 and partition in consumer.assignment():
            outcome = await self._whole(records, batch)
            if outcome is _Outcome.DONE:
                return records[-1][0].offset + 1
            if outcome is _Outcome.RETRY:
                _seek(consumer, partition, records[0][0].offset)
                return None
        done = None
        for record, headers in records:
            if partition not in consumer.assignment():  # revoked meanwhile: its new owner handles the rest
                break
            if await self._one(record, headers, handle) is _Outcome.RETRY:
                _seek(consumer, partition, record.offset)
                break
            done = record.offset + 1
        return done

    async def _whole(self, records: list[tuple[ConsumerRecord, dict[str, str]]], batch: BatchHandle) -> _Outcome:
        """The records in one `batch` call: DONE, RETRY (infrastructure away: all of them again) or SPLIT."""
        first = records[0][0]
        position = (first.topic, first.partition, first.offset)
        parent, links = _batch_trace([headers for _, headers in records])
        with _tracer.start_as_current_span(f"{first.topic} process", context=parent, kind=SpanKind.CONSUMER,
                                           links=links, attributes={**_span_attributes(first, self),
                                                                    "messaging.batch.message_count": len(records)}):
            try:
                events = [await self._decode(record, headers) for record, headers in records]
                await batch(events)
            except Exception as error:
                if is_infrastructure(error) and self._retries.get(position, 0) < self.batch_retries:
                    return await self._back_off(position, error)
                log.info("batch of %d from %s[%s]@%s failed, handling its records one by one: %r",
                         len(records), *position, error)
                return _Outcome.SPLIT
        self._retries.pop(position, None)
        return _Outcome.DONE

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


def _batch_trace(headers: list[dict[str, str]]) -> tuple[TraceContext, list[trace.Link]]:
    """A batch's one span continues the first record's trace and links the other traces (each once)."""
    parent = propagate.extract(headers[0])
    first = trace.get_current_span(parent).get_span_context()
    others = {(c.trace_id, c.span_id): c for record_headers in headers[1:]
              if (c := trace.get_current_span(propagate.extract(record_headers)).get_span_context()).is_valid}
    others.pop((first.trace_id, first.span_id), None)
    return parent, [trace.Link(context) for context in others.values()]


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
