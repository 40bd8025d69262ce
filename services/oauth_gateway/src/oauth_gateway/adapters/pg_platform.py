"""Store links and platform clients in PostgreSQL."""

import time
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import asyncpg

from shared.delivery import Transaction

from ..domain.model import ConnectionStatus
from ..domain.platform import Operation, PlatformClient, StoreConnection, StoreLink
from .pg_xero import PgAuditLog


_STORE_COLUMNS = ("SELECT l.*, c.organisation_name, c.grant_id, c.status, c.reason, c.scopes, c.incident_id,"
                  " c.broken_since FROM store_links l JOIN connections c USING (merchant_id, tenant_id)")
_STORE = _STORE_COLUMNS + " WHERE l.store_id = $1"
_CLIENT = "SELECT * FROM platform_clients WHERE token_hash = $1 AND disabled_at IS NULL"
_REMEMBERED_CLIENTS = 1_000


class PgPlatformReads:
    """`ports.PlatformReads` on the pool: single statements, so no BEGIN/COMMIT round trips on the hot path.

    A known client is remembered for `client_ttl` seconds (a disabled or re-keyed client's old token works
    that much longer on an instance that just saw it); unknown tokens are never remembered, so guessing
    cannot fill the memory."""

    def __init__(self, pool: Callable[[], asyncpg.Pool], *, client_ttl: float = 10.0) -> None:
        self._pool = pool
        self._ttl = client_ttl
        self._clients: dict[bytes, tuple[PlatformClient, float]] = {}

    async def client(self, token_hash: bytes) -> PlatformClient | None:
        known = self._clients.get(token_hash)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        row = await self._pool().fetchrow(_CLIENT, token_hash)
        if row is None:
            self._clients.pop(token_hash, None)
            return None
        if len(self._clients) >= _REMEMBERED_CLIENTS:
            self._clients.clear()
        self._clients[token_hash] = (_client(row), time.monotonic() + self._ttl)
        return self._clients[token_hash][0]

    async def store(self, store_id: str) -> StoreConnection | None:
        row = await self._pool().fetchrow(_STORE, store_id)
        return _store_connection(row) if row else None


class PgStoreLinks:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def link(self, link: StoreLink) -> None:
        """A store posts to one organisation at a time: connecting it again moves it."""
        await self._conn.execute(
            "INSERT INTO store_links (store_id, merchant_id, tenant_id, authorised_by, connected_at, store_name)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (store_id) DO UPDATE SET merchant_id = $2, tenant_id = $3,"
            " authorised_by = $4, connected_at = $5, store_name = $6", link.store_id, link.merchant_id,
            link.tenant_id, link.authorised_by, link.connected_at, link.store_name)

    async def of_store(self, store_id: str) -> StoreConnection | None:
        row = await self._conn.fetchrow(_STORE, store_id)
        return _store_connection(row) if row else None

    async def of_connection(self, merchant_id: str, tenant_id: UUID) -> list[StoreLink]:
        rows = await self._conn.fetch("SELECT * FROM store_links WHERE merchant_id = $1 AND tenant_id = $2"
                                      " ORDER BY store_id", merchant_id, tenant_id)
        return [_link(r) for r in rows]

    async def of_merchant(self, merchant_id: str) -> list[StoreConnection]:
        rows = await self._conn.fetch(_STORE_COLUMNS + " WHERE l.merchant_id = $1 ORDER BY l.store_id", merchant_id)
        return [_store_connection(r) for r in rows]

    async def unlink_organisation(self, merchant_id: str, tenant_id: UUID) -> int:
        done = await self._conn.execute("DELETE FROM store_links WHERE merchant_id = $1 AND tenant_id = $2",
                                        merchant_id, tenant_id)
        return int(done.split()[-1])


class PgPlatformClients:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def by_token_hash(self, token_hash: bytes) -> PlatformClient | None:
        row = await self._conn.fetchrow(_CLIENT, token_hash)
        return _client(row) if row else None

    async def put(self, client: PlatformClient, token_hash: bytes, now: datetime) -> None:
        """Create the client, or give it a new token and operations (the old token stops working)."""
        merchants = sorted(client.merchants) if client.merchants is not None else None
        await self._conn.execute(
            "INSERT INTO platform_clients (name, token_hash, operations, merchant_ids, created_at, rotated_at)"
            " VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (name) DO UPDATE SET token_hash = $2, operations = $3,"
            " merchant_ids = $4, rotated_at = $5, disabled_at = NULL", client.name, token_hash,
            sorted(op.value for op in client.operations), merchants, now)

    async def disable(self, name: str, now: datetime) -> bool:
        done = await self._conn.execute(
            "UPDATE platform_clients SET disabled_at = $2 WHERE name = $1 AND disabled_at IS NULL", name, now)
        return done.endswith(" 1")

    async def listing(self) -> list[tuple[PlatformClient, datetime | None]]:
        rows = await self._conn.fetch("SELECT * FROM platform_clients ORDER BY name")
        return [(_client(r), r["disabled_at"]) for r in rows]


def _link(row: asyncpg.Record) -> StoreLink:
    return StoreLink(row["store_id"], row["merchant_id"], row["tenant_id"], row["authorised_by"], row["connected_at"],
                     row["store_name"] or row["store_id"])


def _store_connection(row: asyncpg.Record) -> StoreConnection:
    return StoreConnection(_link(row), row["organisation_name"], row["grant_id"], ConnectionStatus(row["status"]),
                           row["reason"], tuple(row["scopes"]), row["incident_id"], row["broken_since"])


def _client(row: asyncpg.Record) -> PlatformClient:
    merchants = frozenset(row["merchant_ids"]) if row["merchant_ids"] is not None else None
    return PlatformClient(row["name"], frozenset(Operation(op) for op in row["operations"]), merchants)


class PgPlatformTransaction:
    """Just what managing platform clients touches (satisfies `ports.PlatformWork`); no token cipher needed."""

    def __init__(self, tx: Transaction) -> None:
        self.store_links = PgStoreLinks(tx.connection)
        self.platform_clients = PgPlatformClients(tx.connection)
        self.audit = PgAuditLog(tx.connection)
