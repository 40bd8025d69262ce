"""The bare baselines, run as their own process so their CPU and RSS compare with the service's.

B0: aiokafka `getmany` (<= 500) + asyncpg; per event one transaction (inbox insert ON CONFLICT DO NOTHING,
merchant upsert, stores upsert, outbox insert), then one offset commit per partition batch. JSON via json.loads.
B1: B0 plus pydantic: the record is decoded with `shared.delivery.from_kafka` and the outbox value is
serialised with `model_dump_json`.
B2: B1's decoding, but each partition's batch is one transaction of four statements whatever its size: the
claims of every event id (one INSERT ... SELECT unnest ... RETURNING), then the merchants, the stores and the
outbox rows of the claimed events, each one `unnest` upsert/insert; one offset commit per fetch. It is what
per-event transactions cost next to batched ones on this machine (a bare bound, with no poison fallback).

    python -m bench.baseline b0|b1|b2 BOOTSTRAP DSN GROUP TOPIC
"""

import asyncio
import json
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg
from aiokafka import AIOKafkaConsumer

SCHEMA = """
CREATE TABLE IF NOT EXISTS delivery_inbox (
    consumer text NOT NULL, event_id uuid NOT NULL, processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id));
CREATE TABLE IF NOT EXISTS delivery_outbox (
    seq bigserial PRIMARY KEY, event_id uuid NOT NULL UNIQUE, topic text NOT NULL, record_key bytea NOT NULL,
    headers jsonb NOT NULL, value bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz);
CREATE INDEX IF NOT EXISTS delivery_outbox_pending ON delivery_outbox (seq) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS merchants (
    merchant_id text PRIMARY KEY, name text NOT NULL, licence text NOT NULL, key_id text NOT NULL,
    updated_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS stores (
    merchant_id text NOT NULL, store_id text NOT NULL, name text NOT NULL, changed_at timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, store_id));
"""
CONSUMER = "bench_baseline"
_INBOX = ("INSERT INTO delivery_inbox (consumer, event_id) VALUES ($1, $2)"
          " ON CONFLICT DO NOTHING RETURNING true")
_MERCHANT = ("INSERT INTO merchants (merchant_id, name, licence, key_id, updated_at) VALUES ($1, $2, $3, $4, now())"
             " ON CONFLICT (merchant_id) DO UPDATE SET name = excluded.name, licence = excluded.licence,"
             " key_id = excluded.key_id, updated_at = excluded.updated_at")
_STORE = ("INSERT INTO stores (merchant_id, store_id, name, changed_at) VALUES ($1, $2, $3, now())"
          " ON CONFLICT (merchant_id, store_id) DO UPDATE SET name = excluded.name")
_OUTBOX = ("INSERT INTO delivery_outbox (event_id, topic, record_key, headers, value)"
           " VALUES ($1, $2, $3, $4::jsonb, $5)")


async def create_schema(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SCHEMA)
    finally:
        await conn.close()


_CLAIMS = ("INSERT INTO delivery_inbox (consumer, event_id) SELECT $1, unnest($2::uuid[])"
           " ON CONFLICT DO NOTHING RETURNING event_id")
_MERCHANTS = ("INSERT INTO merchants (merchant_id, name, licence, key_id, updated_at)"
              " SELECT m, n, l, k, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
              " AS u(m, n, l, k)"
              " ON CONFLICT (merchant_id) DO UPDATE SET name = excluded.name, licence = excluded.licence,"
              " key_id = excluded.key_id, updated_at = excluded.updated_at")
_STORES = ("INSERT INTO stores (merchant_id, store_id, name, changed_at)"
           " SELECT m, s, n, now() FROM unnest($1::text[], $2::text[], $3::text[]) AS u(m, s, n)"
           " ON CONFLICT (merchant_id, store_id) DO UPDATE SET name = excluded.name")
_OUTBOXES = ("INSERT INTO delivery_outbox (event_id, topic, record_key, headers, value)"
             " SELECT i, $2, k, h::jsonb, v FROM unnest($1::uuid[], $3::bytea[], $4::text[], $5::bytea[])"
             " AS u(i, k, h, v)")


