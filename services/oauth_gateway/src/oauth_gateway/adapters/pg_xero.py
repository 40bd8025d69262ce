"""Grants (sealed token sets), connections, owed Xero work and the audit log in PostgreSQL."""

import json
from dataclasses import replace
from datetime import datetime
from uuid import UUID

import asyncpg

from shared.contracts import XeroUser

from ..domain.model import (
    MAY_HAVE_REMOVED,
    Connection,
    ConnectionStatus,
    Grant,
    GrantStatus,
    JobKind,
    TokenSet,
    XeroJob,
)
from ..domain.upkeep import DueGrant, Schedule
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
            " xero_user = coalesce($11::jsonb, grants.xero_user), refresh_lease_until = NULL,"
            " upkeep_failures = CASE WHEN $3::text IS NULL THEN grants.upkeep_failures ELSE 0 END"
            " RETURNING version", gid, grant.xero_sub, *sealed,
            grant.refreshed_at, grant.status.value, reason, now,
            grant.xero_user.model_dump_json() if grant.xero_user else None)
        return replace(grant, version=version)

    async def lease_refresh(self, grant_id: str, version: int, now: datetime, until: datetime) -> bool:
        """Take the right to refresh this version of the grant, unless another instance holds it; the token
        call then runs with no transaction open (the row is never locked across it)."""
        return await self._conn.fetchval(
            "UPDATE grants SET refresh_lease_until = $4 WHERE grant_id = $1 AND version = $2 AND status = 'active'"
            " AND (refresh_lease_until IS NULL OR refresh_lease_until < $3) RETURNING true",
            grant_id, version, now, until) or False

    async def refresh_failed(self, grant_id: str, retry_at: datetime) -> None:
        """No usable answer: give the lease back and have upkeep retry by `retry_at` (inside Xero's grace)."""
        await self._conn.execute(
            "UPDATE grants SET refresh_lease_until = NULL, upkeep_failures = upkeep_failures + 1,"
            " next_keepalive_at = least(next_keepalive_at, $2) WHERE grant_id = $1", grant_id, retry_at)

    async def claim_upkeep(self, now: datetime, limit: int, lease_until: datetime) -> list[DueGrant]:
        """Due grants, oldest first, for this instance alone until `lease_until` (SKIP LOCKED: instances never
        wait for each other; a crashed instance's grants come back when the lease ends)."""
        rows = await self._conn.fetch(
            "WITH due AS (SELECT grant_id FROM grants WHERE status = 'active'"
            " AND least(next_keepalive_at, next_check_at) <= $1"
            " AND (upkeep_lease_until IS NULL OR upkeep_lease_until < $1)"
            " ORDER BY least(next_keepalive_at, next_check_at) LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " UPDATE grants g SET upkeep_lease_until = $3 FROM due WHERE g.grant_id = due.grant_id"
            " RETURNING g.grant_id, g.refreshed_at, g.next_keepalive_at <= $1 AS keepalive_due,"
            " g.next_check_at <= $1 AS check_due, g.upkeep_failures", now, limit, lease_until)
        return [DueGrant(r["grant_id"], r["refreshed_at"], r["keepalive_due"], r["check_due"], r["upkeep_failures"])
                for r in rows]

    async def schedule_upkeep(self, grant_id: str, schedule: Schedule) -> None:
        await self._conn.execute(
            "UPDATE grants SET next_keepalive_at = $2, next_check_at = coalesce($3, next_check_at),"
            " upkeep_failures = $4, upkeep_lease_until = NULL WHERE grant_id = $1", grant_id,
            schedule.next_keepalive_at, schedule.next_check_at, schedule.failures)

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

    async def class_check_due(self, grant_id: str, checked_before: datetime) -> list[Connection]:
        """The grant's active connections whose subscription `Class` was last read before `checked_before`."""
        rows = await self._conn.fetch(
            "SELECT * FROM connections WHERE grant_id = $1 AND status = 'active'"
            " AND (class_checked_at IS NULL OR class_checked_at < $2)", grant_id, checked_before)
        return [_connection(r) for r in rows]

    async def class_checked(self, merchant_id: str, tenant_id: UUID, now: datetime) -> None:
        await self._conn.execute("UPDATE connections SET class_checked_at = $3 WHERE merchant_id = $1 AND"
                                 " tenant_id = $2", merchant_id, tenant_id, now)

    async def wanted(self, connection_id: UUID, live_since: datetime, except_flow: UUID | None = None) -> bool:
        """Consents awaiting a selection: authorised since the cut-off and not yet confirmed or abandoned."""
        return await self._conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM connections WHERE connection_id = $1 AND status = 'active')"
            " OR EXISTS (SELECT 1 FROM oauth_flows WHERE status = 'authorised' AND authorised_at >= $2"
            " AND organisations @> $3::jsonb AND flow_id IS DISTINCT FROM $4)", connection_id, live_since,
            json.dumps([{"connection_id": str(connection_id)}]), except_flow)

    async def grant_wanted(self, grant_id: str, live_since: datetime) -> bool:
        return await self._conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM connections WHERE grant_id = $1 AND status = 'active')"
            " OR EXISTS (SELECT 1 FROM oauth_flows WHERE status = 'authorised' AND grant_id = $1"
            " AND authorised_at >= $2)", grant_id, live_since)


