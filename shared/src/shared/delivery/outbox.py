"""Transactional outbox: events are rows written in the same transaction as the state change, and a
relay publishes them to Kafka afterwards with an idempotent producer (acks=all).

One relay per service database publishes at a time: each batch runs in a transaction holding an advisory
transaction lock, so rows are published in commit order and one merchant's events keep their order. The lock
is never held between batches, so an instance that freezes mid-batch holds it only until PostgreSQL ends its
idle transaction (`DatabaseSettings.idle_in_transaction_timeout_seconds`); the others then carry on.

Kafka away (each row reaches the topic once): the idempotent producer never gives up on a record it was
handed; it retries it, with the same producer id and sequence number, until the broker takes it, and the
broker writes it once however many tries reached it. A send does not time out: the batch waits for its acks
for as long as the outage lasts, its transaction kept alive by a heartbeat query (a live relay is waiting
for Kafka, not frozen), so this instance keeps the lock and no other relay publishes these rows meanwhile. A
row the producer holds is never handed to it again, even if the database connection is lost while waiting
(`_in_flight`): a second hand-over would be a new record, a duplicate on the topic. A send that "times out"
was never taken (no metadata for its topic while the broker is away: `KafkaTimeoutError` at hand-over), so
it is safely handed over again later. What can still repeat a row: a crash (or an instance's session lost
with its acks still outstanding while another instance takes the lock) between the broker's write and the
`published_at` update, and a record the producer fails for good after an earlier try reached the broker
(aiokafka expires a batch whose partition has had no leader for `request_timeout_ms`, idempotence or not);
consumers deduplicate on the CloudEvents id in their inbox.
"""

import asyncio
import contextlib
import json
import logging
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from ..kafka_clients import client_options
from ..metrics import OUTBOX_PUBLISHED
from ..settings import KafkaSettings
from ..tracing import with_trace_headers
from ..contracts.cloudevents import CloudEvent, to_kafka
from ..personal_data import PersonalData

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


def idempotent_producer(kafka: KafkaSettings | str, client_id: str) -> AIOKafkaProducer:
    """The producer every relay uses: idempotence on, which forces acks=all; connected as `kafka` says
    (a bare address: plaintext, for tests and local runs). A relay batch is handed over at once and then
    awaited as a whole: record batches of up to 256 KiB (not the default 16 KiB, ~15 events) let one produce
    request per broker carry it, since idempotence allows one request in flight per connection."""
    return AIOKafkaProducer(
        **client_options(kafka), client_id=client_id,
        enable_idempotence=True, acks="all", linger_ms=2, max_batch_size=262_144, request_timeout_ms=30_000)


