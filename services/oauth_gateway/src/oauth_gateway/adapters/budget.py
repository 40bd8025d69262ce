"""Xero's per-tenant limits (60 calls a minute, 5 in flight), shared by every instance through PostgreSQL.

Built on `shared.ratelimit`: the minute bucket keeps its hit; the in-flight bucket's hit is given back
when the call ends (and expires on its own after `lease`, should an instance die mid-call). A 429 from
Xero records `Retry-After` so every instance waits it out for that tenant.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from uuid import UUID

import asyncpg

from shared.ratelimit import Claim, Limit, Reservation, release, reserve

from ..ports import XeroUnavailable

PER_MINUTE = Limit(60, timedelta(minutes=1))
IN_FLIGHT = Limit(5, timedelta(seconds=60))


class TenantBudget:
    def __init__(self, pool: Callable[[], asyncpg.Pool], *, max_wait: float = 10.0) -> None:
        self._pool = pool
        self._max_wait = max_wait

    @asynccontextmanager
    async def slot(self, tenant_id: UUID) -> AsyncIterator[None]:
        """Wait (up to `max_wait`) for room in the tenant's budget, then hold one in-flight slot."""
        waited = 0.0
        while True:
            reservation, wait = await self._try(tenant_id)
            if reservation is not None:
                break
            if waited + wait > self._max_wait:
                raise XeroUnavailable("tenant budget exhausted", retry_after=max(1, round(wait)))
            await asyncio.sleep(wait)
            waited += wait
        try:
            yield
        finally:
            async with self._pool().acquire() as conn, conn.transaction():
                await release(conn, reservation)

    async def back_off(self, tenant_id: UUID, seconds: int) -> None:
        await self._pool().execute(
            "INSERT INTO xero_tenant_blocks (tenant_id, until) VALUES ($1, clock_timestamp() + make_interval("
            "secs => $2)) ON CONFLICT (tenant_id) DO UPDATE SET until = greatest(xero_tenant_blocks.until,"
            " excluded.until)", tenant_id, float(seconds))

    async def _try(self, tenant_id: UUID) -> tuple[Reservation | None, float]:
        """The in-flight slot first (short polls), then the minute budget (wait what the window says)."""
        async with self._pool().acquire() as conn, conn.transaction():
            now, blocked = await conn.fetchval("SELECT clock_timestamp()"), await conn.fetchval(
                "SELECT until FROM xero_tenant_blocks WHERE tenant_id = $1", tenant_id)
            if blocked and blocked > now:
                return None, (blocked - now).total_seconds()
            in_flight = await reserve(conn, now, Claim(f"xero-tenant:{tenant_id}:in-flight", IN_FLIGHT))
            if not in_flight.allowed:
                return None, 0.1
            minute = await reserve(conn, now, Claim(f"xero-tenant:{tenant_id}:minute", PER_MINUTE))
            if not minute.allowed:
                await release(conn, in_flight)
                return None, minute.retry_after.total_seconds()
            return in_flight, 0.0
