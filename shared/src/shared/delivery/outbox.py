"""Transactional outbox: events are rows written in the same transaction as the state change, and a
relay publishes them to Kafka afterwards with an idempotent producer (acks=all).

One relay per service database publishes at a time: each batch runs in a transaction holding an advisory
transaction lock, so rows are published in commit order and one merchant's events keep their order. The lock
is never held between batches, so an instance that freezes mid-batch holds it only until PostgreSQL ends its
idle transaction (`DatabaseSettings.idle_in_transaction_timeout_seconds`); the others then carry on. A crash between the broker's ack and the
`published_at` update republishes a row: consumers deduplicate on the CloudEvents id.
"""

import asyncio
import contextlib
import json
import logging

import asyncpg
from aiokafka import AIOKafkaProducer

from ..metrics import OUTBOX_PUBLISHED
from ..tracing import with_trace_headers
from ..contracts.cloudevents import CloudEvent, to_kafka

log = logging.getLogger(__name__)
_RELAY_LOCK_ID = 0x6F7574626F78  # "outbox"
_CHANNEL = "delivery_outbox"


async def add_to_outbox(conn: asyncpg.Connection, *events: CloudEvent) -> None:
    """Stage events inside the caller's transaction; they are published only if it commits."""
    records = [(e.id, *_columns(e)) for e in events]
    await conn.executemany(
        "INSERT INTO delivery_outbox (event_id, topic, record_key, headers, value)"
        " VALUES ($1, $2, $3, $4::jsonb, $5)", records)
    await conn.execute(f"NOTIFY {_CHANNEL}")


def _columns(event: CloudEvent) -> tuple[str, bytes, str, bytes]:
    record = to_kafka(event)
    headers = with_trace_headers(record.headers)  # the relay publishes later: keep the staging span's context
    return record.topic, record.key, json.dumps([[k, v.decode()] for k, v in headers]), record.value


def idempotent_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    """The producer every relay uses: idempotence on, which forces acks=all."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, client_id=client_id,
        enable_idempotence=True, acks="all", linger_ms=2, request_timeout_ms=30_000)


class OutboxRelay:
    """Publishes pending outbox rows; wakes on NOTIFY, polls as a fallback, retries with backoff."""

    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer, *,
                 batch_size: int = 500, poll_interval: float = 1.0) -> None:
        self._pool = pool
        self._producer = producer
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Run until cancelled: hold the relay lock, then drain whenever woken."""
        backoff = 0.2
        while True:
            try:
                await self._lead_and_drain()
            except asyncio.CancelledError:
                raise
            except Exception:  # broker or database away: keep rows, retry later
                log.warning("outbox relay interrupted; retrying in %.1fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _lead_and_drain(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.add_listener(_CHANNEL, self._on_notify)
            try:
                while True:
                    while await self._publish_batch_if_leading(conn):
                        pass
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll_interval)
                    self._wake.clear()
            finally:
                await conn.remove_listener(_CHANNEL, self._on_notify)

    async def _publish_batch_if_leading(self, conn: asyncpg.Connection) -> int:
        """One batch under the relay lock (0 when another instance's relay holds it: it is publishing)."""
        async with conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK_ID):
                return 0
            return await self.publish_pending(conn)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def publish_pending(self, conn: asyncpg.Connection) -> int:
        """Publish one batch in order; mark rows sent only after every broker ack. Returns rows sent."""
        rows = await conn.fetch(
            "SELECT seq, topic, record_key, headers, value FROM delivery_outbox"
            " WHERE published_at IS NULL ORDER BY seq LIMIT $1", self._batch_size)
        if not rows:
            return 0
        acks = [await self._producer.send(
            r["topic"], value=r["value"], key=r["record_key"],
            headers=[(k, v.encode()) for k, v in json.loads(r["headers"])]) for r in rows]
        await asyncio.gather(*acks)
        await conn.execute("UPDATE delivery_outbox SET published_at = now() WHERE seq = ANY($1::bigint[])",
                           [r["seq"] for r in rows])
        for r in rows:
            OUTBOX_PUBLISHED.labels(r["topic"]).inc()
        return len(rows)


async def outbox_backlog(pool: asyncpg.Pool) -> tuple[int, float]:
    """Pending rows and the age in seconds of the oldest: what ops watch."""
    row = await pool.fetchrow(
        "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age"
        " FROM delivery_outbox WHERE published_at IS NULL")
    return int(row["n"]), float(row["age"])
