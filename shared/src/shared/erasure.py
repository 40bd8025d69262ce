"""A service's own part of erasing a merchant (docs/erasure.md), on MerchantErased.

The registry erases its rows and publishes MerchantErased; every other service consumes it and runs its own
statements (each names the merchant as $1, deletes or anonymises rows and answers one row of named counts: `delete`,
`anonymise`) in ONE transaction with the event's inbox claim and a `merchant_erasures` row holding only the counts
(each service's migration creates that table), so a redelivered or replayed MerchantErased erases nothing twice and
the counts stay those of the first run. Outbox rows are the merchant's by their record key.
"""

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from .contracts import CloudEvent, MerchantErased
from .delivery.inbox import claim_event


def delete(table: str, where: str = "merchant_id = $1", name: str | None = None) -> str:
    """A statement deleting the merchant's rows of `table`, counted under `name` (default: the table)."""
    return f"WITH gone AS (DELETE FROM {table} WHERE {where} RETURNING 1) SELECT count(*) AS {name or table} FROM gone"


def anonymise(table: str, assignments: str, name: str, where: str = "merchant_id = $1") -> str:
    """A statement keeping the merchant's rows of `table` (what was done, when) but overwriting personal columns."""
    return (f"WITH kept AS (UPDATE {table} SET {assignments} WHERE {where} RETURNING 1)"
            f" SELECT count(*) AS {name} FROM kept")


log = logging.getLogger(__name__)
Handle = Callable[[CloudEvent], Awaitable[object]]
OUTBOX = delete("delivery_outbox", "record_key = convert_to($1, 'UTF8')", "outbox")


@dataclass(frozen=True, slots=True)
class Erased:
    merchant_id: str
    counts: dict[str, int]


class PgErasure:
    """`statements`: SQL with the merchant id as $1, each answering one row of counts, run in order; the merchant's
    outbox rows go last."""

    def __init__(self, consumer: str, pool: Callable[[], asyncpg.Pool], statements: Sequence[str]) -> None:
        self._consumer = consumer
        self._pool = pool
        self._statements = (*statements, OUTBOX)

    async def erase(self, event: CloudEvent) -> Erased | None:
        """None when this event was already applied (nothing done)."""
        data = event.data
        if not isinstance(data, MerchantErased):
            raise TypeError(f"not a MerchantErased: {type(data).__name__}")
        async with self._pool().acquire() as conn, conn.transaction():
            if not await claim_event(conn, self._consumer, event.id):
                return None
            counts: dict[str, int] = {}
            for sql in self._statements:
                counts.update(dict(await conn.fetchrow(sql, data.merchant_id)))
            await conn.execute("INSERT INTO merchant_erasures (merchant_id, event_id, erased_at, counts)"
                               " VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (merchant_id) DO NOTHING",
                               data.merchant_id, event.id, event.time, json.dumps(counts))
        return Erased(data.merchant_id, counts)

    async def erased(self, merchant_id: str) -> bool:
        """Whether the merchant was erased here (late events about it must not record anything again)."""
        return bool(await self._pool().fetchval("SELECT EXISTS (SELECT FROM merchant_erasures WHERE merchant_id = $1)",
                                                merchant_id))


def unless_erased(erasure: PgErasure, handle: Handle) -> Handle:
    """`handle`, except for an erased merchant's events (late on another topic, or replayed): those are ignored, so
    nothing about the merchant is recorded again."""

    async def guarded(event: CloudEvent) -> object:
        if await erasure.erased(event.data.merchant_id):
            log.info("ignored %s %s: merchant %s was erased", event.type, event.id, event.data.merchant_id)
            return None
        return await handle(event)

    return guarded
