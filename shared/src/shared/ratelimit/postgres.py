"""The rate limiter's PostgreSQL side: one row per hit, serialised per bucket by an advisory lock.

The lock is transaction-scoped and taken in bucket order (no deadlocks), so two instances reserving
from the same bucket at once are serialised and the limit is exact, not approximate. Expired rows are
pruned a few at a time on every reservation (SKIP LOCKED: pruning never waits for anyone).
"""

from datetime import datetime
from importlib.resources import files

import asyncpg

from ..delivery import Migrations
from .limits import Claim, Reservation, wait_before_next

RATE_LIMIT_MIGRATIONS = Migrations("ratelimit", files("shared.ratelimit") / "sql")
_LOCK_CLASS = 0x726C  # "rl": the two-int4 advisory-lock key space, apart from the single-bigint locks
_PRUNE_BATCH = 100


async def reserve(conn: asyncpg.Connection, now: datetime, *claims: Claim) -> Reservation:
    """Take one hit from every claimed bucket, or none if any is full. Call inside a transaction."""
    if not conn.is_in_transaction():
        raise RuntimeError("reserve() must run inside the caller's transaction")
    for bucket in sorted({c.bucket for c in claims}):
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_CLASS, bucket)
    await conn.execute(
        "DELETE FROM rate_limit_hits WHERE id IN (SELECT id FROM rate_limit_hits WHERE expires_at <= $1"
        " ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)", now, _PRUNE_BATCH)
    waits = [wait_before_next(claim.limit, await _live_expiries(conn, claim, now), now) for claim in claims]
    wait = max(waits, default=None)
    if wait is not None and wait.total_seconds() > 0:
        return Reservation(retry_after=wait)
    ids = [await conn.fetchval(
        "INSERT INTO rate_limit_hits (bucket, hit_at, expires_at) VALUES ($1, $2, $3) RETURNING id",
        claim.bucket, now, now + claim.limit.window) for claim in claims]
    return Reservation(hit_ids=tuple(ids))


async def release(conn: asyncpg.Connection, reservation: Reservation) -> None:
    """Give a reservation's hits back (for outcomes that should not count against the budget)."""
    if reservation.hit_ids:
        await conn.execute("DELETE FROM rate_limit_hits WHERE id = ANY($1::bigint[])", list(reservation.hit_ids))


async def _live_expiries(conn: asyncpg.Connection, claim: Claim, now: datetime) -> list[datetime]:
    """The latest `max_hits` expiries are all the window arithmetic needs."""
    rows = await conn.fetch(
        "SELECT expires_at FROM rate_limit_hits WHERE bucket = $1 AND expires_at > $2"
        " ORDER BY expires_at DESC LIMIT $3", claim.bucket, now, claim.limit.max_hits)
    return [r["expires_at"] for r in rows]
