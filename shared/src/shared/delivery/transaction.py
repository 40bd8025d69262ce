"""One asyncpg transaction carrying a use case's state change, its outgoing events and its inbox claim."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

import asyncpg

from ..contracts.cloudevents import CloudEvent
from .inbox import claim_event
from .outbox import add_to_outbox

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Transaction:
    """What an adapter needs inside a unit of work: the connection, the outbox and the inbox."""

    connection: asyncpg.Connection

    async def publish(self, *events: CloudEvent) -> None:
        """Stage events in the outbox; they leave only if the transaction commits."""
        if events:
            await add_to_outbox(self.connection, *events)

    async def claim(self, consumer: str, event_id: UUID) -> bool:
        """False when this consumer already applied the event: the caller must do nothing."""
        return await claim_event(self.connection, consumer, event_id)


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[Transaction]:
    """Commit on normal exit, roll back on any exception."""
    async with pool.acquire() as conn, conn.transaction():
        yield Transaction(conn)


def unit_of_work(pool: Callable[[], asyncpg.Pool], wrap: Callable[[Transaction], T]
                 ) -> Callable[[], AbstractAsyncContextManager[T]]:
    """A service's unit of work (`shared.ports.UnitOfWork`): each call opens one `transaction` and hands the
    use case `wrap(tx)`, the service's own adapter over it. The pool is looked up per transaction: it
    exists only once the service has started."""

    @asynccontextmanager
    async def begin() -> AsyncIterator[T]:
        async with transaction(pool()) as tx:
            yield wrap(tx)

    return begin
