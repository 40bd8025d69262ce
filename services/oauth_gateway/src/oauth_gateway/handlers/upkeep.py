"""Background upkeep, safe on every instance at once: keep idle grants alive, notice organisations removed
inside Xero (Xero sends no webhook for that), retry owed Xero work, re-seal tokens under the active key,
and forget stale sessions and flows."""

import logging
from datetime import timedelta

from ..domain.model import ConnectionStatus
from ..ports import TenantForbidden, XeroUnavailable
from .common import Deps
from .disconnect import DisconnectHandlers, mark_removed
from .tokens import GrantBroken, TokenService

log = logging.getLogger(__name__)


class Upkeep:
    def __init__(self, deps: Deps, tokens: TokenService, disconnects: DisconnectHandlers,
                 refresh_after: timedelta) -> None:
        self._deps = deps
        self._tokens = tokens
        self._disconnects = disconnects
        self._refresh_after = refresh_after

    async def run_once(self) -> None:
        for step in (self.keep_alive, self.check_connections, self._disconnects.run_due, self.rewrap, self.purge):
            try:
                await step()
            except Exception:  # noqa: BLE001 - one failing step must not stop the others
                log.exception("upkeep step %s failed", step.__name__)

    async def keep_alive(self) -> int:
        """Refresh every active grant not refreshed for `refresh_after` (Xero expires them after 60 idle days)."""
        async with self._deps.unit_of_work() as tx:
            due = await tx.grants_due(self._deps.clock() - self._refresh_after)
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
        async with self._deps.unit_of_work() as tx:
            grants = await tx.grants_in_use()
        removed = 0
        for grant_id in grants:
            try:
                live = await self._tokens.with_token(grant_id, self._deps.api.connections)
            except (GrantBroken, XeroUnavailable, TenantForbidden) as error:
                log.warning("connection check of grant %s skipped: %s", grant_id, type(error).__name__)
                continue
            tenants = {c.tenant_id for c in live}
            async with self._deps.unit_of_work() as tx:
                for connection in await tx.connections_of_grant(grant_id):
                    if connection.status is ConnectionStatus.ACTIVE and connection.tenant_id not in tenants:
                        await mark_removed(tx, connection, self._deps.clock())
                        removed += 1
        return removed

    async def rewrap(self) -> int:
        """Tokens sealed under a retired key are re-sealed under the active one (key rotation)."""
        async with self._deps.unit_of_work() as tx:
            stale = await tx.grants_to_rewrap()
        for grant_id in stale:
            async with self._deps.unit_of_work() as tx:
                grant = await tx.grant(grant_id, lock=True)
                if grant is not None and grant.tokens is not None:
                    await tx.save_grant(grant, self._deps.clock())
        return len(stale)

    async def purge(self) -> None:
        now = self._deps.clock()
        async with self._deps.unit_of_work() as tx:
            await tx.purge(now - self._deps.session_idle, now - timedelta(days=30))
