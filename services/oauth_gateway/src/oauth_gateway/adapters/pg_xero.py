"""Grants (sealed token sets), connections, owed Xero work and the audit log in PostgreSQL."""

import json
from dataclasses import replace
from datetime import datetime
from uuid import UUID

import asyncpg

from shared.contracts import XeroUser

from ..domain.model import Connection, ConnectionStatus, Grant, GrantStatus, JobKind, TokenSet, XeroJob
from .crypto import TokenCipher


class PgGrants:
    """Tokens are sealed per grant and per kind (the context), so a sealed value cannot be moved elsewhere."""

    def __init__(self, conn: asyncpg.Connection, cipher: TokenCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    async def get(self, grant_id: str, *, lock: bool = False) -> Grant | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM grants WHERE grant_id = $1" + (" FOR UPDATE" if lock else ""), grant_id)
        return self._grant(row) if row else None

    async def of_user(self, xero_sub: str) -> Grant | None:
        row = await self._conn.fetchrow("SELECT * FROM grants WHERE xero_sub = $1 FOR UPDATE", xero_sub)
        return self._grant(row) if row else None

    async def save(self, grant: Grant, now: datetime, reason: str | None = None) -> Grant:
        """Insert or replace the token set; the version moves on so stale readers notice."""
        gid, tokens = grant.grant_id, grant.tokens
        sealed = ((self._cipher.seal(tokens.access_token, f"grant:{gid}:access"),
                   self._cipher.seal(tokens.refresh_token, f"grant:{gid}:refresh"), tokens.expires_at,
                   list(tokens.scopes)) if tokens else (None, None, None, []))
        version = await self._conn.fetchval(
            "INSERT INTO grants (grant_id, xero_sub, access_token, refresh_token, access_expires_at, scopes,"
            " refreshed_at, status, status_reason, created_at, updated_at, xero_user)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11::jsonb) ON CONFLICT (grant_id) DO UPDATE SET"
            " access_token = $3, refresh_token = $4, access_expires_at = $5, scopes = $6, refreshed_at = $7,"
            " status = $8, status_reason = $9, updated_at = $10, version = grants.version + 1,"
            " xero_user = coalesce($11::jsonb, grants.xero_user) RETURNING version", gid, grant.xero_sub, *sealed,
            grant.refreshed_at, grant.status.value, reason, now,
            grant.xero_user.model_dump_json() if grant.xero_user else None)
        return replace(grant, version=version)

    async def due_for_keepalive(self, refreshed_before: datetime) -> list[str]:
        return [r["grant_id"] for r in await self._conn.fetch(
            "SELECT grant_id FROM grants WHERE status = 'active' AND refreshed_at < $1", refreshed_before)]

    async def in_use(self) -> list[str]:
        return [r["grant_id"] for r in await self._conn.fetch(
            "SELECT DISTINCT grant_id FROM connections WHERE status = 'active'")]

    async def sealed_under_old_keys(self) -> list[str]:
        prefix = f"v1.{self._cipher.active_key_id}.%"
        return [r["grant_id"] for r in await self._conn.fetch(
            "SELECT grant_id FROM grants WHERE refresh_token IS NOT NULL AND (refresh_token NOT LIKE $1"
            " OR access_token NOT LIKE $1)", prefix)]

    def _grant(self, row: asyncpg.Record) -> Grant:
        tokens = None
        if row["refresh_token"] is not None:
            gid = row["grant_id"]
            tokens = TokenSet(self._cipher.open(row["access_token"], f"grant:{gid}:access"),
                              self._cipher.open(row["refresh_token"], f"grant:{gid}:refresh"),
                              row["access_expires_at"], tuple(row["scopes"]))
        user = XeroUser.model_validate_json(row["xero_user"]) if row["xero_user"] else None
        return Grant(row["grant_id"], row["xero_sub"], row["version"], GrantStatus(row["status"]), tokens,
                     row["refreshed_at"], user)


class PgConnections:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def save(self, connection: Connection, now: datetime, reason: str | None = None) -> None:
        c = connection
        await self._conn.execute(
            "INSERT INTO connections (merchant_id, tenant_id, organisation_name, connection_id, grant_id,"
            " subscription_class, status, reason, updated_at, scopes, incident_id, broken_since)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"
            " ON CONFLICT (merchant_id, tenant_id) DO UPDATE SET organisation_name = $3, connection_id = $4,"
            " grant_id = $5, subscription_class = $6, status = $7, reason = $8, updated_at = $9, scopes = $10,"
            " incident_id = $11, broken_since = $12",
            c.merchant_id, c.tenant_id, c.organisation_name, c.connection_id, c.grant_id, c.subscription_class,
            c.status.value, reason, now, list(c.scopes), c.incident_id, c.broken_since)

    async def get(self, merchant_id: str, tenant_id: UUID, *, lock: bool = False) -> Connection | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM connections WHERE merchant_id = $1 AND tenant_id = $2"
            + (" FOR UPDATE" if lock else ""), merchant_id, tenant_id)
        return _connection(row) if row else None

    async def active_of_grant(self, grant_id: str) -> list[Connection]:
        rows = await self._conn.fetch(
            "SELECT * FROM connections WHERE grant_id = $1 AND status = 'active' FOR UPDATE", grant_id)
        return [_connection(r) for r in rows]

    async def of_merchant(self, merchant_id: str) -> list[Connection]:
        rows = await self._conn.fetch("SELECT * FROM connections WHERE merchant_id = $1", merchant_id)
        return [_connection(r) for r in rows]

    async def in_use(self, connection_id: UUID) -> bool:
        return await self._conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM connections WHERE connection_id = $1 AND status = 'active')",
            connection_id)

    async def due_for_class_check(self, checked_before: datetime, limit: int = 100) -> list[Connection]:
        rows = await self._conn.fetch(
            "SELECT * FROM connections WHERE status = 'active' AND (class_checked_at IS NULL OR class_checked_at < $1)"
            " ORDER BY class_checked_at NULLS FIRST LIMIT $2", checked_before, limit)
        return [_connection(r) for r in rows]

    async def class_checked(self, merchant_id: str, tenant_id: UUID, now: datetime) -> None:
        await self._conn.execute("UPDATE connections SET class_checked_at = $3 WHERE merchant_id = $1 AND"
                                 " tenant_id = $2", merchant_id, tenant_id, now)


