"""The service's PostgreSQL rows: merchants and their maps (inside an event's transaction), and the ledger
(one short transaction per call, days held with SKIP LOCKED and a lease)."""

from collections.abc import Callable, Sequence
from datetime import datetime
from types import MappingProxyType
from uuid import UUID

import asyncpg

from shared.delivery import Transaction, transaction

from ..domain import ClaimedDay, Decision, DueDay, Link, Merchant, PostableStore, Status

_CLAIM = """
WITH due AS (
    SELECT p.store_id, p.day, p.status AS was
      FROM daily_postings p
      JOIN store_links l ON l.store_id = p.store_id
      JOIN merchants m ON m.merchant_id = l.merchant_id
     WHERE p.status IN ('pending', 'posting', 'reconnect_needed') AND p.next_attempt_at <= $1
       AND m.finalised_at IS NOT NULL
     ORDER BY p.next_attempt_at, p.day, p.store_id
     LIMIT $2
       FOR UPDATE OF p SKIP LOCKED)
UPDATE daily_postings p
   SET status = 'posting', attempts = p.attempts + 1, next_attempt_at = $3, updated_at = $1,
       tenant_id = l.tenant_id, merchant_id = l.merchant_id
  FROM due, store_links l
 WHERE p.store_id = due.store_id AND p.day = due.day AND l.store_id = p.store_id
RETURNING p.merchant_id, p.store_id, l.store_name, p.tenant_id, p.day, p.attempts, p.redrives, due.was"""
_FINISH = """
UPDATE daily_postings
   SET status = $4, next_attempt_at = $5, last_problem = $6, invoice_id = COALESCE($7, invoice_id),
       invoice_number = COALESCE($8, invoice_number), updated_at = $9,
       posted_at = CASE WHEN $4 = 'posted' THEN $9 ELSE posted_at END
 WHERE store_id = $1 AND day = $2 AND attempts = $3 AND status = 'posting'"""
_PLAN = """
INSERT INTO daily_postings (store_id, day, merchant_id, tenant_id, status, next_attempt_at, created_at, updated_at)
SELECT store_id, day, merchant_id, tenant_id, 'pending', $5, $5, $5
  FROM unnest($1::text[], $2::date[], $3::text[], $4::uuid[]) AS d(store_id, day, merchant_id, tenant_id)
ON CONFLICT DO NOTHING
RETURNING 1"""


class PgMerchants:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._conn = connection

    async def lock(self, merchant_id: str) -> Merchant:
        await self._conn.execute("INSERT INTO merchants (merchant_id) VALUES ($1) ON CONFLICT DO NOTHING",
                                 merchant_id)
        row = await self._conn.fetchrow(
            "SELECT merchant_name, finalised_at, finalised_by, links_as_of FROM merchants WHERE merchant_id = $1"
            " FOR UPDATE", merchant_id)
        links = await self._conn.fetch(
            "SELECT store_id, store_name, tenant_id, organisation_name FROM store_links WHERE merchant_id = $1"
            " ORDER BY store_id", merchant_id)
        gone = await self._conn.fetch(
            "SELECT tenant_id, disconnected_at FROM tenant_disconnections WHERE merchant_id = $1", merchant_id)
        return Merchant(merchant_id, row["merchant_name"], row["finalised_at"], row["finalised_by"],
                        tuple(Link(**dict(link)) for link in links), row["links_as_of"],
                        MappingProxyType({g["tenant_id"]: g["disconnected_at"] for g in gone}))

    async def save(self, merchant: Merchant) -> None:
        m = merchant
        await self._conn.execute(
            "UPDATE merchants SET merchant_name = $2, finalised_at = $3, finalised_by = $4, links_as_of = $5"
            " WHERE merchant_id = $1", m.merchant_id, m.name, m.finalised_at, m.finalised_by, m.links_as_of)
        await self._conn.execute("DELETE FROM store_links WHERE merchant_id = $1", m.merchant_id)
        await self._conn.executemany(
            "INSERT INTO store_links (store_id, merchant_id, store_name, tenant_id, organisation_name)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (store_id) DO UPDATE SET merchant_id = EXCLUDED.merchant_id,"
            " store_name = EXCLUDED.store_name, tenant_id = EXCLUDED.tenant_id,"
            " organisation_name = EXCLUDED.organisation_name",
            [(link.store_id, m.merchant_id, link.store_name, link.tenant_id, link.organisation_name)
             for link in m.links])
        await self._conn.executemany(
            "INSERT INTO tenant_disconnections (merchant_id, tenant_id, disconnected_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (merchant_id, tenant_id) DO UPDATE"
            " SET disconnected_at = GREATEST(tenant_disconnections.disconnected_at, EXCLUDED.disconnected_at)",
            [(m.merchant_id, tenant_id, at) for tenant_id, at in m.disconnected.items()])


class PgPostings:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._conn = connection

    async def recheck(self, store_ids: Sequence[str], now: datetime) -> int:
        result = await self._conn.execute(
            "UPDATE daily_postings SET status = 'pending', next_attempt_at = $2, updated_at = $2"
            " WHERE store_id = ANY($1::text[]) AND status = 'reconnect_needed'", list(store_ids), now)
        return int(result.split()[-1])


class PgEventTransaction:
    """What consuming one event may touch, over one transaction that also holds its inbox claim."""

    def __init__(self, tx: Transaction) -> None:
        self.claim = tx.claim
        self.merchants = PgMerchants(tx.connection)
        self.postings = PgPostings(tx.connection)


class PgLedger:
    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def postable_stores(self) -> list[PostableStore]:
        rows = await self._pool().fetch(
            "SELECT l.merchant_id, l.store_id, l.store_name, l.tenant_id, m.finalised_at FROM store_links l"
            " JOIN merchants m USING (merchant_id) WHERE m.finalised_at IS NOT NULL ORDER BY l.store_id")
        return [PostableStore(**dict(row)) for row in rows]

    async def plan(self, days: Sequence[DueDay], now: datetime) -> int:
        rows = await self._pool().fetch(_PLAN, [d.store_id for d in days], [d.day for d in days],
                                        [d.merchant_id for d in days], [d.tenant_id for d in days], now)
        return len(rows)

    async def claim_due(self, now: datetime, limit: int, lease_until: datetime) -> list[ClaimedDay]:
        async with transaction(self._pool()) as tx:
            rows = await tx.connection.fetch(_CLAIM, now, limit, lease_until)
        return [ClaimedDay(r["merchant_id"], r["store_id"], r["store_name"], r["tenant_id"], r["day"], r["attempts"],
                           r["redrives"], resent=r["was"] == Status.POSTING) for r in rows]

    async def finish(self, claimed: ClaimedDay, decision: Decision, now: datetime) -> bool:
        result = await self._pool().execute(
            _FINISH, claimed.store_id, claimed.day, claimed.attempt, decision.status.value,
            decision.next_attempt_at, (decision.problem or "")[:2000] or None, decision.invoice_id,
            decision.invoice_number, now)
        return result == "UPDATE 1"

    async def defer_tenant(self, tenant_id: UUID, until: datetime) -> int:
        result = await self._pool().execute(
            "UPDATE daily_postings SET next_attempt_at = GREATEST(next_attempt_at, $2)"
            " WHERE tenant_id = $1 AND status = 'pending'", tenant_id, until)
        return int(result.split()[-1])
