"""The bare baselines, run as their own process so their CPU and RSS compare with the service's.

B0: aiokafka `getmany` (<= 500) + asyncpg; per event one transaction (inbox insert ON CONFLICT DO NOTHING,
merchant upsert, stores upsert, outbox insert), then one offset commit per partition batch. JSON via json.loads.
B1: B0 plus pydantic: the record is decoded with `shared.delivery.from_kafka` and the outbox value is
serialised with `model_dump_json`.

    python -m bench.baseline b0|b1 BOOTSTRAP DSN GROUP TOPIC
"""

import asyncio
import json
import signal
import sys
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


async def _apply(conn: asyncpg.Connection, event_id: UUID, merchant: tuple, stores: list[tuple],
                 key: bytes, headers: str, value: bytes) -> None:
    async with conn.transaction():
        if not await conn.fetchval(_INBOX, CONSUMER, event_id):
            return
        await conn.execute(_MERCHANT, *merchant)
        await conn.executemany(_STORE, stores)
        await conn.execute(_OUTBOX, uuid4(), "BenchOut", key, headers, value)


async def handle_b0(conn: asyncpg.Connection, record) -> None:  # noqa: ANN001
    headers = {k: v.decode() for k, v in record.headers}
    data = json.loads(record.value)
    m = data["merchant_id"]
    await _apply(conn, UUID(headers["ce_id"]), (m, data["merchant_name"], data["licence"], data["key_id"]),
                 [(m, s["store_id"], s["name"]) for s in data["stores"]], record.key,
                 json.dumps(list(headers.items())), json.dumps(data).encode())


async def handle_b1(conn: asyncpg.Connection, record) -> None:  # noqa: ANN001
    from shared.delivery import from_kafka

    headers = {k: v.decode() for k, v in record.headers}
    event = from_kafka(headers, record.value)
    d = event.data
    m = d.merchant_id
    await _apply(conn, event.id, (m, d.merchant_name, d.licence.value, d.key_id),
                 [(m, s.store_id, s.name) for s in d.stores], record.key,
                 json.dumps(list(headers.items())), d.model_dump_json().encode())


async def run(mode: str, bootstrap: str, dsn: str, group: str, topic: str) -> None:
    if mode == "b1":
        import shared.delivery  # noqa: F401 - import before consuming, as the service does
    handle = handle_b1 if mode == "b1" else handle_b0
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
            for tp, records in batches.items():
                for record in records:
                    await handle(conn, record)
                await consumer.commit({tp: records[-1].offset + 1})
    finally:
        await consumer.stop()
        await conn.close()


if __name__ == "__main__":
    asyncio.run(run(*sys.argv[1:6]))
