"""shared.ratelimit's counted limits (a hit count per time slice, for large budgets): the slice arithmetic
as pure functions, then on a real PostgreSQL next to the logged kind (all-or-nothing, release, no overshoot
under concurrency, one row per slice, pruning)."""

import asyncio
import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.delivery import apply_migrations
from shared.ratelimit import (RATE_LIMIT_MIGRATIONS, Claim, Limit, Reservation, release, reserve, slice_expiry,
                              slice_start, wait_before_next_slice)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)        # on a 10 s slice boundary (slices are epoch-aligned)
S = timedelta(seconds=1)
TEN_A_MINUTE = Limit(10, timedelta(minutes=1), slices=6)   # 10 s slices


# --- the arithmetic ------------------------------------------------------------------------------------
def test_slices_are_aligned_to_the_epoch_so_every_instance_agrees():
    assert slice_start(TEN_A_MINUTE, T0 + 25 * S) == T0 + 20 * S
    assert slice_start(TEN_A_MINUTE, T0 + 20 * S) == T0 + 20 * S
    assert slice_start(TEN_A_MINUTE, T0 - S) == T0 - 10 * S
    assert slice_expiry(TEN_A_MINUTE, T0) == T0 + 70 * S   # its last hit leaves the window then
    day = Limit(5000, timedelta(days=1, seconds=1), slices=96)  # a slice length that is no whole second
    start = slice_start(day, T0)
    assert start <= T0 < start + day.slice_length and slice_start(day, start) == start


def test_a_counted_bucket_has_room_below_the_limit():
    assert wait_before_next_slice(TEN_A_MINUTE, {}, T0) == timedelta(0)
    assert wait_before_next_slice(TEN_A_MINUTE, {T0: 4, T0 + 10 * S: 5}, T0 + 15 * S) == timedelta(0)


def test_a_full_bucket_waits_for_the_oldest_slice_to_leave_the_window():
    counts = {T0: 4, T0 + 10 * S: 3, T0 + 20 * S: 3}
    assert wait_before_next_slice(TEN_A_MINUTE, counts, T0 + 25 * S) == 45 * S      # T0's slice leaves at +70 s


def test_an_overfull_bucket_waits_for_as_many_slices_as_it_takes():
    counts = {T0: 1, T0 + 10 * S: 1, T0 + 20 * S: 9}                                # 11: two hits must leave
    assert wait_before_next_slice(TEN_A_MINUTE, counts, T0 + 25 * S) == 55 * S
    assert wait_before_next_slice(TEN_A_MINUTE, {T0 + 20 * S: 12}, T0 + 25 * S) == 65 * S


def test_slices_that_left_the_window_and_empty_slices_do_not_count():
    assert wait_before_next_slice(TEN_A_MINUTE, {T0 - 70 * S: 100, T0: 0}, T0) == timedelta(0)
    assert wait_before_next_slice(TEN_A_MINUTE, {T0 - 69 * S: 100}, T0) > timedelta(0)  # slice T0-70 s.. ends T0-60 s


def test_the_oldest_slice_counts_whole_so_the_count_errs_on_the_safe_side():
    two = Limit(2, timedelta(minutes=1), slices=6)
    counts = {T0: 1, T0 + 60 * S: 1}            # hits at T0+1 s and T0+65 s: only one is in (T0+5 s, T0+65 s]
    assert wait_before_next_slice(two, counts, T0 + 65 * S) == 5 * S


@pytest.mark.parametrize("seed", range(20))
def test_no_window_ever_holds_more_than_max_hits(seed):
    """Random arrivals, admitted by the slice rule: check every window ending at an admitted hit."""
    rng, limit = random.Random(seed), Limit(7, timedelta(seconds=10), slices=(1, 2, 3, 5, 10, 40)[seed % 6])
    counts: dict[datetime, int] = {}
    admitted = []
    for at in sorted(T0 + timedelta(seconds=rng.uniform(0, 60)) for _ in range(400)):
        if wait_before_next_slice(limit, counts, at) == timedelta(0):
            start = slice_start(limit, at)
            counts[start] = counts.get(start, 0) + 1
            admitted.append(at)
    assert len(admitted) >= 20                # it does admit: 7 per 10 s at best, about half that with 1 slice
    for end in admitted:
        assert sum(end - limit.window < at <= end for at in admitted) <= limit.max_hits


def test_limits_must_be_positive_and_slices_representable():
    for bad in ((1, timedelta(seconds=1), -1), (1, timedelta(microseconds=1), 3)):
        with pytest.raises(ValueError):
            Limit(*bad)
    assert not Limit(1, timedelta(seconds=1)).counted and Limit(1, timedelta(seconds=1), slices=2).counted


