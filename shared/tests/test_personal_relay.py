"""The outbox relay seals personal fields as it hands records over (real PostgreSQL, a producer that records what
it is given): the rows stay as written, the records carry no personal value in clear, a batch costs one key-store
call per merchant, and while the key store is away nothing is published, rather than published in clear."""

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.contracts import CloudEvent, ConnectionBroken
from shared.contracts.examples import ALL, STEVE
from shared.delivery import DELIVERY_MIGRATIONS, OutboxRelay, add_to_outbox, apply_migrations
from shared.personal_data import MerchantKey, PersonalData

pytestmark = pytest.mark.postgres
BROKEN = next(e for e in ALL if isinstance(e, ConnectionBroken))


class Keys:
    def __init__(self) -> None:
        self.keys: dict[str, MerchantKey] = {}
        self.away = False
        self.calls = 0

    async def find(self, merchant_id: str) -> MerchantKey | None:
        return self.keys.get(merchant_id)

    async def find_or_create(self, merchant_id: str) -> MerchantKey:
        self.calls += 1
        if self.away:
            raise ConnectionError("key store away")
        return self.keys.setdefault(merchant_id, MerchantKey(os.urandom(32), os.urandom(32)))

    async def destroy(self, merchant_id: str) -> None:
        self.keys.pop(merchant_id, None)

    async def aclose(self) -> None:
        pass


class Producer:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    async def send(self, topic: str, *, value: bytes, key: bytes, headers: list) -> asyncio.Future:
        self.values.append(value)
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(fresh_database, min_size=1, max_size=4) as pool:
        await apply_migrations(pool, DELIVERY_MIGRATIONS)
        yield pool


@contextlib.asynccontextmanager
async def _running(relay: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _until(check, timeout: float = 10) -> None:  # noqa: ANN001
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def test_records_are_sealed_once_per_merchant_and_the_rows_stay_as_written(pool):
    keys, producer = Keys(), Producer()
    events = [CloudEvent(data=BROKEN.model_copy(update={"merchant_id": f"m-{i % 2}"}), source="/t") for i in range(6)]
    async with pool.acquire() as conn, conn.transaction():
        await add_to_outbox(conn, *events)
    relay = OutboxRelay(pool, producer, poll_interval=0.1, personal_data=PersonalData(keys))  # type: ignore[arg-type]

    async with _running(relay):
        await _until(lambda: _async(len(producer.values) == 6))

    for value in producer.values:
        assert STEVE.name.encode() not in value and STEVE.email.encode() not in value
    assert keys.calls == 2                                  # one per merchant, not one per event
    rows = await pool.fetch("SELECT value FROM delivery_outbox")
    assert all(STEVE.name.encode() in row["value"] for row in rows)


async def test_with_the_key_store_away_nothing_is_published_until_it_is_back(pool):
    keys, producer = Keys(), Producer()
    keys.away = True
    async with pool.acquire() as conn, conn.transaction():
        await add_to_outbox(conn, CloudEvent(data=BROKEN, source="/t"))
    relay = OutboxRelay(pool, producer, poll_interval=0.1, personal_data=PersonalData(keys))  # type: ignore[arg-type]

    async with _running(relay):
        await _until(lambda: _async(keys.calls >= 2))       # tried, backed off, tried again
        assert producer.values == []
        assert await pool.fetchval("SELECT count(*) FROM delivery_outbox WHERE published_at IS NULL") == 1
        keys.away = False
        await _until(lambda: _async(len(producer.values) == 1), timeout=15)

    assert STEVE.name.encode() not in producer.values[0]


async def _async(value: bool) -> bool:
    return value
