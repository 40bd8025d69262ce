"""The notifier's PostgreSQL adapter: delivery rows recorded with the inbox claim, leased with SKIP LOCKED."""

from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from shared.delivery import Transaction, transaction

from ..domain.delivery import AttemptResult, Channel, Claimed, Decision, NewDelivery, Status
from ..domain.notifications import Notification
from ..views import AttemptView, DeliveryView

_COLUMNS = ("delivery_id, event_id, kind, channel, merchant_id, status, attempts, redrives, next_attempt_at,"
            " last_error, created_at, delivered_at, parked_at")
_CLAIM = """
WITH due AS (
    SELECT delivery_id FROM helpdesk_deliveries
     WHERE status = 'pending' AND next_attempt_at <= $1
     ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
UPDATE helpdesk_deliveries d
   SET attempts = d.attempts + 1, cycle_attempts = d.cycle_attempts + 1, next_attempt_at = $3
  FROM due WHERE d.delivery_id = due.delivery_id
RETURNING d.delivery_id, d.channel, d.notification, d.attempts, d.cycle_attempts"""
_FINISH = """
UPDATE helpdesk_deliveries SET status = $3, next_attempt_at = $4, last_error = $5,
       delivered_at = CASE WHEN $3 = 'delivered' THEN $6::timestamptz END,
       parked_at = CASE WHEN $3 = 'parked' THEN $6::timestamptz END
 WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending'"""
_REDRIVE = f"""
UPDATE helpdesk_deliveries SET status = 'pending', cycle_attempts = 0, redrives = redrives + 1,
       next_attempt_at = $2, parked_at = NULL
 WHERE delivery_id = $1 AND status = 'parked' RETURNING {_COLUMNS}"""


class PgNotifierTransaction:
    def __init__(self, tx: Transaction) -> None:
        self._conn = tx.connection
        self.claim = tx.claim

    async def record(self, deliveries: Sequence[NewDelivery]) -> None:
        await self._conn.executemany(
            "INSERT INTO helpdesk_deliveries (delivery_id, event_id, channel, kind, merchant_id, notification,"
            " status, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, 'pending', $7, $7)"
            " ON CONFLICT DO NOTHING",
            [(d.delivery_id, d.notification.event_id, d.channel.value, d.notification.kind.value,
              d.notification.merchant_id, d.notification.model_dump_json(), d.due_at) for d in deliveries])


class PgDeliveries:
    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def claim_due(self, now: datetime, limit: int, lease_until: datetime) -> list[Claimed]:
        async with transaction(self._pool()) as tx:
            rows = await tx.connection.fetch(_CLAIM, now, limit, lease_until)
            ids = [r["delivery_id"] for r in rows]
            await tx.connection.execute(
                "UPDATE helpdesk_delivery_attempts SET outcome = 'abandoned', finished_at = $2,"
                " detail = 'no result recorded before the lease expired'"
                " WHERE delivery_id = ANY($1::uuid[]) AND outcome = 'in_flight'", ids, now)
            await tx.connection.executemany(
                "INSERT INTO helpdesk_delivery_attempts (delivery_id, attempt, started_at, outcome)"
                " VALUES ($1, $2, $3, 'in_flight')", [(r["delivery_id"], r["attempts"], now) for r in rows])
        return [Claimed(r["delivery_id"], Channel(r["channel"]), Notification.model_validate_json(r["notification"]),
                        r["attempts"], r["cycle_attempts"]) for r in rows]

    async def finish(self, claimed: Claimed, result: AttemptResult, decision: Decision, at: datetime) -> None:
        async with transaction(self._pool()) as tx:
            await tx.connection.execute(
                "UPDATE helpdesk_delivery_attempts SET finished_at = $3, outcome = $4, status_code = $5,"
                " detail = $6 WHERE delivery_id = $1 AND attempt = $2",
                claimed.delivery_id, claimed.attempt, at, result.outcome.value, result.status_code,
                result.detail[:1000])
            error = None if decision.status is Status.DELIVERED else decision.note[:1000]
            await tx.connection.execute(_FINISH, claimed.delivery_id, claimed.attempt, decision.status.value,
                                        decision.next_attempt_at, error, at)

    async def redrive(self, delivery_id: UUID, now: datetime) -> tuple[bool, DeliveryView] | None:
        async with transaction(self._pool()) as tx:
            row = await tx.connection.fetchrow(_REDRIVE, delivery_id, now)
        view = await self.get(delivery_id)
        return None if view is None else (row is not None, view)

    async def get(self, delivery_id: UUID) -> DeliveryView | None:
        async with self._pool().acquire() as conn:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM helpdesk_deliveries WHERE delivery_id = $1",
                                      delivery_id)
            if row is None:
                return None
            attempts = await conn.fetch(
                "SELECT attempt, started_at, finished_at, outcome, status_code, detail"
                " FROM helpdesk_delivery_attempts WHERE delivery_id = $1 ORDER BY attempt", delivery_id)
        return DeliveryView(**dict(row), history=[AttemptView(**dict(a)) for a in attempts])

    async def listing(self, status: Status | None, limit: int) -> list[DeliveryView]:
        rows = await self._pool().fetch(
            f"SELECT {_COLUMNS} FROM helpdesk_deliveries WHERE $1::text IS NULL OR status = $1"
            " ORDER BY created_at, delivery_id LIMIT $2", status.value if status else None, limit)
        return [DeliveryView(**dict(r)) for r in rows]
