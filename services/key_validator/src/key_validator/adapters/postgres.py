"""The key validator's PostgreSQL adapter: the audit trail and the shared rate limiter, on the delivery
kit's transaction (so KeyValidated is staged in the outbox with its attempt row)."""

from datetime import datetime

from shared import ratelimit
from shared.delivery import Transaction
from shared.ratelimit import Claim, Reservation

from ..domain import Attempt


class PgValidatorTransaction:
    def __init__(self, tx: Transaction) -> None:
        self._conn = tx.connection
        self.publish = tx.publish

    async def reserve(self, now: datetime, *claims: Claim) -> Reservation:
        return await ratelimit.reserve(self._conn, now, *claims)

    async def release(self, reservation: Reservation) -> None:
        await ratelimit.release(self._conn, reservation)

    async def record(self, attempt: Attempt) -> None:
        assert attempt.outcome is not None, "only finished attempts are recorded"
        await self._conn.execute(
            "INSERT INTO validation_attempts (validation_id, merchant_id, user_id, client_address,"
            " key_fingerprint, key_id, outcome, attempted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            attempt.validation_id, attempt.merchant_id, attempt.user_id, attempt.client_address,
            attempt.key_fingerprint, attempt.key_id, attempt.outcome.value, attempt.attempted_at)
