"""The registry's PostgreSQL adapter: one transaction per use case, on top of the delivery kit's."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg

from shared.delivery import Transaction, transaction

from ..domain import Change, StoreRecord, StoreState


class PgRegistryTransaction:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._conn = tx.connection
        self.claim = tx.claim
        self.publish = tx.publish

    async def stores_of(self, merchant_id: str) -> dict[str, StoreRecord]:
        rows = await self._conn.fetch(
            "SELECT merchant_id, store_id, name, state, tenant_id, reason FROM stores"
            " WHERE merchant_id = $1 FOR UPDATE", merchant_id)
        return {r["store_id"]: StoreRecord(r["merchant_id"], r["store_id"], r["name"], StoreState(r["state"]),
                                           r["tenant_id"], r["reason"]) for r in rows}

    async def apply(self, change: Change) -> None:
        if change.merchant:
            m = change.merchant
            await self._conn.execute(
                "INSERT INTO merchants (merchant_id, name, licence, key_id) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (merchant_id) DO UPDATE SET name = $2, licence = $3, key_id = $4,"
                " updated_at = now()", m.merchant_id, m.name, m.licence, m.key_id)
        await self._conn.executemany(
            "INSERT INTO stores (merchant_id, store_id, name, state, tenant_id, reason)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (merchant_id, store_id) DO UPDATE"
            " SET name = $3, state = $4, tenant_id = $5, reason = $6, updated_at = now()",
            [(s.merchant_id, s.store_id, s.name, s.state.value, s.tenant_id, s.reason) for s in change.stores])
        await self._conn.executemany(
            "INSERT INTO timeline (merchant_id, store_id, what, actor, reason, event_id, causation_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(t.merchant_id, t.store_id, t.what, t.actor, t.reason, t.event_id, t.causation_id)
             for t in change.timeline])


def unit_of_work(pool: Callable[[], asyncpg.Pool]):  # noqa: ANN201 - returns the UnitOfWork port
    """The pool is looked up per transaction: it exists only once the service has started."""

    @asynccontextmanager
    async def begin() -> AsyncIterator[PgRegistryTransaction]:
        async with transaction(pool()) as tx:
            yield PgRegistryTransaction(tx)

    return begin