# --- on PostgreSQL -------------------------------------------------------------------------------------
@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=40)
    assert await apply_migrations(pool, RATE_LIMIT_MIGRATIONS) == ["ratelimit/0001_rate_limit_hits",
                                                                   "ratelimit/0002_rate_limit_slices", "ratelimit/0003_rate_limit_reserve"]
    yield pool
    await pool.close()


async def reserve_in(pool, now, *claims) -> Reservation:
    async with pool.acquire() as conn, conn.transaction():
        return await reserve(conn, now, *claims)


@pytest.mark.postgres
async def test_a_counted_bucket_keeps_one_row_per_slice_and_refuses_when_full(pool):
    claim = Claim("xero-app:minute", TEN_A_MINUTE)
    for second in (1, 2, 3, 4, 12, 13, 14, 15, 16, 23):
        taken = await reserve_in(pool, T0 + second * S, claim)
        assert taken.allowed and taken.hit_ids == () and taken.slice_hits[0][0] == "xero-app:minute"
    assert await pool.fetchval("SELECT count(*) FROM rate_limit_slices") == 3
    refused = await reserve_in(pool, T0 + 30 * S, claim)
    assert not refused.allowed and refused.refused_by == "xero-app:minute"
    assert refused.retry_after == 40 * S and refused.retry_after_seconds == 40      # T0's slice leaves at +70 s
    assert not (await reserve_in(pool, T0 + 69 * S, claim)).allowed
    assert (await reserve_in(pool, T0 + 70 * S, claim)).allowed
    assert await pool.fetchval("SELECT sum(hits) FROM rate_limit_slices") == 7      # T0's 4 left; refusals no hits


@pytest.mark.postgres
async def test_release_gives_a_counted_hit_back_to_its_slice(pool):
    claim = Claim("xero-tenant:t-1:day", Limit(2, timedelta(days=1), slices=96))
    first = await reserve_in(pool, T0, claim)
    for _ in range(5):
        taken = await reserve_in(pool, T0 + S, claim)
        assert taken.allowed
        async with pool.acquire() as conn, conn.transaction():
            await release(conn, taken)
    assert await pool.fetchval("SELECT sum(hits) FROM rate_limit_slices") == 1
    async with pool.acquire() as conn, conn.transaction():
        await release(conn, first)
        await release(conn, first)                                                  # never below zero
    assert await pool.fetchval("SELECT sum(hits) FROM rate_limit_slices") == 0


@pytest.mark.postgres
async def test_logged_and_counted_claims_are_all_or_nothing(pool):
    small, big = Claim("xero-tenant:t-1:minute", Limit(1, timedelta(minutes=1))), Claim("xero-app:minute", TEN_A_MINUTE)
    assert (await reserve_in(pool, T0, small, big)).allowed
    refused = await reserve_in(pool, T0 + S, small, big)                       # the logged one is full
    assert refused.refused_by == "xero-tenant:t-1:minute" and refused.retry_after == 59 * S
    assert await pool.fetchval("SELECT sum(hits) FROM rate_limit_slices") == 1
    for _ in range(9):
        await reserve_in(pool, T0 + 2 * S, big)
    refused = await reserve_in(pool, T0 + 61 * S, small, big)                  # now only the counted one is full
    assert refused.refused_by == "xero-app:minute" and refused.retry_after == 9 * S
    assert await pool.fetchval("SELECT count(*) FROM rate_limit_hits WHERE expires_at > $1", T0 + 61 * S) == 0


@pytest.mark.postgres
async def test_concurrent_reservations_never_overshoot_a_counted_limit(pool):
    claim = Claim("xero-app:minute", Limit(5, timedelta(minutes=15), slices=15))
    results = await asyncio.gather(*(reserve_in(pool, T0, claim) for _ in range(30)))
    assert sum(r.allowed for r in results) == 5
    assert await pool.fetchval("SELECT hits FROM rate_limit_slices") == 5


@pytest.mark.postgres
async def test_expired_slices_are_pruned_as_reservations_go_by(pool):
    for i in range(50):
        await reserve_in(pool, T0, Claim(f"client:198.51.100.{i}", TEN_A_MINUTE))
    await reserve_in(pool, T0 + timedelta(hours=1), Claim("merchant:m-1", TEN_A_MINUTE))
    assert await pool.fetchval("SELECT count(*) FROM rate_limit_slices") == 1
