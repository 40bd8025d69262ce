"""Background upkeep, safe on every instance at once: keep idle grants alive, notice organisations removed
inside Xero (Xero sends no webhook for that), retry owed Xero work, re-seal tokens under the active key,
and forget stale sessions and flows."""

import logging
from datetime import timedelta

from ..domain.model import ConnectionStatus
from ..ports import Clock, HousekeepingWork, TenantForbidden, UnitOfWork, XeroApi, XeroUnavailable, XeroWork
from .jobs import XeroJobs
from .removals import mark_removed
from .tokens import GrantBroken, Tokens

log = logging.getLogger(__name__)
FLOW_RETENTION = timedelta(days=30)


class Upkeep:
    def __init__(self, unit_of_work: UnitOfWork[XeroWork], housekeeping: UnitOfWork[HousekeepingWork],
                 clock: Clock, tokens: Tokens, jobs: XeroJobs, api: XeroApi, *, refresh_after: timedelta,
                 session_idle: timedelta) -> None:
        self._unit_of_work = unit_of_work
        self._housekeeping = housekeeping
        self._clock = clock
        self._tokens = tokens
        self._jobs = jobs
        self._api = api
        self._refresh_after = refresh_after
        self._session_idle = session_idle

    async def run_once(self) -> None:
        for step in (self.keep_alive, self.check_connections, self._jobs.run_due, self.rewrap, self.purge):
            try:
                await step()
            except Exception:  # noqa: BLE001 - one failing step must not stop the others
                log.exception("upkeep step %s failed", step.__name__)

    async def keep_alive(self) -> int:
        """Refresh every active grant not refreshed for `refresh_after` (Xero expires them after 60 idle days)."""
        async with self._unit_of_work() as tx:
            due = await tx.grants.due_for_keepalive(self._clock() - self._refresh_after)
        refreshed = 0
        for grant_id in due:
            try:
                await self._tokens.access_token(grant_id, force=True)
                refreshed += 1
            except (GrantBroken, XeroUnavailable) as error:
                log.warning("keep-alive of grant %s failed: %s", grant_id, type(error).__name__)
        return refreshed

    async def check_connections(self) -> int:
        """Compare each grant's live /connections with the organisations we believe it serves."""
        async with self._unit_of_work() as tx:
            grants = await tx.grants.in_use()
        removed = 0
        for grant_id in grants:
            try:
                live = await self._tokens.with_token(grant_id, self._api.connections)
            except (GrantBroken, XeroUnavailable, TenantForbidden) as error:
                log.warning("connection check of grant %s skipped: %s", grant_id, type(error).__name__)
                continue
            tenants = {c.tenant_id for c in live}
            async with self._unit_of_work() as tx:
                for connection in await tx.connections.active_of_grant(grant_id):
                    if connection.status is ConnectionStatus.ACTIVE and connection.tenant_id not in tenants:
                        await mark_removed(tx, connection, self._clock())
                        removed += 1
        return removed

    async def rewrap(self) -> int:
        """Tokens sealed under a retired key are re-sealed under the active one (key rotation)."""
        async with self._unit_of_work() as tx:
            stale = await tx.grants.sealed_under_old_keys()
        for grant_id in stale:
            async with self._unit_of_work() as tx:
                grant = await tx.grants.get(grant_id, lock=True)
                if grant is not None and grant.tokens is not None:
                    await tx.grants.save(grant, self._clock())
        return len(stale)

    async def purge(self) -> None:
        now = self._clock()
        async with self._housekeeping() as tx:
            await tx.sessions.purge(now - self._session_idle)
            await tx.flows.purge(now - FLOW_RETENTION)
