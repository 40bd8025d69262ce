"""The registry's PostgreSQL adapter: one transaction per use case, on top of the delivery kit's."""

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from shared.delivery import CloudEvent, Transaction, from_kafka, to_kafka

from ..domain import Change, Graph
from ..ports import ErasureRecord, ParkedEvent, TimelineLine
from . import rows

_UPSERT_MERCHANT = rows.upsert("merchants", rows.MERCHANT_COLUMNS, "merchant_id")
_UPSERT_STORE = rows.upsert("stores", rows.STORE_COLUMNS, "merchant_id, store_id")
_UPSERT_ORG = rows.upsert("organisations", rows.ORG_COLUMNS, "merchant_id, tenant_id")
_UPSERT_GRANT = rows.upsert("grants", rows.GRANT_COLUMNS, "merchant_id, grant_id")
_LOCK_AND_CLAIM = ("WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))),"
                   " claimed AS (INSERT INTO delivery_inbox (consumer, event_id) SELECT $2, $3 FROM locked"
                   " ON CONFLICT DO NOTHING RETURNING true)"
                   " SELECT coalesce((SELECT true FROM claimed), false)")
# The locks in hash order (one order for every batch: no deadlock); count(*) makes every lock be taken first. Only
# the merchants of events not applied yet are locked (a batch of redeliveries takes no lock); an event another
# transaction is applying now still counts as new here, so its merchant's lock waits for that one to end, and
# then its claim finds the row and is not returned.
_LOCK_AND_CLAIM_ALL = ("WITH fresh AS (SELECT k, id FROM unnest($1::text[], $3::uuid[]) AS e(k, id)"
                       " WHERE NOT EXISTS (SELECT FROM delivery_inbox i WHERE i.consumer = $2 AND i.event_id = e.id)),"
                       " locked AS (SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h"
                       " FROM fresh ORDER BY h) AS keys),"
                       " taken AS (SELECT count(*) FROM locked)"
                       " INSERT INTO delivery_inbox (consumer, event_id) SELECT DISTINCT $2, id FROM taken, fresh"
                       " ON CONFLICT DO NOTHING RETURNING event_id")
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
        self._facts_of: str | None = None   # whose graph those two facts are (a batch has several merchants)

    async def lock(self, merchant_id: str) -> None:
        """Serialise one merchant's changes (the consumed topics' consumers run concurrently)."""
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _lock_key(merchant_id))

    async def lock_and_claim(self, merchant_id: str, consumer: str, event_id: UUID) -> bool:
        """The claim's row lock makes a concurrent duplicate wait for this transaction, as with `claim`."""
        return await self._conn.fetchval(_LOCK_AND_CLAIM, _lock_key(merchant_id), consumer, event_id) is True

    async def lock_and_claim_all(self, consumer: str, events: Sequence[tuple[str, UUID]]) -> set[UUID]:
        found = await self._conn.fetch(_LOCK_AND_CLAIM_ALL, [_lock_key(m) for m, _ in events], consumer,
                                       [event_id for _, event_id in events])
        return {row["event_id"] for row in found}

    async def erased(self, merchant_ids: Sequence[str]) -> set[str]:
        found = await self._conn.fetch("SELECT merchant_id FROM merchant_erasures WHERE merchant_id = ANY($1::text[])",
                                       list(merchant_ids))
        return {row["merchant_id"] for row in found}

    async def graph(self, merchant_id: str) -> Graph:
        graph, facts = await rows.load_graph(self._conn, merchant_id)
        self._has_parked, self._last_position = facts["has_parked"], facts["last_position"]
        self._facts_of = merchant_id
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
            last = self._last_position if self._facts_of == change.timeline[0].merchant_id else None
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
        if self._has_parked is False and self._facts_of == merchant_id:
            return []
        found = await self._conn.fetch(
            "SELECT headers, value, waiting_for FROM parked_events WHERE merchant_id = $1"
            " ORDER BY occurred_at, event_id", merchant_id)
        return [ParkedEvent(from_kafka(dict(json.loads(r["headers"])), r["value"]), r["waiting_for"]) for r in found]

    async def unpark(self, event_id: UUID) -> None:
        await self._conn.execute("DELETE FROM parked_events WHERE event_id = $1", event_id)

    async def erasure(self, merchant_id: str) -> ErasureRecord | None:
        found = await self._conn.fetchrow(f"SELECT {_ERASURE_COLUMNS} FROM merchant_erasures WHERE merchant_id = $1",
                                          merchant_id)
        return ErasureRecord(**dict(found)) if found else None

    async def erase(self, event: CloudEvent) -> ErasureRecord:
        """The timeline's trigger lets only this transaction, and only for this merchant, delete its lines."""
        data, merchant_id = event.data, event.data.merchant_id
        await self._conn.execute("SELECT set_config('connection_registry.erasing', $1, true)", merchant_id)
        counts = await self._conn.fetchrow(_ERASE, merchant_id, merchant_id.encode())
        await self._conn.execute("DELETE FROM merchants WHERE merchant_id = $1", merchant_id)
        await self._conn.execute("SELECT set_config('connection_registry.erasing', '', true)")
        record = ErasureRecord(merchant_id=merchant_id, event_id=event.id, requested_by=data.requested_by,
                               reference=data.reference, requested_at=event.time, **dict(counts))
        await self._conn.execute(f"INSERT INTO merchant_erasures ({_ERASURE_COLUMNS}) VALUES"
                                 f" ({', '.join(f'${i}' for i in range(1, 13))})", *_erasure_values(record))
        self._has_parked, self._last_position, self._facts_of = False, 0, merchant_id
        if self._publish:
            await self._publish(event)
        return record


