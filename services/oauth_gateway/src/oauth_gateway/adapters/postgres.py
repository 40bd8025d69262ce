"""The gateway's unit of work: one asyncpg transaction with the outbox, on top of the delivery kit's."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg

from shared.delivery import Transaction, transaction

from .crypto import TokenCipher
from .pg_web import WebRows
from .pg_xero import XeroRows


class PgGatewayTransaction(WebRows, XeroRows):
    def __init__(self, tx: Transaction, cipher: TokenCipher) -> None:
        self._conn = tx.connection
        self._cipher = cipher
        self.publish = tx.publish


def unit_of_work(pool: Callable[[], asyncpg.Pool], cipher: TokenCipher):  # noqa: ANN201 - the UnitOfWork port
    """The pool is looked up per transaction: it exists only once the service has started."""

    @asynccontextmanager
    async def begin() -> AsyncIterator[PgGatewayTransaction]:
        async with transaction(pool()) as tx:
            yield PgGatewayTransaction(tx, cipher)

    return begin
