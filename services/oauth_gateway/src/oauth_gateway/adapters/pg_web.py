"""Sessions and flows in PostgreSQL: what lets any instance serve any request or take any callback."""

import json
from datetime import datetime
from uuid import UUID

import asyncpg

from ..domain.model import AuthorisedOrg, Flow, FlowStatus, StoreRef, WebSession


class PgSessions:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, session: WebSession) -> None:
        await self._conn.execute(
            "INSERT INTO web_sessions (session_hash, user_id, merchant_id, merchant_name, display_name,"
            " created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)", session.session_hash,
            session.user_id, session.merchant_id, session.merchant_name, session.display_name,
            session.created_at, session.last_seen_at)

    async def get(self, session_hash: bytes) -> WebSession | None:
        row = await self._conn.fetchrow("SELECT * FROM web_sessions WHERE session_hash = $1", session_hash)
        return _session(row) if row else None

    async def touch(self, session_hash: bytes, now: datetime) -> None:
        await self._conn.execute("UPDATE web_sessions SET last_seen_at = $2 WHERE session_hash = $1",
                                 session_hash, now)

    async def set_stores(self, session_hash: bytes, stores: tuple[StoreRef, ...], key_label: str) -> None:
        await self._conn.execute(
            "UPDATE web_sessions SET stores = $2::jsonb, key_label = $3 WHERE session_hash = $1", session_hash,
            json.dumps([{"store_id": s.store_id, "name": s.name} for s in stores]), key_label)

    async def set_flash(self, session_hash: bytes, text: str | None) -> None:
        await self._conn.execute("UPDATE web_sessions SET flash = $2 WHERE session_hash = $1", session_hash, text)

    async def take_flash(self, session_hash: bytes) -> str | None:
        return await self._conn.fetchval(
            "UPDATE web_sessions s SET flash = NULL FROM web_sessions old WHERE s.session_hash = $1"
            " AND old.session_hash = s.session_hash RETURNING old.flash", session_hash)

    async def drop(self, session_hash: bytes) -> None:
        await self._conn.execute("DELETE FROM web_sessions WHERE session_hash = $1", session_hash)

    async def purge(self, idle_before: datetime) -> None:
        await self._conn.execute("DELETE FROM web_sessions WHERE last_seen_at < $1", idle_before)


class PgFlows:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, flow: Flow, state_hash: bytes, sealed_verifier: str) -> None:
        await self._conn.execute(
            "INSERT INTO oauth_flows (flow_id, state_hash, session_hash, merchant_id, user_id, store_id,"
            " store_name, verifier, nonce, created_at, status) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
            flow.flow_id, state_hash, flow.session_hash, flow.merchant_id, flow.user_id, flow.store_id,
            flow.store_name, sealed_verifier, flow.nonce, flow.created_at, flow.status.value)

    async def claim(self, state_hash: bytes) -> tuple[Flow, str] | None:
        """One-time use of `state`: only the first redirect carrying it moves the flow on."""
        row = await self._conn.fetchrow(
            "UPDATE oauth_flows SET status = 'exchanging' WHERE state_hash = $1 AND status = 'pending'"
            " RETURNING *", state_hash)
        return (_flow(row), row["verifier"]) if row else None

    async def get(self, flow_id: UUID, *, lock: bool = False) -> Flow | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM oauth_flows WHERE flow_id = $1" + (" FOR UPDATE" if lock else ""), flow_id)
        return _flow(row) if row else None

    async def save(self, flow: Flow, outcome: str | None = None) -> None:
        orgs = [{"tenant_id": str(o.tenant_id), "connection_id": str(o.connection_id), "name": o.name}
                for o in flow.organisations]
        await self._conn.execute(
            "UPDATE oauth_flows SET status = $2, outcome = coalesce($3, outcome), grant_id = $4,"
            " auth_event_id = $5, organisations = $6::jsonb, authorised_at = $7 WHERE flow_id = $1", flow.flow_id,
            flow.status.value, outcome, flow.grant_id, flow.auth_event_id, json.dumps(orgs), flow.authorised_at)

    async def purge(self, created_before: datetime) -> None:
        """Old flows go, except consents still waiting for a selection: the sweep must see those first."""
        await self._conn.execute("DELETE FROM oauth_flows WHERE created_at < $1 AND status <> 'authorised'",
                                 created_before)

    async def abandonable(self, authorised_before: datetime, limit: int) -> list[Flow]:
        """Consents authorised before the cut-off and still unselected, oldest first, locked; SKIP LOCKED so
        instances sweeping at once share them (and a confirmation in progress keeps its flow)."""
        rows = await self._conn.fetch(
            "SELECT * FROM oauth_flows WHERE status = 'authorised' AND authorised_at < $1 ORDER BY authorised_at"
            " LIMIT $2 FOR UPDATE SKIP LOCKED", authorised_before, limit)
        return [_flow(r) for r in rows]

    async def awaiting_selection(self, merchant_id: str, authorised_after: datetime) -> list[Flow]:
        rows = await self._conn.fetch(
            "SELECT * FROM oauth_flows WHERE status = 'authorised' AND merchant_id = $1 AND authorised_at >= $2"
            " ORDER BY authorised_at", merchant_id, authorised_after)
        return [_flow(r) for r in rows]


def _session(row: asyncpg.Record) -> WebSession:
    stores = tuple(StoreRef(s["store_id"], s["name"]) for s in json.loads(row["stores"]))
    return WebSession(bytes(row["session_hash"]), row["user_id"], row["merchant_id"], row["merchant_name"],
                      row["display_name"], row["created_at"], row["last_seen_at"], stores, row["key_label"])


def _flow(row: asyncpg.Record) -> Flow:
    orgs = tuple(AuthorisedOrg(UUID(o["tenant_id"]), UUID(o["connection_id"]), o["name"])
                 for o in json.loads(row["organisations"]))
    return Flow(row["flow_id"], bytes(row["session_hash"]), row["merchant_id"], row["user_id"], row["store_id"],
                row["store_name"], row["nonce"], row["created_at"], FlowStatus(row["status"]), row["grant_id"],
                row["auth_event_id"], orgs, row["authorised_at"])
