""""I have finished" requests waiting for the registry (migration 0008), leased SKIP LOCKED so one instance
offers each; the registry is called with no transaction open."""

from datetime import datetime

import asyncpg

from ..domain.completion import PendingCompletion


class PgCompletions:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def keep(self, merchant_id: str, completed_by: str, now: datetime) -> bool:
        """Record the request, due now; False (nothing changed) when one is already pending for the merchant."""
        kept = await self._conn.fetchval(
            "INSERT INTO pending_completions (merchant_id, completed_by, requested_at, next_attempt_at)"
            " VALUES ($1, $2, $3, $3) ON CONFLICT (merchant_id) DO UPDATE SET completed_by = $2,"
            " requested_at = $3, attempts = 0, next_attempt_at = $3, last_error = NULL, outcome = NULL,"
            " ended_at = NULL WHERE pending_completions.outcome IS NOT NULL RETURNING true",
            merchant_id, completed_by, now)
        return bool(kept)

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[PendingCompletion]:
        rows = await self._conn.fetch(
            "UPDATE pending_completions p SET attempts = p.attempts + 1, next_attempt_at = $2"
            " FROM (SELECT merchant_id FROM pending_completions WHERE outcome IS NULL AND next_attempt_at <= $1"
            "       ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) due"
            " WHERE p.merchant_id = due.merchant_id"
            " RETURNING p.merchant_id, p.completed_by, p.requested_at, p.attempts", now, lease_until, limit)
        return sorted((PendingCompletion(r["merchant_id"], r["completed_by"], r["requested_at"], r["attempts"])
                       for r in rows), key=lambda p: p.requested_at)

    async def retry(self, merchant_id: str, at: datetime, error: str) -> None:
        await self._conn.execute(
            "UPDATE pending_completions SET next_attempt_at = $2, last_error = $3"
            " WHERE merchant_id = $1 AND outcome IS NULL", merchant_id, at, error[:500])

    async def end(self, merchant_id: str, now: datetime, outcome: str) -> bool:
        """False when nothing was pending (e.g. the merchant's own click reached the registry first)."""
        status = await self._conn.execute(
            "UPDATE pending_completions SET outcome = $3, ended_at = $2, last_error = NULL"
            " WHERE merchant_id = $1 AND outcome IS NULL", merchant_id, now, outcome)
        return status != "UPDATE 0"
