"""Background upkeep, safe on every instance at once. Hourly: keep idle grants alive, retry owed Xero work,
re-seal tokens under the active key, forget stale sessions and flows. On the (short) health interval: notice
organisations removed inside Xero (Xero sends no webhook for that) and re-read each organisation's
subscription once a day (a downgrade below Standard breaks the connection)."""

import logging
from datetime import timedelta

from shared.contracts import BreakReason

from ..domain import events
from ..domain.model import Connection, ConnectionStatus
from ..domain.subscription import gate
from ..ports import Clock, HousekeepingWork, TenantForbidden, UnitOfWork, XeroApi, XeroUnavailable, XeroWork
from .breaks import Breaks
from .jobs import XeroJobs
from .tokens import GrantBroken, Tokens

log = logging.getLogger(__name__)
FLOW_RETENTION = timedelta(days=30)
CLASS_CHECK_EVERY = timedelta(days=1)


class Upkeep:
    def __init__(self, unit_of_work: UnitOfWork[XeroWork], housekeeping: UnitOfWork[HousekeepingWork],
                 clock: Clock, tokens: Tokens, jobs: XeroJobs, api: XeroApi, breaks: Breaks, *,
                 refresh_after: timedelta, session_idle: timedelta) -> None:
        self._unit_of_work = unit_of_work
        self._housekeeping = housekeeping
        self._clock = clock
        self._tokens = tokens
        self._jobs = jobs
        self._api = api
        self._breaks = breaks
        self._refresh_after = refresh_after
        self._session_idle = session_idle

    async def run_once(self) -> None:
        for step in (self.keep_alive, self._jobs.run_due, self.rewrap, self.purge):
            try:
                await step()
            except Exception:  # noqa: BLE001 - one failing step must not stop the others
                log.exception("upkeep step %s failed", step.__name__)

    async def check_health(self) -> None:
        """The periodic half of break detection (the other half is every Xero call's own answer)."""
        for step in (self.check_connections, self.check_subscriptions):
            try:
                await step()
            except Exception:  # noqa: BLE001 - one failing step must not stop the other
                log.exception("health step %s failed", step.__name__)

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
                        await self._breaks.mark(tx, connection, BreakReason.REMOVED_IN_XERO, self._clock(),
                                                events.XERO_ACTOR)
                        removed += 1
        return removed

    async def check_subscriptions(self) -> int:
        """Re-read `Class` of organisations not checked for a day; Starter or Trial now breaks the connection."""
        async with self._unit_of_work() as tx:
            due = await tx.connections.due_for_class_check(self._clock() - CLASS_CHECK_EVERY)
        downgraded = 0
        for connection in due:
            try:
                info = await self._tokens.with_token(
                    connection.grant_id, lambda token, c=connection: self._api.organisation(token, c.tenant_id))
            except (GrantBroken, XeroUnavailable, TenantForbidden) as error:
                log.info("subscription check of %s skipped: %s", connection.tenant_id, type(error).__name__)
                continue
            decision = gate(info.subscription_class, is_demo_company=info.is_demo_company, name=info.name)
            downgraded += await self._record_class(connection, decision.accepted)
        return downgraded

    async def _record_class(self, connection: Connection, accepted: bool) -> int:
        async with self._unit_of_work() as tx:
            await tx.connections.class_checked(connection.merchant_id, connection.tenant_id, self._clock())
            if accepted:
                return 0
            current = await tx.connections.get(connection.merchant_id, connection.tenant_id, lock=True)
            if current is None or current.status is not ConnectionStatus.ACTIVE:
                return 0
            await self._breaks.mark(tx, current, BreakReason.SUBSCRIPTION_DOWNGRADED, self._clock(),
                                    events.SYSTEM_ACTOR)
            return 1

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
