"""A batch's transaction: the live adapter's statements, but graphs kept in memory and rows written at its end.

Why: applying events one statement at a time makes about seven round trips per event (graph read, upserts,
timeline lines, outbox), so a partition's batch, or a rebuild of a year (1,000,000 events), runs at round-trip
speed. Within a batch's transaction every merchant of the batch is locked (`lock_and_claim_all`), so what the
transaction wrote is what it knows: each merchant's graph, whether it has parked events and its last timeline
position are read once for the whole batch and then kept in memory (`GraphCache`); the rows the batch's changes
produce are collected, the last version of each row kept, and written when the batch ends (`flush`: a COPY into
a scratch table, then one upsert statement per table, the timeline lines by COPY, the outgoing events in one
outbox statement, in the order they were staged). The handlers and the domain's rules are the live ones; only
where rows are read from and when they are written differ. Parking, unparking and erasure go straight to the
database (after a flush, so they see every row before them).

Live batches (`batch_unit_of_work`) start each transaction with an empty cache: another instance may have
written since. The rebuild shares one cache across its transactions (`GraphCache` passed in): it is the only
writer of its EMPTY target database, and it drops outgoing events instead of staging them (`publish=False`).
"""

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from uuid import UUID

import asyncpg

from shared.delivery import CloudEvent, Transaction, transaction

from ..domain import Change, Graph
from ..ports import ErasureRecord, ParkedEvent
from . import rows
from .postgres import PgRegistryTransaction

_FACTS = ("SELECT u.m AS merchant_id,"
          " EXISTS (SELECT FROM parked_events p WHERE p.merchant_id = u.m) AS has_parked,"
          " (SELECT coalesce(max(position), 0) FROM timeline t WHERE t.merchant_id = u.m) AS last_position"
          " FROM unnest($1::text[]) AS u(m)")
_LISTING = "SELECT m AS merchant_id, ord FROM unnest($1::text[]) WITH ORDINALITY AS u(m, ord)"
_SEARCH_BY_WRITER = "connection_registry.search_refreshed_by_writer"
# table, its columns, its key (each row's values start with its merchant id)
_TABLES = (("merchants", rows.MERCHANT_COLUMNS, "merchant_id"),
           ("stores", rows.STORE_COLUMNS, "merchant_id, store_id"),
           ("organisations", rows.ORG_COLUMNS, "merchant_id, tenant_id"),
           ("grants", rows.GRANT_COLUMNS, "merchant_id, grant_id"))


@dataclass
class Known:
    graph: Graph
    has_parked: bool
    last_position: int


@dataclass
class GraphCache:
    """What is known of each merchant so far: true while its writer holds the merchants' locks (a live batch's
    transaction) or is the only writer (a rebuild)."""

    known: dict[str, Known] = field(default_factory=dict)


def _columns(columns: str) -> list[str]:
    return [c.strip() for c in columns.split(",")]


def _upsert_from(table: str, columns: str, key: str) -> str:
    names, keys = _columns(columns), {k.strip() for k in key.split(",")}
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names if n not in keys)
    return (f"INSERT INTO {table} ({columns}) SELECT {columns} FROM batch_{table}"
            f" ON CONFLICT ({key}) DO UPDATE SET {updates}; DELETE FROM batch_{table}")


def batch_unit_of_work(pool: Callable[[], asyncpg.Pool], cache: GraphCache | None = None, *, publish: bool = True
                       ) -> Callable[[], AbstractAsyncContextManager["BatchTransaction"]]:
    """Transactions that write their rows at their end (module doc); each with a fresh cache unless one is given."""

    @asynccontextmanager
    async def begin() -> AsyncIterator[BatchTransaction]:
        async with transaction(pool()) as tx:
            writes = BatchTransaction(tx, cache if cache is not None else GraphCache(), publish=publish)
            yield writes
            await writes.flush()

    return begin


