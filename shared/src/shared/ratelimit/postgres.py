"""The rate limiter's PostgreSQL side: rows per hit or per slice, serialised per bucket by an advisory lock.

The lock is transaction-scoped and taken in bucket order (no deadlocks), so two instances reserving
from the same bucket at once are serialised and the limit is exact (logged) or never exceeded (counted),
not approximate. A caller that reserves twice in one transaction must always do so in the same order.
A reservation costs a handful of round trips whatever the number of claims: the locks in one statement,
then one read and one write per kind of limit. Expired rows are pruned a few at a time by every write
(SKIP LOCKED: pruning never waits for anyone).
"""

from datetime import datetime, timedelta
from importlib.resources import files

import asyncpg

from ..delivery import Migrations
from .limits import Claim, Reservation, slice_expiry, slice_start, wait_before_next, wait_before_next_slice

RATE_LIMIT_MIGRATIONS = Migrations("ratelimit", files("shared.ratelimit") / "sql")
_LOCK_CLASS = 0x726C  # "rl": the two-int4 advisory-lock key space, apart from the single-bigint locks
_PRUNE_BATCH = 100


async def reserve(conn: asyncpg.Connection, now: datetime, *claims: Claim) -> Reservation:
    """Take one hit from every claimed bucket, or none if any is full. Call inside a transaction.
    `hit_ids` are in the order of the logged claims among `claims`."""
    if not conn.is_in_transaction():
        raise RuntimeError("reserve() must run inside the caller's transaction")
    await conn.execute("SELECT count(pg_advisory_xact_lock($1, hashtext(b)))"
                       " FROM (SELECT b FROM unnest($2::text[]) AS b ORDER BY b) AS in_bucket_order",
                       _LOCK_CLASS, sorted({c.bucket for c in claims}))
    logged = [c for c in claims if not c.limit.counted]
    counted = [c for c in claims if c.limit.counted]
    waits = await _logged_waits(conn, logged, now) + await _counted_waits(conn, counted, now)
    wait, bucket = max(waits, default=(None, None))
    if wait is not None and wait.total_seconds() > 0:
        return Reservation(retry_after=wait, refused_by=bucket)
    return Reservation(hit_ids=await _log_hits(conn, logged, now), slice_hits=await _count_hits(conn, counted, now))


async def release(conn: asyncpg.Connection, reservation: Reservation) -> None:
    """Give a reservation's hits back (for outcomes that should not count against the budget)."""
    if reservation.hit_ids:
        await conn.execute("DELETE FROM rate_limit_hits WHERE id = ANY($1::bigint[])", list(reservation.hit_ids))
    for bucket, start in reservation.slice_hits:
        await conn.execute("UPDATE rate_limit_slices SET hits = hits - 1 WHERE bucket = $1 AND slice_start = $2"
                           " AND hits > 0", bucket, start)


# A few expired rows go with each write, in the same statement (a data-modifying CTE): no round trip of its own.
_PRUNE_HITS = ("WITH pruned AS (DELETE FROM rate_limit_hits WHERE id IN (SELECT id FROM rate_limit_hits WHERE"
               f" expires_at <= $2 ORDER BY expires_at LIMIT {_PRUNE_BATCH} FOR UPDATE SKIP LOCKED)) ")
_PRUNE_SLICES = ("WITH pruned AS (DELETE FROM rate_limit_slices WHERE (bucket, slice_start) IN (SELECT bucket,"
                 f" slice_start FROM rate_limit_slices WHERE expires_at <= $4 ORDER BY expires_at LIMIT {_PRUNE_BATCH}"
                 " FOR UPDATE SKIP LOCKED)) ")


async def _logged_waits(conn: asyncpg.Connection, claims: list[Claim], now: datetime) -> list[tuple[timedelta, str]]:
    """How long until each logged bucket has room; its latest `max_hits` expiries are all the arithmetic needs."""
    if not claims:
        return []
    rows = await conn.fetch(
        "SELECT c.b AS bucket, h.expires_at FROM unnest($1::text[], $3::int[]) AS c(b, n) CROSS JOIN LATERAL"
        " (SELECT expires_at FROM rate_limit_hits WHERE bucket = c.b AND expires_at > $2"
        " ORDER BY expires_at DESC LIMIT c.n) AS h", [c.bucket for c in claims], now,
        [c.limit.max_hits for c in claims])
    return [(wait_before_next(c.limit, [r["expires_at"] for r in rows if r["bucket"] == c.bucket], now), c.bucket)
            for c in claims]


async def _counted_waits(conn: asyncpg.Connection, claims: list[Claim], now: datetime) -> list[tuple[timedelta, str]]:
    """How long until each counted bucket has room, from its live slices."""
    if not claims:
        return []
    rows = await conn.fetch("SELECT bucket, slice_start, hits FROM rate_limit_slices WHERE bucket = ANY($1::text[])"
                            " AND expires_at > $2", [c.bucket for c in claims], now)
    return [(wait_before_next_slice(c.limit, {r["slice_start"]: r["hits"] for r in rows if r["bucket"] == c.bucket},
                                    now), c.bucket) for c in claims]


async def _log_hits(conn: asyncpg.Connection, claims: list[Claim], now: datetime) -> tuple[int, ...]:
    if not claims:
        return ()
    rows = await conn.fetch(
        _PRUNE_HITS + "INSERT INTO rate_limit_hits (bucket, hit_at, expires_at) SELECT c.b, $2::timestamptz,"
        " $2::timestamptz + c.w FROM unnest($1::text[], $3::interval[]) AS c(b, w) RETURNING id, bucket",
        [c.bucket for c in claims], now, [c.limit.window for c in claims])
    ids = {r["bucket"]: r["id"] for r in rows}
    return tuple(ids[c.bucket] for c in claims)                  # in the claims' order


async def _count_hits(conn: asyncpg.Connection, claims: list[Claim], now: datetime) -> tuple[tuple[str, datetime], ...]:
    """One more hit in the slice holding `now` of each bucket; returns (bucket, slice start) for `release`."""
    if not claims:
        return ()
    starts = [slice_start(c.limit, now) for c in claims]
    await conn.execute(
        _PRUNE_SLICES + "INSERT INTO rate_limit_slices (bucket, slice_start, hits, expires_at)"
        " SELECT b, s, 1, e FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS c(b, s, e)"
        " ON CONFLICT (bucket, slice_start) DO UPDATE SET hits = rate_limit_slices.hits + 1",
        [c.bucket for c in claims], starts, [slice_expiry(c.limit, s) for c, s in zip(claims, starts, strict=True)],
        now)
    return tuple(zip((c.bucket for c in claims), starts, strict=True))