@dataclass(frozen=True, slots=True)
class Effect:
    """What one event writes: the same rows for every baseline, so only how they are written differs."""

    event_id: UUID
    merchant: tuple[str, str, str, str]  # merchant_id, name, licence, key_id
    stores: list[tuple[str, str, str]]  # merchant_id, store_id, name
    key: bytes
    headers: str
    value: bytes


async def _apply(conn: asyncpg.Connection, e: Effect) -> None:
    async with conn.transaction():
        if not await conn.fetchval(_INBOX, CONSUMER, e.event_id):
            return
        await conn.execute(_MERCHANT, *e.merchant)
        await conn.executemany(_STORE, e.stores)
        await conn.execute(_OUTBOX, uuid4(), "BenchOut", e.key, e.headers, e.value)


async def apply_batch(conn: asyncpg.Connection, effects: Sequence[Effect]) -> int:
    """B2: one partition's effects in one transaction; the number applied (the rest were duplicates).

    Ids repeated within the batch count once; a merchant or store written twice keeps its last write, as
    B1's per-event upserts do (one statement may not upsert a row twice)."""
    first: dict[UUID, Effect] = {}
    for e in effects:
        first.setdefault(e.event_id, e)
    async with conn.transaction():
        claimed = {row[0] for row in await conn.fetch(_CLAIMS, CONSUMER, list(first))}
        todo = [e for e in first.values() if e.event_id in claimed]
        if not todo:
            return 0
        merchants = {e.merchant[0]: e.merchant for e in todo}
        stores = {(s[0], s[1]): s for e in todo for s in e.stores}
        await conn.execute(_MERCHANTS, *_columns(merchants.values()))
        if stores:
            await conn.execute(_STORES, *_columns(stores.values()))
        await conn.execute(_OUTBOXES, [uuid4() for _ in todo], "BenchOut", [e.key for e in todo],
                           [e.headers for e in todo], [e.value for e in todo])
    return len(todo)


def _columns(rows: Iterable[tuple]) -> list[list]:
    """Rows as the columns `unnest` takes, one array parameter each."""
    return [list(column) for column in zip(*rows, strict=True)]


def effect_b0(record) -> Effect:  # noqa: ANN001
    headers = {k: v.decode() for k, v in record.headers}
    data = json.loads(record.value)
    m = data["merchant_id"]
    return Effect(UUID(headers["ce_id"]), (m, data["merchant_name"], data["licence"], data["key_id"]),
                  [(m, s["store_id"], s["name"]) for s in data["stores"]], record.key,
                  json.dumps(list(headers.items())), json.dumps(data).encode())


def effect_b1(record) -> Effect:  # noqa: ANN001
    from shared.delivery import from_kafka

    headers = {k: v.decode() for k, v in record.headers}
    event = from_kafka(headers, record.value)
    d = event.data
    m = d.merchant_id
    return Effect(event.id, (m, d.merchant_name, d.licence.value, d.key_id),
                  [(m, s.store_id, s.name) for s in d.stores], record.key,
                  json.dumps(list(headers.items())), d.model_dump_json().encode())


async def _per_event(conn: asyncpg.Connection, consumer: AIOKafkaConsumer, batches: dict,
                     effect: Callable[..., Effect]) -> None:
    """B0/B1: one transaction per event, one offset commit per partition batch."""
    for tp, records in batches.items():
        for record in records:
            await _apply(conn, effect(record))
        await consumer.commit({tp: records[-1].offset + 1})


async def _per_partition(conn: asyncpg.Connection, consumer: AIOKafkaConsumer, batches: dict) -> None:
    """B2: one transaction per partition batch, one offset commit per fetch."""
    for records in batches.values():
        await apply_batch(conn, [effect_b1(record) for record in records])
    if batches:
        await consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})


async def run(mode: str, bootstrap: str, dsn: str, group: str, topic: str) -> None:
    if mode in ("b1", "b2"):
        import shared.delivery  # noqa: F401 - import before consuming, as the service does
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    conn = await asyncpg.connect(dsn)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            if mode == "b2":
                await _per_partition(conn, consumer, batches)
            else:
                await _per_event(conn, consumer, batches, effect_b1 if mode == "b1" else effect_b0)
    finally:
        await consumer.stop()
        await conn.close()


if __name__ == "__main__":
    asyncio.run(run(*sys.argv[1:6]))
