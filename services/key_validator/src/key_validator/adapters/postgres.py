"""The key validator's PostgreSQL adapter: the audit trail and the shared rate limiter, on the delivery
kit's transaction (so KeyValidated is staged in the outbox with its attempt row)."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from shared import ratelimit
from shared.delivery import Transaction, transaction
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


def unit_of_work(pool: Callable[[], asyncpg.Pool]):  # noqa: ANN201 - returns the UnitOfWork port
    """The pool is looked up per transaction: it exists only once the service has started."""

    @asynccontextmanager
    async def begin() -> AsyncIterator[PgValidatorTransaction]:
        async with transaction(pool()) as tx:
            yield PgValidatorTransaction(tx)

    return begin