_ERASURE_COLUMNS = ("merchant_id, event_id, requested_by, reference, requested_at, known, stores, organisations,"
                    " grants, timeline_rows, events, audit_rows")
# One statement for the rows that refer to the merchant (data-modifying CTEs share one snapshot), then the merchant's
# row, whose deletion cascades to merchant_search. Outbox rows are the merchant's by their record key (the merchant id).
_ERASE = """
WITH timeline_rows AS (DELETE FROM timeline WHERE merchant_id = $1 RETURNING 1),
     parked AS (DELETE FROM parked_events WHERE merchant_id = $1 RETURNING 1),
     outbox AS (DELETE FROM delivery_outbox WHERE record_key = $2 RETURNING 1),
     grants AS (DELETE FROM grants WHERE merchant_id = $1 RETURNING 1),
     stores AS (DELETE FROM stores WHERE merchant_id = $1 RETURNING 1),
     organisations AS (DELETE FROM organisations WHERE merchant_id = $1 RETURNING 1)
SELECT EXISTS (SELECT FROM merchants WHERE merchant_id = $1) AS known,
       (SELECT count(*) FROM stores)::int AS stores, (SELECT count(*) FROM organisations)::int AS organisations,
       (SELECT count(*) FROM grants)::int AS grants, (SELECT count(*) FROM timeline_rows)::int AS timeline_rows,
       ((SELECT count(*) FROM parked) + (SELECT count(*) FROM outbox))::int AS events,
       (SELECT count(*) FROM staff_audit WHERE merchant_id = $1)::int AS audit_rows
"""


def _erasure_values(record: ErasureRecord) -> tuple[object, ...]:
    return (record.merchant_id, record.event_id, record.requested_by, record.reference, record.requested_at,
            record.known, record.stores, record.organisations, record.grants, record.timeline_rows, record.events,
            record.audit_rows)


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

    async def needing_attention(self, limit: int, offset: int = 0) -> list[Graph]:
        """Merchants with a connected store whose connection is broken, finalised or not: longest broken first."""
        async with self._pool().acquire() as conn:
            return await rows.load_graphs(
                conn, "SELECT merchant_id, row_number() OVER (ORDER BY min(broken_since), merchant_id) AS ord"
                f" FROM stores WHERE {_BROKEN} GROUP BY merchant_id ORDER BY min(broken_since), merchant_id"
                " LIMIT $1 OFFSET $2", limit, offset)

    async def attention_count(self) -> int:
        return await self._pool().fetchval(f"SELECT count(DISTINCT merchant_id) FROM stores WHERE {_BROKEN}")

    async def unfinished(self, connected_before: datetime, limit: int, offset: int = 0) -> list[Graph]:
        async with self._pool().acquire() as conn:
            return await rows.load_graphs(conn, _UNFINISHED, connected_before, limit, offset)

    async def unfinished_count(self, connected_before: datetime) -> int:
        return await self._pool().fetchval(_UNFINISHED_COUNT, connected_before)

    async def search(self, text: str, limit: int, offset: int = 0) -> list[Graph]:
        if not (found := _search_page(text)):
            return []
        listing, args = found
        async with self._pool().acquire() as conn:
            return await rows.load_graphs(conn, listing, *args, limit, offset)

    async def search_count(self, text: str) -> int:
        if not (found := _search_hits(text)):
            return 0
        hits, args = found
        return await self._pool().fetchval(f"SELECT count(*) FROM ({hits}) AS hits", *args)

    async def parked_count(self) -> int:
        return await self._pool().fetchval("SELECT count(*) FROM parked_events")

    async def merchant_names(self, merchant_ids: Sequence[str]) -> dict[str, str]:
        found = await self._pool().fetch("SELECT merchant_id, name FROM merchants WHERE merchant_id = ANY($1::text[])",
                                         list(merchant_ids))
        return {r["merchant_id"]: r["name"] for r in found}