# An attempt that died without a record (outcome NULL once its lease ended) may have acted at Xero until then:
# folded into acted_until before the job is claimed again or superseded (which overwrite the outcome).
_FOLD_UNRECORDED = ("acted_until = CASE WHEN j.outcome IS NULL AND j.locked_until IS NOT NULL"
                    " THEN greatest(j.acted_until, j.locked_until) ELSE j.acted_until END")
_REMOVES = "((j.kind = 'delete_connection' AND j.connection_id = $2) OR (j.kind = 'revoke_grant' AND j.grant_id = $3))"


class PgJobs:
    """xero_jobs as a lease-based queue (migration 0006): the attempt number is the lease."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, kind: JobKind, grant_id: str, merchant_id: str, actor: str, now: datetime,
                  tenant_id: UUID | None = None, connection_id: UUID | None = None,
                  flow_id: UUID | None = None) -> int:
        return await self._conn.fetchval(
            "INSERT INTO xero_jobs (kind, grant_id, merchant_id, tenant_id, connection_id, actor, flow_id,"
            " next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING job_id",
            kind.value, grant_id, merchant_id, tenant_id, connection_id, actor, flow_id, now)

    async def claim(self, now: datetime, lease_until: datetime, limit: int, job_id: int | None = None
                    ) -> list[XeroJob]:
        """SKIP LOCKED: instances never wait for each other nor take the same job; a leased job is not due again
        before its lease ends."""
        only = "" if job_id is None else " AND job_id = $4"
        rows = await self._conn.fetch(
            "WITH due AS (SELECT job_id FROM xero_jobs WHERE done_at IS NULL AND next_attempt_at <= $1" + only +
            " ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)"
            " UPDATE xero_jobs j SET attempts = j.attempts + 1, locked_until = $2, next_attempt_at = $2,"
            " outcome = NULL, " + _FOLD_UNRECORDED + " FROM due WHERE j.job_id = due.job_id RETURNING j.*",
            now, lease_until, limit, *(() if job_id is None else (job_id,)))
        return [_job(r) for r in rows]

    async def finish(self, job: XeroJob, now: datetime, outcome: str, retry_at: datetime | None = None,
                     error: str | None = None) -> bool:
        status = await self._conn.execute(
            "UPDATE xero_jobs SET locked_until = $3, outcome = $4, last_error = $5,"
            " acted_until = CASE WHEN $7 THEN $3 ELSE acted_until END,"
            " done_at = CASE WHEN $6::timestamptz IS NULL THEN $3 END, next_attempt_at = coalesce($6, $3)"
            " WHERE job_id = $1 AND attempts = $2 AND done_at IS NULL", job.job_id, job.attempts, now, outcome,
            error, retry_at, outcome in MAY_HAVE_REMOVED)
        return status == "UPDATE 1"

    async def supersede(self, now: datetime, *, connection_id: UUID | None = None,
                        grant_id: str | None = None) -> list[XeroJob]:
        rows = await self._conn.fetch(
            "UPDATE xero_jobs j SET done_at = $1, outcome = 'superseded', " + _FOLD_UNRECORDED +
            " WHERE j.done_at IS NULL AND (j.locked_until IS NULL OR j.locked_until <= $1) AND " + _REMOVES +
            " RETURNING j.*", now, connection_id, grant_id)
        return [_job(r) for r in rows]

    async def removing(self, connection_id: UUID, grant_id: str, since: datetime) -> XeroJob | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM xero_jobs j WHERE (j.acted_until >= $1 OR (j.outcome IS NULL AND j.locked_until >= $1))"
            " AND " + _REMOVES + " ORDER BY j.job_id DESC LIMIT 1", since, connection_id, grant_id)
        return None if row is None else _job(row)


def _job(row: asyncpg.Record) -> XeroJob:
    return XeroJob(row["job_id"], JobKind(row["kind"]), row["grant_id"], row["merchant_id"], row["actor"],
                   row["attempts"], row["tenant_id"], row["connection_id"], row["flow_id"])


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
