"""The outbox relay with Kafka away, on real PostgreSQL and a fake producer whose acks the test releases: a row
the producer holds is never handed to it again (that would be a second record on the topic), however long the
broker takes and even if PostgreSQL ends the relay's session meanwhile; only acked rows are marked published.
(With a real broker: tests/faults/test_gateway_kafka_down.py.)"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest
from aiokafka.errors import KafkaTimeoutError, NotLeaderForPartitionError

from shared.contracts import CloudEvent
from shared.contracts.examples import key_validated
from shared.delivery import DELIVERY_MIGRATIONS, OutboxRelay, add_to_outbox, apply_migrations

pytestmark = pytest.mark.postgres
IDLE = 1.0  # seconds: the relay's sessions run with this idle_in_transaction_session_timeout


class FakeProducer:
    """`send` hands back a future the test settles (`ack_all`, `fail`), as aiokafka's does once the broker
    answers; `refuse` makes the next sends raise, as a send does for a topic without metadata."""

    def __init__(self) -> None:
        self.sent: list[str] = []          # event ids, one per hand-over
        self.futures: dict[str, asyncio.Future] = {}
        self.refuse: Exception | None = None

    async def send(self, topic: str, *, value: bytes, key: bytes, headers: list) -> asyncio.Future:
        if self.refuse is not None:
            raise self.refuse
        event_id = dict(headers)["ce_id"].decode()
        self.sent.append(event_id)
        self.futures[event_id] = asyncio.get_running_loop().create_future()
        return self.futures[event_id]

    def ack_all(self) -> None:
        for future in self.futures.values():
            if not future.done():
                future.set_result(None)

    def fail(self, event_id: str) -> None:
        self.futures[event_id].set_exception(NotLeaderForPartitionError())


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(fresh_database, min_size=1, max_size=4, server_settings={
            "idle_in_transaction_session_timeout": str(int(IDLE * 1000))}) as pool:
        await apply_migrations(pool, DELIVERY_MIGRATIONS)
        yield pool


async def _stage(pool: asyncpg.Pool, n: int) -> list[str]:
    events = [CloudEvent(data=key_validated(f"m-{uuid4().hex[:8]}"), source="/tests") for _ in range(n)]
    async with pool.acquire() as conn, conn.transaction():
        await add_to_outbox(conn, *events)
    return [str(e.id) for e in events]


async def _published(pool: asyncpg.Pool) -> set[str]:
    return {str(r["event_id"]) for r in await pool.fetch(
        "SELECT event_id FROM delivery_outbox WHERE published_at IS NOT NULL")}


async def _until(check, timeout: float = 10) -> None:  # noqa: ANN001
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _running(relay: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_acks_that_outlast_the_idle_limit_publish_each_row_once(pool: asyncpg.Pool,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    producer = FakeProducer()
    ids = await _stage(pool, 3)
    relay = OutboxRelay(pool, producer, heartbeat=IDLE / 4, poll_interval=0.1)  # type: ignore[arg-type]

    with caplog.at_level(logging.WARNING, "shared.delivery.outbox"):
        async with _running(relay):
            await _until(lambda: _async(len(producer.sent) == 3))
            await asyncio.sleep(4 * IDLE)                 # the broker is away for 4 idle limits
            assert await _published(pool) == set()
            producer.ack_all()
            await _until(lambda: _has(pool, ids))

    assert producer.sent == ids                           # each handed over once, in order
    assert "interrupted" not in caplog.text               # the heartbeat kept the batch's session alive


async def test_a_session_ended_while_waiting_does_not_hand_the_rows_over_again(pool: asyncpg.Pool) -> None:
    producer = FakeProducer()
    ids = await _stage(pool, 3)
    relay = OutboxRelay(pool, producer, heartbeat=30, poll_interval=0.1)  # type: ignore[arg-type]  # no heartbeat

    async with _running(relay):
        await _until(lambda: _async(len(producer.sent) == 3))
        await asyncio.sleep(3 * IDLE)                     # PostgreSQL ends the relay's idle transaction
        producer.ack_all()
        await _until(lambda: _has(pool, ids))

    assert producer.sent == ids


async def test_only_acked_rows_are_marked_and_the_failed_one_is_sent_again(pool: asyncpg.Pool) -> None:
    producer = FakeProducer()
    ids = await _stage(pool, 3)
    relay = OutboxRelay(pool, producer, heartbeat=IDLE / 4, poll_interval=0.1)  # type: ignore[arg-type]

    async with _running(relay):
        await _until(lambda: _async(len(producer.sent) == 3))
        producer.fail(ids[1])
        producer.futures[ids[0]].set_result(None)
        producer.futures[ids[2]].set_result(None)
        await _until(lambda: _async(len(producer.sent) == 4))
        assert await _published(pool) == {ids[0], ids[2]}
        producer.ack_all()
        await _until(lambda: _has(pool, ids))

    assert producer.sent == [*ids, ids[1]]


async def test_a_refused_send_keeps_what_was_handed_over_before_it(pool: asyncpg.Pool) -> None:
    producer = FakeProducer()
    ids = await _stage(pool, 2)
    relay = OutboxRelay(pool, producer, heartbeat=IDLE / 4, poll_interval=0.1)  # type: ignore[arg-type]
    sends = producer.send

    async def first_then_refuse(topic: str, **kwargs: object) -> asyncio.Future:
        if producer.sent:                                 # the second row's topic has no metadata yet
            raise KafkaTimeoutError()
        return await sends(topic, **kwargs)  # type: ignore[arg-type]

    producer.send = first_then_refuse  # type: ignore[method-assign]
    async with _running(relay):
        await _until(lambda: _async(len(producer.sent) == 1))
        producer.ack_all()
        await _until(lambda: _has(pool, ids[:1]))
        producer.send = sends  # type: ignore[method-assign]
        await _until(lambda: _async(len(producer.sent) == 2))
        producer.ack_all()
        await _until(lambda: _has(pool, ids))

    assert producer.sent == ids


async def _has(pool: asyncpg.Pool, ids: list[str]) -> bool:
    return set(ids) <= await _published(pool)


async def _async(value: bool) -> bool:
    return value


async def test_a_whole_batch_is_handed_over_before_any_ack_is_awaited(pool: asyncpg.Pool) -> None:
    """Never one send awaited per row: the producer gets the batch's rows at once and batches them itself."""
    producer = FakeProducer()
    ids = await _stage(pool, 1200)
    relay = OutboxRelay(pool, producer, heartbeat=IDLE / 4, poll_interval=0.1)  # type: ignore[arg-type]

    async with _running(relay):
        await _until(lambda: _async(len(producer.sent) == 1000))  # the first batch, no ack yet
        producer.ack_all()
        await _until(lambda: _async(len(producer.sent) == 1200))
        producer.ack_all()
        await _until(lambda: _has(pool, ids))

    assert producer.sent == ids