class OutboxRelay:
    """Publishes pending outbox rows; wakes on NOTIFY, polls as a fallback, retries with backoff."""

    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer, *,
                 batch_size: int = 1000, poll_interval: float = 1.0, heartbeat: float = 5.0,
                 personal_data: PersonalData | None = None) -> None:
        """Rows are claimed in one statement, handed to the producer without waiting (it batches them), their
        acks awaited together, and marked in one statement: never one send awaited per row.
        `heartbeat`: seconds between the queries that keep a batch's transaction alive while its acks are
        awaited; well below any `idle_in_transaction_timeout_seconds` in use. `personal_data`: seal the
        personal fields of each record as it is handed over (docs/personal-data.md); the rows stay as written."""
        self._pool = pool
        self._personal = personal_data
        self._producer = producer
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._heartbeat = heartbeat
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Future[Any]] = {}   # outbox seq -> the producer's delivery future

    async def run(self) -> None:
        """Run until cancelled: hold the relay lock, then drain whenever woken."""
        backoff = 0.2
        while True:
            try:
                await self._lead_and_drain()
            except asyncio.CancelledError:
                raise
            except Exception:  # broker or database away: keep rows, retry later
                _still_wanted()
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
                with contextlib.suppress(Exception):  # a closed connection has no listener left to remove
                    await conn.remove_listener(_CHANNEL, self._on_notify)

    async def _publish_batch_if_leading(self, conn: asyncpg.Connection) -> int:
        """One batch under the relay lock (0 when another instance's relay holds it: it is publishing). A
        failure of some of its records is raised after the commit, so the ones acked stay marked."""
        async with conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK_ID):
                return 0
            sent, failure = await self.publish_pending(conn)
        if failure is not None:
            raise failure
        return sent

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def publish_pending(self, conn: asyncpg.Connection) -> tuple[int, Exception | None]:
        """Publish one batch in order; mark rows sent once the broker has acked them. Returns rows sent, and why
        not all of them (the producer refused or failed some: they stay pending and are sent again)."""
        rows = await conn.fetch(
            "SELECT seq, topic, record_key, headers, value FROM delivery_outbox"
            " WHERE published_at IS NULL ORDER BY seq LIMIT $1", self._batch_size)
        self._forget_settled(keep={r["seq"] for r in rows})
        if not rows:
            return 0, None
        headers = {r["seq"]: _record_headers(r) for r in rows if r["seq"] not in self._in_flight}  # parsed once
        if self._personal is not None:  # one key-store call per merchant not cached yet; none when the store is
            await self._personal.prepare(self._to_seal(rows, headers), create=True)  # away: rows wait, never in clear
        handed, refusal = await self._hand_over(rows, headers)
        acked = await self._acked(conn, handed)
        if acked:
            await conn.execute("UPDATE delivery_outbox SET published_at = now()"
                               " WHERE seq = ANY($1::bigint[]) AND published_at IS NULL", acked)
        topics = {r["seq"]: r["topic"] for r in rows}
        for seq in acked:
            OUTBOX_PUBLISHED.labels(topics[seq]).inc()
        if refusal is None and len(acked) < len(handed):
            refusal = KafkaError(f"{len(handed) - len(acked)} outbox record(s) failed; they will be sent again")
        return len(acked), refusal

    async def _hand_over(self, rows: list[asyncpg.Record],
                         headers: dict[int, list[tuple[str, bytes]]]) -> tuple[list[int], Exception | None]:
        """Give the producer, in order, each row it does not hold yet; stop at the first it refuses (e.g. no
        metadata for a topic while the broker is away: that row was not taken). The rows it holds, and why not
        all of them."""
        handed: list[int] = []
        for r in rows:
            if r["seq"] not in self._in_flight:
                record_headers = headers[r["seq"]]
                try:
                    self._in_flight[r["seq"]] = await self._producer.send(
                        r["topic"], value=self._sealed(r["value"], record_headers), key=r["record_key"],
                        headers=record_headers)
                except KafkaError as refusal:
                    return handed, refusal
            handed.append(r["seq"])
        return handed, None

    def _to_seal(self, rows: list[asyncpg.Record], headers: dict[int, list[tuple[str, bytes]]]) -> list[str]:
        """The merchants whose keys this batch needs (rows of types with personal fields, not handed over yet)."""
        assert self._personal is not None
        return [r["record_key"].decode() for r in rows
                if r["seq"] in headers and self._personal.protects(_event_type(headers[r["seq"]]))]

    def _sealed(self, value: bytes, headers: list[tuple[str, bytes]]) -> bytes:
        if self._personal is None:
            return value
        return self._personal.seal_prepared(_event_type(headers), value)

    async def _acked(self, conn: asyncpg.Connection, seqs: list[int]) -> list[int]:
        """Wait for the broker's verdict on each handed row, however long Kafka is away, with a heartbeat on the
        batch's transaction meanwhile. The rows acked; failed ones are forgotten, so they are sent again. An
        acked row stays remembered until it is no longer pending (`_forget_settled`): if its `published_at`
        update is lost with the connection, the next batch marks it without handing it over again."""
        futures = [self._in_flight[seq] for seq in seqs]
        while pending := [f for f in futures if not f.done()]:
            await asyncio.wait(pending, timeout=self._heartbeat)
            if any(not f.done() for f in pending):
                await conn.execute("SELECT 1")
        acked = []
        for seq, future in zip(seqs, futures, strict=True):
            if not future.cancelled() and future.exception() is None:
                acked.append(seq)
            else:
                del self._in_flight[seq]
                log.warning("outbox row %s was not published: %r", seq, None if future.cancelled()
                            else future.exception())
        return acked

    def _forget_settled(self, keep: set[int]) -> None:
        """Drop the deliveries of rows no longer pending (marked published, here or by another instance)."""
        for seq in [s for s, f in self._in_flight.items() if f.done() and s not in keep]:
            del self._in_flight[seq]


def _still_wanted() -> None:
    """Re-raise a cancellation that an error on the way out replaced (a connection that died while the relay
    was being stopped): a swallowed cancellation would keep the service from stopping."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def outbox_backlog(pool: asyncpg.Pool) -> tuple[int, float]:
    """Pending rows and the age in seconds of the oldest: what ops watch."""
    row = await pool.fetchrow(
        "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age"
        " FROM delivery_outbox WHERE published_at IS NULL")
    return int(row["n"]), float(row["age"])


def _record_headers(row: asyncpg.Record) -> list[tuple[str, bytes]]:
    """A row's headers as the producer takes them (stored as JSON pairs of strings)."""
    return [(k, v.encode()) for k, v in json.loads(row["headers"])]


def _event_type(headers: list[tuple[str, bytes]]) -> str:
    return next((v.decode() for k, v in headers if k == "ce_type"), "")
