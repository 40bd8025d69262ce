"""The gateway's rows about a merchant, for erasure (docs/erasure.md): what it holds at Xero, then every row.

Web sessions (the Cloud POS user, names, stores), flows and consents (the user, store names, organisations),
connections and store links (organisation and store names, who authorised), grants only this merchant used (the
Xero user's id, name and email, the sealed tokens), owed Xero jobs and pending completions (user ids) are deleted;
the audit log keeps what was done and when, without who (a user id) or the details (names, addresses). A grant
another merchant also uses stays: it is that merchant's too.
"""

from collections.abc import Callable

import asyncpg

from shared.contracts import CloudEvent
from shared.erasure import Erased, PgErasure, anonymise, delete

from ..ports import XeroFootprint

_MINE = ("SELECT grant_id FROM connections WHERE merchant_id = $1"
         " UNION SELECT grant_id FROM oauth_flows WHERE merchant_id = $1 AND grant_id IS NOT NULL")
_NOBODY_ELSE = ("NOT EXISTS (SELECT FROM connections o WHERE o.grant_id = g.grant_id AND o.merchant_id <> $1)"
                " AND NOT EXISTS (SELECT FROM oauth_flows f WHERE f.grant_id = g.grant_id AND f.merchant_id <> $1)")
STATEMENTS = (
    delete("store_links"),
    # the merchant's connections and, in the same statement (their foreign key), the grants nobody else uses
    f"WITH mine AS ({_MINE}), conns AS (DELETE FROM connections WHERE merchant_id = $1 RETURNING 1),"
    f" grants AS (DELETE FROM grants g WHERE g.grant_id IN (SELECT grant_id FROM mine) AND {_NOBODY_ELSE}"
    " RETURNING 1) SELECT (SELECT count(*) FROM conns) AS connections, (SELECT count(*) FROM grants) AS grants",
    delete("oauth_flows", name="flows"),
    delete("web_sessions", name="sessions"),
    delete("pending_completions"),
    delete("xero_jobs"),
    anonymise("audit_log", "actor = 'erased', detail = '{}'::jsonb", "audit_rows"),
)


class PgMerchantRows:
    def __init__(self, pool: Callable[[], asyncpg.Pool], consumer: str = "oauth_gateway") -> None:
        self._pool = pool
        self._erasure = PgErasure(consumer, pool, STATEMENTS)

    async def erased(self, merchant_id: str) -> bool:
        return await self._erasure.erased(merchant_id)

    async def xero_footprint(self, merchant_id: str) -> XeroFootprint:
        async with self._pool().acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            connections = await conn.fetch("SELECT grant_id, connection_id FROM connections"
                                           " WHERE merchant_id = $1 AND status = 'active' ORDER BY tenant_id",
                                           merchant_id)
            grants = await conn.fetch(f"SELECT g.grant_id FROM grants g WHERE g.status = 'active'"
                                      f" AND g.grant_id IN ({_MINE}) AND {_NOBODY_ELSE} ORDER BY g.grant_id",
                                      merchant_id)
        return XeroFootprint(tuple((r["grant_id"], r["connection_id"]) for r in connections),
                             tuple(r["grant_id"] for r in grants))

    async def erase(self, event: CloudEvent) -> Erased | None:
        return await self._erasure.erase(event)
