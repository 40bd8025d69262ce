"""Staff sign-ins, sessions and the audit in the registry's PostgreSQL (each call one statement)."""

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import asyncpg

from ..domain.staff import Role, StaffMember, StaffSession
from ..ports import AuditEntry, PendingSignIn

_SESSION = ("session_id, subject, issuer, actor, name, email, role, started_at, last_seen_at, expires_at")
_AUDIT = "at, actor, subject, role, action, outcome, session_id, merchant_id, target"


class PgStaffStore:
    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def begin_sign_in(self, state_hash: bytes, pending: PendingSignIn) -> None:
        await self._pool().execute(
            "WITH gone AS (DELETE FROM staff_sign_ins WHERE started_at < $4::timestamptz - interval '1 day')"  # leftovers
            " INSERT INTO staff_sign_ins (state_hash, nonce, code_verifier, started_at) VALUES ($1, $2, $3, $4)",
            state_hash, pending.nonce, pending.code_verifier, pending.started_at)

    async def take_sign_in(self, state_hash: bytes, started_after: datetime) -> PendingSignIn | None:
        row = await self._pool().fetchrow(
            "DELETE FROM staff_sign_ins WHERE state_hash = $1 RETURNING nonce, code_verifier, started_at", state_hash)
        if row is None or row["started_at"] < started_after:
            return None
        return PendingSignIn(row["nonce"], row["code_verifier"], row["started_at"])

    async def open_session(self, session: StaffSession, token_hash: bytes) -> None:
        m = session.member
        await self._pool().execute(
            f"INSERT INTO staff_sessions (token_hash, {_SESSION}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
            " $11)", token_hash, session.session_id, m.subject, m.issuer, m.actor, m.name, m.email, m.role.value,
            session.started_at, session.last_seen_at, session.expires_at)

    async def session(self, token_hash: bytes, now: datetime, idle_since: datetime) -> StaffSession | None:
        row = await self._pool().fetchrow(
            f"UPDATE staff_sessions SET last_seen_at = $2 WHERE token_hash = $1 AND ended_at IS NULL"
            f" AND expires_at > $2 AND last_seen_at >= $3 RETURNING {_SESSION}", token_hash, now, idle_since)
        return _session(row) if row else None

    async def end_session(self, session_id: UUID, at: datetime, by: str, reason: str) -> bool:
        ended = await self._pool().fetchval(
            "UPDATE staff_sessions SET ended_at = $2, ended_by = $3, end_reason = $4"
            " WHERE session_id = $1 AND ended_at IS NULL RETURNING true", session_id, at, by, reason)
        return ended is True

    async def open_sessions(self, now: datetime, idle_since: datetime, limit: int) -> list[StaffSession]:
        rows = await self._pool().fetch(
            f"SELECT {_SESSION} FROM staff_sessions WHERE ended_at IS NULL AND expires_at > $1"
            " AND last_seen_at >= $2 ORDER BY last_seen_at DESC LIMIT $3", now, idle_since, limit)
        return [_session(r) for r in rows]

    async def audit(self, entry: AuditEntry) -> None:
        await self._pool().execute(
            f"INSERT INTO staff_audit ({_AUDIT}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", entry.at, entry.actor,
            entry.subject, entry.role, entry.action, entry.outcome, entry.session_id, entry.merchant_id, entry.target)

    async def recent_audit(self, limit: int, merchant_id: str | None = None) -> list[AuditEntry]:
        if merchant_id is None:
            rows = await self._pool().fetch(f"SELECT {_AUDIT} FROM staff_audit ORDER BY at DESC, audit_id DESC"
                                            " LIMIT $1", limit)
        else:
            rows = await self._pool().fetch(f"SELECT {_AUDIT} FROM staff_audit WHERE merchant_id = $2"
                                            " ORDER BY at DESC, audit_id DESC LIMIT $1", limit, merchant_id)
        return [AuditEntry(**dict(r)) for r in rows]


def _session(r: asyncpg.Record) -> StaffSession:
    member = StaffMember(r["issuer"], r["subject"], r["actor"], r["name"], r["email"], Role(r["role"]))
    return StaffSession(r["session_id"], member, r["started_at"], r["last_seen_at"], r["expires_at"])