class BatchTransaction:
    """`RegistryTransaction` that reads from `GraphCache` and writes at `flush` (see the module doc)."""

    def __init__(self, tx: Transaction, cache: GraphCache, *, publish: bool = True) -> None:
        self._conn = tx.connection
        self._live = PgRegistryTransaction(tx, publish=False)
        self._publish = tx.publish if publish else None
        self._cache = cache
        self._pending: dict[str, dict[tuple, tuple]] = {table: {} for table, _, _ in _TABLES}
        self._lines: list[tuple] = []
        self._outgoing: list[CloudEvent] = []
        self.claim, self.lock, self.lock_and_claim = self._live.claim, self._live.lock, self._live.lock_and_claim
        self.erased, self.erasure = self._live.erased, self._live.erasure

    async def lock_and_claim_all(self, consumer: str, events: Sequence[tuple[str, UUID]]) -> set[UUID]:
        """Then the graphs of the merchants with a claimed event (none for a batch of redeliveries)."""
        claimed = await self._live.lock_and_claim_all(consumer, events)
        await self._load(sorted({m for m, event_id in events if event_id in claimed and m not in self._cache.known}))
        return claimed

    async def _load(self, merchant_ids: list[str]) -> None:
        """The graphs the cache does not hold yet, in two round trips for the whole batch."""
        if not merchant_ids:
            return
        graphs = await rows.load_graphs(self._conn, _LISTING, merchant_ids)
        facts = {r["merchant_id"]: r for r in await self._conn.fetch(_FACTS, merchant_ids)}
        for graph in graphs:
            found = facts[graph.merchant_id]
            self._cache.known[graph.merchant_id] = Known(graph, found["has_parked"], found["last_position"])

    async def _known(self, merchant_id: str) -> Known:
        if merchant_id not in self._cache.known:
            await self._load([merchant_id])
        return self._cache.known[merchant_id]

    async def graph(self, merchant_id: str) -> Graph:
        return (await self._known(merchant_id)).graph

    async def apply(self, change: Change) -> None:
        """Change the cached graph and keep the rows and outgoing events for `flush`."""
        touched = {r.merchant_id for r in (change.merchant, *change.stores, *change.organisations, *change.grants,
                                           *change.timeline) if r is not None}
        for merchant_id in touched:
            known = await self._known(merchant_id)
            g = known.graph
            known.graph = replace(
                g, merchant=change.merchant if change.merchant and change.merchant.merchant_id == merchant_id
                else g.merchant,
                stores=g.stores | {s.store_id: s for s in change.stores if s.merchant_id == merchant_id},
                organisations=g.organisations | {o.tenant_id: o for o in change.organisations
                                                 if o.merchant_id == merchant_id},
                grants=g.grants | {x.grant_id: x for x in change.grants if x.merchant_id == merchant_id})
            for line in change.timeline:
                if line.merchant_id == merchant_id:
                    known.last_position += 1
                    self._lines.append(rows.timeline_values(known.last_position, line))
        pending = self._pending
        if change.merchant:
            pending["merchants"][(change.merchant.merchant_id,)] = rows.merchant_values(change.merchant)
        for s in change.stores:
            pending["stores"][(s.merchant_id, s.store_id)] = rows.store_values(s)
        for o in change.organisations:
            pending["organisations"][(o.merchant_id, o.tenant_id)] = rows.organisation_values(o)
        for x in change.grants:
            pending["grants"][(x.merchant_id, x.grant_id)] = rows.grant_values(x)
        if self._publish is not None:
            self._outgoing.extend(change.publish)

    async def flush(self) -> None:
        """Write what the batch changed: each row's last version, merchants first (the others refer to them), then
        the outgoing events."""
        tables = [(table, columns, key) for table, columns, key in _TABLES if self._pending[table]]
        if tables:
            touched = sorted({values[0] for table, _, _ in tables for values in self._pending[table].values()})
            # the session's scratch tables, emptied after each use (an erasure flushes mid-batch) and at commit
            # (DELETE, not TRUNCATE, which gives a table a new file, a catalog write, each time); the search rows
            # of the touched merchants are refreshed once, after every table is written (0008_search_once...)
            await self._conn.execute(f"SELECT set_config('{_SEARCH_BY_WRITER}', 'on', true);" + "".join(
                f" CREATE TEMP TABLE IF NOT EXISTS batch_{table} (LIKE {table}) ON COMMIT DELETE ROWS;"
                for table, _, _ in tables))
            for table, columns, _ in tables:
                await self._conn.copy_records_to_table(f"batch_{table}", records=list(self._pending[table].values()),
                                                       columns=_columns(columns))
                self._pending[table].clear()
            await self._conn.execute(";".join(_upsert_from(*table) for table in tables))
            await self._conn.execute(f"SELECT merchant_search_refresh($1::text[]), set_config('{_SEARCH_BY_WRITER}',"
                                     " '', true)", touched)
        if self._lines:
            await self._conn.copy_records_to_table("timeline", records=self._lines,
                                                   columns=_columns(rows.TIMELINE_COLUMNS))
            self._lines = []
        if self._outgoing and self._publish is not None:
            await self._publish(*self._outgoing)
            self._outgoing = []

    async def park(self, event: CloudEvent, waiting_for: str) -> None:
        await self._live.park(event, waiting_for)
        (await self._known(event.data.merchant_id)).has_parked = True

    async def parked(self, merchant_id: str) -> list[ParkedEvent]:
        if not (await self._known(merchant_id)).has_parked:
            return []
        return await self._live.parked(merchant_id)

    async def unpark(self, event_id: UUID) -> None:
        await self._live.unpark(event_id)

    async def erase(self, event: CloudEvent) -> ErasureRecord:
        """Every row written so far goes in first: the erasure deletes (and counts) them."""
        await self.flush()
        record = await self._live.erase(event)
        if self._publish is not None:
            await self._publish(event)
        merchant_id = event.data.merchant_id
        self._cache.known[merchant_id] = Known(Graph(merchant_id), False, 0)
        return record
