"""FastStream consumers with at-least-once delivery, idempotent effects and dead letters.

Every subscriber is declared with `consumer_options(group)`: manual acknowledgement, so the offset is
committed only after the handler's transaction committed (FastStream's default is at-most-once). The
`DeliveryMiddleware` decides what happens to each record:

- handler returned: commit the offset;
- `PoisonMessage` or schema-invalid data: publish to the group's dead-letter topic with the reason,
  then commit, so the partition keeps flowing;
- infrastructure away (PostgreSQL, network): wait with backoff and seek back: retried forever;
- any other exception: retried `max_attempts` times, then dead-lettered with the error.
"""

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from fast_depends import ValidationError as ParameterError
from faststream import BaseMiddleware, Context, Depends
from faststream.kafka.message import KafkaMessage
from faststream.middlewares import AckPolicy
from pydantic import ValidationError

from shared.contracts import Event, event_types
from shared.contracts.topics import dead_letter_topic

from ..logs import bind_ids, unbind
from ..metrics import DEAD_LETTERS
from .cloudevents import CloudEvent, PoisonMessage, attributes_from_headers

log = logging.getLogger(__name__)
_INFRASTRUCTURE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresConnectionError,
                          asyncpg.InterfaceError, asyncpg.CannotConnectNowError)


@dataclass(frozen=True, slots=True)
class CloudEventAttributes:
    """The `ce_*` attributes of a received record; `wrap` joins them with the decoded data."""

    id: UUID
    source: str
    time: datetime
    subject: str | None
    causation_id: UUID | None
    correlation_id: UUID | None

    def wrap(self, data: Event) -> CloudEvent:
        return CloudEvent(data=data, id=self.id, source=self.source, time=self.time, subject=self.subject,
                          causation_id=self.causation_id, correlation_id=self.correlation_id)


def _read_attributes(message: KafkaMessage = Context("message")) -> CloudEventAttributes:
    headers = message.headers
    model = event_types().get(headers.get("ce_type", ""))
    if model is None or model.topic != message.raw_message.topic:
        raise PoisonMessage(f"event type {headers.get('ce_type')!r} does not belong on topic "
                            f"{message.raw_message.topic!r}")
    return CloudEventAttributes(**attributes_from_headers(headers))  # type: ignore[arg-type]


Received = Annotated[CloudEventAttributes, Depends(_read_attributes)]
"""Handler parameter type: the CloudEvents attributes of the record being handled."""


def _lenient_json(message: KafkaMessage) -> Any:
    """Decode JSON without raising, so a bad body fails validation inside the middleware's reach."""
    try:
        return json.loads(message.body)
    except ValueError:
        return message.body


def consumer_options(group_id: str) -> dict[str, Any]:
    """Subscriber keyword arguments shared by every consumer of the platform."""
    return {"group_id": group_id, "auto_offset_reset": "earliest", "ack_policy": AckPolicy.MANUAL,
            "decoder": _lenient_json}


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


class DeliveryMiddleware(BaseMiddleware):
    """Ack after success, dead-letter poison, back off and redeliver on failure (see module doc)."""

    max_attempts = 5

    def __init__(self, msg: Any, /, *, context: Any, dead_letters: DeadLetters,
                 attempts: dict[tuple[str, int, int], int]) -> None:
        super().__init__(msg, context=context)
        self._dead_letters = dead_letters
        self._attempts = attempts

    async def consume_scope(self, call_next: Any, msg: KafkaMessage) -> Any:
        record: ConsumerRecord = msg.raw_message
        position = (record.topic, record.partition, record.offset)
        token = bind_ids(event_id=msg.headers.get("ce_id"), subject=msg.headers.get("ce_subject"),
                         merchant_id=record.key.decode(errors="replace") if record.key else None)
        try:
            return await self._consume(call_next, msg, record, position)
        finally:
            unbind(token)

    async def _consume(self, call_next: Any, msg: KafkaMessage, record: ConsumerRecord,
                       position: tuple[str, int, int]) -> Any:
        try:
            result = await call_next(msg)
        except (PoisonMessage, ParameterError, ValidationError) as error:
            await self._dead_letters.send(record, _poison_reason(error, msg))
        except _INFRASTRUCTURE_ERRORS as error:
            await self._retry_later(msg, position, error, give_up=False)
            return None
        except Exception as error:  # a bug or a broken invariant: a few tries, then park it
            if await self._retry_later(msg, position, error, give_up=True):
                return None
            await self._dead_letters.send(record, f"handler failed {self.max_attempts} times: {error!r}")
        else:
            self._attempts.pop(position, None)
            await msg.ack()
            return result
        self._attempts.pop(position, None)
        await msg.ack()
        return None

    async def _retry_later(self, msg: KafkaMessage, position: tuple[str, int, int],
                           error: Exception, *, give_up: bool) -> bool:
        """Seek back after a backoff; False when the attempts are spent and the caller must park it."""
        attempt = self._attempts.get(position, 0) + 1
        if give_up and attempt >= self.max_attempts:
            return False
        self._attempts[position] = attempt
        delay = min(0.1 * 2 ** attempt, 10.0)
        log.warning("handling %s[%s]@%s failed (attempt %d), retrying in %.1fs: %r",
                    *position, attempt, delay, error)
        await asyncio.sleep(delay)
        await msg.nack()
        return True


def delivery_middleware(dead_letters: DeadLetters):  # noqa: ANN201 - FastStream middleware factory
    """The middleware factory to pass to `KafkaBroker(middlewares=...)` or a `KafkaRouter`."""
    attempts: dict[tuple[str, int, int], int] = {}

    def factory(msg: Any, /, *, context: Any) -> DeliveryMiddleware:
        return DeliveryMiddleware(msg, context=context, dead_letters=dead_letters, attempts=attempts)

    return factory


def _poison_reason(error: Exception, msg: KafkaMessage) -> str:
    if isinstance(error, PoisonMessage):
        return str(error)
    try:
        json.loads(msg.body)
    except ValueError as decode_error:
        return f"undecodable JSON: {decode_error}"
    return f"{msg.headers.get('ce_type', 'event')} data invalid: {error}"
