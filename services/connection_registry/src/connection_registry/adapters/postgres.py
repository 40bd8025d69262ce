"""The registry's PostgreSQL adapter: one transaction per use case, on top of the delivery kit's."""

import json
from collections.abc import Callable
from uuid import UUID

import asyncpg

from shared.delivery import CloudEvent, Transaction, from_kafka, to_kafka

from ..domain import Change, Graph
from ..ports import ParkedEvent, TimelineLine
from . import rows

_UPSERT_MERCHANT = rows.upsert("merchants", rows.MERCHANT_COLUMNS, "merchant_id")
_UPSERT_STORE = rows.upsert("stores", rows.STORE_COLUMNS, "merchant_id, store_id")
_UPSERT_ORG = rows.upsert("organisations", rows.ORG_COLUMNS, "merchant_id, tenant_id")
_UPSERT_GRANT = rows.upsert("grants", rows.GRANT_COLUMNS, "merchant_id, grant_id")
_LOCK_AND_CLAIM = ("WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))),"
                   " claimed AS (INSERT INTO delivery_inbox (consumer, event_id) SELECT $2, $3 FROM locked"
                   " ON CONFLICT DO NOTHING RETURNING true)"
                   " SELECT coalesce((SELECT true FROM claimed), false)")
_AWAITING = "completion_event_id IS NOT NULL AND finalisation_event_id IS NULL"
_BROKEN = "state = 'connected' AND incident_id IS NOT NULL AND restored_at IS NULL"  # StoreRecord.broken
_INSERT_LINE = f"INSERT INTO timeline ({rows.TIMELINE_COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 12))})"


class PgRegistryTransaction:
    """Under the merchant's lock, what the last graph read saw stays true until this transaction changes it,
    so it remembers whether anything is parked and the last timeline position (two round trips saved).
    `publish=False` (the rebuild) drops outgoing events instead of staging them in the outbox."""

    def __init__(self, tx: Transaction, *, publish: bool = True) -> None:
        self._conn = tx.connection
        self.claim = tx.claim
        self._publish = tx.publish if publish else None
        self._has_parked: bool | None = None
        self._last_position: int | None = None

    async def lock(self, merchant_id: str) -> None:
        """Serialise one merchant's changes (the consumed topics' consumers run concurrently)."""
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _lock_key(merchant_id))

    async def lock_and_claim(self, merchant_id: str, consumer: str, event_id: UUID) -> bool:
        """The claim's row lock makes a concurrent duplicate wait for this transaction, as with `claim`."""
        return await self._conn.fetchval(_LOCK_AND_CLAIM, _lock_key(merchant_id), consumer, event_id) is True

    async def graph(self, merchant_id: str) -> Graph:
        graph, facts = await rows.load_graph(self._conn, merchant_id)
        self._has_parked, self._last_position = facts["has_parked"], facts["last_position"]
        return graph

    async def apply(self, change: Change) -> None:
        if change.merchant:
            await self._conn.execute(_UPSERT_MERCHANT, *rows.merchant_values(change.merchant))
        for statement, values in ((_UPSERT_STORE, map(rows.store_values, change.stores)),
                                  (_UPSERT_ORG, map(rows.organisation_values, change.organisations)),
                                  (_UPSERT_GRANT, map(rows.grant_values, change.grants))):
            if batch := list(values):
                await self._conn.executemany(statement, batch)
        if change.timeline:
            last = self._last_position
            if last is None:
                last = await self._conn.fetchval("SELECT coalesce(max(position), 0) FROM timeline"
                                                 " WHERE merchant_id = $1", change.timeline[0].merchant_id)
            await self._conn.executemany(_INSERT_LINE, [rows.timeline_values(last + i, t)
                                                        for i, t in enumerate(change.timeline, start=1)])
            self._last_position = last + len(change.timeline)
        if self._publish and change.publish:
            await self._publish(*change.publish)

    async def park(self, event: CloudEvent, waiting_for: str) -> None:
        record = to_kafka(event)
        headers = json.dumps([[k, v.decode()] for k, v in record.headers])
        await self._conn.execute(
            "INSERT INTO parked_events (event_id, merchant_id, event_type, occurred_at, waiting_for, headers, value)"
            " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)"
            " ON CONFLICT (event_id) DO UPDATE SET waiting_for = excluded.waiting_for",
            event.id, event.data.merchant_id, event.type, event.time, waiting_for, headers, record.value)
        self._has_parked = True

    async def parked(self, merchant_id: str) -> list[ParkedEvent]:
        if self._has_parked is False:
            return []
        found = await self._conn.fetch(
            "SELECT headers, value, waiting_for FROM parked_events WHERE merchant_id = $1"
            " ORDER BY occurred_at, event_id", merchant_id)
        return [ParkedEvent(from_kafka(dict(json.loads(r["headers"])), r["value"]), r["waiting_for"]) for r in found]

    async def unpark(self, event_id: UUID) -> None:
        await self._conn.execute("DELETE FROM parked_events WHERE event_id = $1", event_id)


def _lock_key(merchant_id: str) -> str:
    return f"connection_registry:{merchant_id}"


class PgRegistryReads:
    """Read-only queries; each is one statement (one snapshot), on its own pooled connection."""

    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def graph(self, merchant_id: str) -> Graph:
        async with self._pool().acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            return (await rows.load_graph(conn, merchant_id))[0]

    async def timeline(self, merchant_id: str, after: int, limit: int) -> list[TimelineLine]:
        found = await self._pool().fetch(
            f"SELECT {rows.TIMELINE_COLUMNS} FROM timeline WHERE merchant_id = $1 AND position > $2"
            " ORDER BY position LIMIT $3", merchant_id, after, limit)
        return [rows.timeline_line(r) for r in found]

    async def awaiting_finalisation(self, limit: int, offset: int = 0) -> list[Graph]:
        """Completed, not finalised: oldest completion first (who has waited longest)."""
        async with self._pool().acquire() as conn:
            return await rows.load_graphs(
                conn, "SELECT merchant_id, row_number() OVER (ORDER BY completed_at, merchant_id) AS ord"
                f" FROM merchants WHERE {_AWAITING} ORDER BY completed_at, merchant_id LIMIT $1 OFFSET $2",
                limit, offset)

    async def awaiting_count(self) -> int:
        return await self._pool().fetchval(f"SELECT count(*) FROM merchants WHERE {_AWAITING}")

    async def needing_attention(self, limit: int) -> list[Graph]:
        """Merchants with a connected store whose connection is broken, finalised or not: longest broken first."""
        async with self._pool().acquire() as conn:
            return await rows.load_graphs(
                conn, "SELECT merchant_id, row_number() OVER (ORDER BY min(broken_since), merchant_id) AS ord"
                f" FROM stores WHERE {_BROKEN} GROUP BY merchant_id ORDER BY min(broken_since), merchant_id LIMIT $1",
                limit)

    async def attention_count(self) -> int:
        return await self._pool().fetchval(f"SELECT count(DISTINCT merchant_id) FROM stores WHERE {_BROKEN}")

    async def parked_count(self) -> int:
        return await self._pool().fetchval("SELECT count(*) FROM parked_events")