class PgJobs:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, kind: JobKind, grant_id: str, merchant_id: str, actor: str, now: datetime,
                  tenant_id: UUID | None = None, connection_id: UUID | None = None) -> int:
        return await self._conn.fetchval(
            "INSERT INTO xero_jobs (kind, grant_id, merchant_id, tenant_id, connection_id, actor,"
            " next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING job_id",
            kind.value, grant_id, merchant_id, tenant_id, connection_id, actor, now)

    async def take(self, job_id: int, now: datetime) -> XeroJob | None:
        """Lock one due job; SKIP LOCKED so two instances never run the same job at once."""
        row = await self._conn.fetchrow(
            "SELECT * FROM xero_jobs WHERE job_id = $1 AND done_at IS NULL AND next_attempt_at <= $2"
            " FOR UPDATE SKIP LOCKED", job_id, now)
        return None if row is None else XeroJob(
            row["job_id"], JobKind(row["kind"]), row["grant_id"], row["merchant_id"], row["actor"], row["attempts"],
            row["tenant_id"], row["connection_id"])

    async def due(self, now: datetime) -> list[int]:
        return [r["job_id"] for r in await self._conn.fetch(
            "SELECT job_id FROM xero_jobs WHERE done_at IS NULL AND next_attempt_at <= $1 ORDER BY job_id"
            " LIMIT 100", now)]

    async def finish(self, job_id: int, now: datetime, error: str | None, retry_at: datetime | None) -> None:
        await self._conn.execute(
            "UPDATE xero_jobs SET attempts = attempts + 1, last_error = $2,"
            " done_at = CASE WHEN $3::timestamptz IS NULL THEN $4::timestamptz END,"
            " next_attempt_at = coalesce($3::timestamptz, $4::timestamptz)"
            " WHERE job_id = $1", job_id, error, retry_at, now)


class PgAuditLog:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def record(self, now: datetime, actor: str, action: str, merchant_id: str | None = None,
                     tenant_id: UUID | None = None, **detail: object) -> None:
        await self._conn.execute(
            "INSERT INTO audit_log (at, merchant_id, actor, action, tenant_id, detail) VALUES ($1,$2,$3,$4,$5,"
            " $6::jsonb)", now, merchant_id, actor, action, tenant_id, json.dumps(detail, default=str))


def _connection(row: asyncpg.Record) -> Connection:
    return Connection(row["merchant_id"], row["tenant_id"], row["organisation_name"], row["connection_id"],
                      row["grant_id"], row["subscription_class"], ConnectionStatus(row["status"]), tuple(row["scopes"]),
                      row["incident_id"], row["broken_since"])
