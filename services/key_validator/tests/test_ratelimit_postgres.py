"""shared.ratelimit on a real PostgreSQL: sliding windows, all-or-nothing claims, release, pruning, and
no overshoot when many connections (as many instances would) reserve from one bucket at once."""

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.delivery import apply_migrations
from shared.ratelimit import RATE_LIMIT_MIGRATIONS, Claim, Limit, release, reserve

pytestmark = pytest.mark.postgres
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
THREE = Limit(3, timedelta(minutes=15))


@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=40)
    assert await apply_migrations(pool, RATE_LIMIT_MIGRATIONS) == ["ratelimit/0001_rate_limit_hits",
                                                                  "ratelimit/0002_rate_limit_slices", "ratelimit/0003_rate_limit_reserve"]
    yield pool
    await pool.close()


async def reserve_in(pool, now, *claims):
    async with pool.acquire() as conn, conn.transaction():
        return await reserve(conn, now, *claims)


async def test_a_full_bucket_refuses_until_its_oldest_hit_leaves_the_window(pool):
    claim = Claim("merchant:m-1", THREE)
    for minute in range(3):
        assert (await reserve_in(pool, T0 + timedelta(minutes=minute), claim)).allowed
    refused = await reserve_in(pool, T0 + timedelta(minutes=5), claim)
    assert not refused.allowed and refused.hit_ids == ()
    assert refused.retry_after == timedelta(minutes=10) and refused.retry_after_seconds == 600
    assert not (await reserve_in(pool, T0 + timedelta(minutes=14, seconds=59), claim)).allowed
    assert (await reserve_in(pool, T0 + timedelta(minutes=15), claim)).allowed
    assert await pool.fetchval("SELECT count(*) FROM rate_limit_hits") == 3  # refusals are not hits


async def test_released_hits_do_not_count(pool):
    claim = Claim("merchant:m-1", THREE)
    for _ in range(5):
        taken = await reserve_in(pool, T0, claim)
        assert taken.allowed
        async with pool.acquire() as conn, conn.transaction():
            await release(conn, taken)
    assert await pool.fetchval("SELECT count(*) FROM rate_limit_hits") == 0


async def test_claims_are_all_or_nothing_and_wait_for_the_slowest_bucket(pool):
    busy = Claim("client:203.0.113.9", THREE)
    for minute in range(3):
        await reserve_in(pool, T0 + timedelta(minutes=minute), busy)
    refused = await reserve_in(pool, T0 + timedelta(minutes=3), Claim("merchant:m-1", THREE), busy)
    assert refused.retry_after == timedelta(minutes=12)
    assert await pool.fetchval("SELECT count(*) FROM rate_limit_hits WHERE bucket = 'merchant:m-1'") == 0
    assert (await reserve_in(pool, T0, Claim("merchant:m-2", THREE))).allowed  # other buckets are unaffected


async def test_concurrent_reservations_never_overshoot_the_limit(pool):
    claim = Claim("merchant:m-1", Limit(5, timedelta(minutes=15)))
    results = await asyncio.gather(*(reserve_in(pool, T0, claim) for _ in range(30)))
    assert sum(r.allowed for r in results) == 5
    assert await pool.fetchval("SELECT count(*) FROM rate_limit_hits") == 5


async def test_expired_hits_are_pruned_as_reservations_go_by(pool):
    for i in range(50):
        await reserve_in(pool, T0, Claim(f"client:198.51.100.{i}", THREE))
    await reserve_in(pool, T0 + timedelta(hours=1), Claim("merchant:m-1", THREE))
    assert await pool.fetchval("SELECT count(*) FROM rate_limit_hits") == 1


async def test_reserving_outside_a_transaction_is_a_programming_error(pool):
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="transaction"):
            await reserve(conn, T0, Claim("merchant:m-1", THREE))


def test_limits_must_be_positive():
    for bad in ((0, timedelta(minutes=1)), (1, timedelta(0))):
        with pytest.raises(ValueError):
            Limit(*bad)