# Started, not finished: from the few merchants without a completion, each one's earliest store connected long
# enough (an index-only probe per merchant: cheaper than joining every connected store), one page sorted.
_UNFINISHED_FROM = (
    " FROM merchants m CROSS JOIN LATERAL (SELECT min(s.connected_at) AS first FROM stores s"
    " WHERE s.merchant_id = m.merchant_id AND s.state = 'connected' AND s.connected_at <= $1) AS f"
    " WHERE m.completion_event_id IS NULL AND f.first IS NOT NULL")
_UNFINISHED = (
    "SELECT merchant_id, row_number() OVER (ORDER BY first, merchant_id COLLATE \"C\") AS ord FROM ("
    f" SELECT m.merchant_id, f.first {_UNFINISHED_FROM}"
    " ORDER BY f.first, m.merchant_id COLLATE \"C\" LIMIT $2 OFFSET $3) AS page")
_UNFINISHED_COUNT = f"SELECT count(*) {_UNFINISHED_FROM}"
# The search reads merchant_search (0005_console_search.sql): each merchant's names, lower-cased, in one row.
# Text with three letters or digits in a row: its trigram indexes ($1 '%text%', $2 'text%') and the tenant ids a
# whole id or a prefix of one stands for ($3..$4). Other text ("o", "& b") has no trigram to look up (the index
# would be read whole, slower than the table): a plain scan of the table, a statement of its own so that
# PostgreSQL's plan cache never runs such text with the indexed statement's plan.
_NAME_OR_ID = "(names LIKE lower($1) OR merchant_id ILIKE $2)"
_SEARCH_HITS = (f"SELECT merchant_id, sort_name, name FROM merchant_search WHERE {_NAME_OR_ID}"
                " UNION ALL SELECT merchant_id, sort_name, name FROM merchant_search WHERE merchant_id = ANY (ARRAY("
                "SELECT merchant_id FROM organisations WHERE tenant_id BETWEEN $3 AND $4))"
                f" AND NOT {_NAME_OR_ID}")
_SEARCH_HITS_SCAN = ("SELECT merchant_id, sort_name, name FROM merchant_search"
                     " WHERE strpos(names, lower($1)) > 0 OR starts_with(lower(merchant_id), lower($1))")
_SEARCH_ORDER = 'sort_name, name, merchant_id COLLATE "C"'   # lower-cased name, byte order: as the fakes sort
_UUID_SHAPE = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
_TRIGRAM = re.compile(r"[^\W_]{3}")               # what pg_trgm indexes: runs of letters and digits


def _search_hits(text: str) -> tuple[str, tuple[object, ...]] | None:
    """The statement listing the merchant ids `text` matches, with its arguments; None for blank text.
    User text is matched literally (LIKE's %, _ and \\ escaped)."""
    text = text.strip()
    if not text or "\x00" in text:                # PostgreSQL's text holds no NUL: no name contains one
        return None
    if not _TRIGRAM.search(text):
        return _SEARCH_HITS_SCAN, (text,)
    literal = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return _SEARCH_HITS, (f"%{literal}%", f"{literal}%", *_tenant_range(text))



def _search_page(text: str) -> tuple[str, tuple[object, ...]] | None:
    """One page of `_search_hits` in the search's order; the page's limit and offset follow the arguments."""
    if not (found := _search_hits(text)):
        return None
    hits, args = found
    return (f"SELECT merchant_id, row_number() OVER (ORDER BY {_SEARCH_ORDER}) AS ord FROM (SELECT * FROM ({hits})"
            f" AS hits ORDER BY {_SEARCH_ORDER} LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}) AS page", args)


def _tenant_range(text: str) -> tuple[UUID | None, UUID | None]:
    """A whole tenant id (any form uuid.UUID reads), or a prefix of at least 8 characters of its text form, as the
    range of ids it stands for (an index range scan); (None, None) matches nothing."""
    try:
        return UUID(text), UUID(text)
    except ValueError:
        pass
    prefix = text.lower()
    shape = _UUID_SHAPE[:len(prefix)]
    if 8 <= len(prefix) <= len(_UUID_SHAPE) and all(
            c == "-" if want == "-" else c in "0123456789abcdef" for c, want in zip(prefix, shape, strict=True)):
        digits = prefix.replace("-", "")
        return UUID(digits.ljust(32, "0")), UUID(digits.ljust(32, "f"))
    return None, None
