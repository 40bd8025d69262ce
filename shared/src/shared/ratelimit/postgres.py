"""The rate limiter's PostgreSQL side: rows per hit or per slice, serialised per bucket by an advisory lock.

The whole reservation is one SQL function (sql/0003): it takes the buckets' transaction-scoped locks in
bucket order (no deadlocks), so two instances reserving from the same bucket at once are serialised and the
limit is exact (logged) or never exceeded (counted), not approximate. One round trip, whatever the number of
claims: the hot path of a proxy can afford it. A bucket can also be held until a time (`hold`). Expired rows
are pruned a few at a time by every reservation that writes (SKIP LOCKED: pruning never waits for anyone).
"""

from datetime import datetime, timedelta
from importlib.resources import files

import asyncpg

from ..delivery import Migrations
from .limits import Claim, Reservation

RATE_LIMIT_MIGRATIONS = Migrations("ratelimit", files("shared.ratelimit") / "sql")
_MICROSECOND = timedelta(microseconds=1)
_RESERVE = "SELECT * FROM rate_limit_reserve($1, $2, $3, $4, $5)"


async def reserve(conn: asyncpg.Connection, now: datetime | None, *claims: Claim) -> Reservation:
    """Take one hit from every claimed bucket, or none if any is full or held, inside the caller's transaction
    (its locks last until the caller commits). `now` None: the database's clock. `hit_ids` are in the order of
    the logged claims."""
    if not conn.is_in_transaction():
        raise RuntimeError("reserve() must run inside the caller's transaction")
    return _reservation(await conn.fetchrow(_RESERVE, now, *_arguments(claims)), claims)


async def take(pool: asyncpg.Pool, *claims: Claim) -> Reservation:
    """`reserve` in a transaction of its own, on the database's clock: one round trip."""
    return _reservation(await pool.fetchrow(_RESERVE, None, *_arguments(claims)), claims)


async def release(conn: asyncpg.Connection | asyncpg.Pool, reservation: Reservation) -> None:
    """Give a reservation's hits back (for outcomes that should not count against the budget)."""
    if reservation.hit_ids:
        await conn.execute("DELETE FROM rate_limit_hits WHERE id = ANY($1::bigint[])", list(reservation.hit_ids))
    for bucket, start in reservation.slice_hits:
        await conn.execute("UPDATE rate_limit_slices SET hits = hits - 1 WHERE bucket = $1 AND slice_start = $2"
                           " AND hits > 0", bucket, start)


async def forget(conn: asyncpg.Connection | asyncpg.Pool, bucket: str) -> None:
    """Empty a logged bucket (e.g. the failures counted against an account once its owner signed in)."""
    await conn.execute("DELETE FROM rate_limit_hits WHERE bucket = $1", bucket)


async def hold(conn: asyncpg.Connection | asyncpg.Pool, bucket: str, seconds: float) -> None:
    """Nothing is taken from `bucket` for `seconds` (a longer hold already there stays)."""
    await conn.execute(
        "INSERT INTO rate_limit_holds (bucket, until) VALUES ($1, clock_timestamp() + make_interval(secs => $2))"
        " ON CONFLICT (bucket) DO UPDATE SET until = greatest(rate_limit_holds.until, excluded.until)",
        bucket, float(seconds))


def _arguments(claims: tuple[Claim, ...]) -> tuple[list[str], list[int], list[timedelta], list[int]]:
    return ([c.bucket for c in claims], [c.limit.max_hits for c in claims], [c.limit.window for c in claims],
            [c.limit.slice_length // _MICROSECOND if c.limit.counted else 0 for c in claims])


def _reservation(row: asyncpg.Record, claims: tuple[Claim, ...]) -> Reservation:
    if row["refused_by"] is not None:
        return Reservation(retry_after=row["retry_after"], refused_by=row["refused_by"], held=row["held"])
    counted = [c.bucket for c in claims if c.limit.counted]
    return Reservation(hit_ids=tuple(row["hit_ids"]), slice_hits=tuple(zip(counted, row["slice_starts"], strict=True)))
