"""Upkeep of every grant, as a job queue that any number of instances share.

Each grant carries when it is next due for a keep-alive (a token refresh, well inside Xero's 60-day idle expiry)
and for a check (one GET /connections covers all its organisations: one removed inside Xero breaks that
connection, since Xero sends no webhook for it; organisations not re-read for a day also have their `Class`
re-read, and a downgrade below Standard breaks the connection). Instances take due grants in small batches with
FOR UPDATE SKIP LOCKED under a lease, tend a few at a time, and write the next due times back with jitter. No
transaction stays open across a Xero call. A failed refresh (its answer may be lost after Xero rotated the token)
comes back within seconds, inside Xero's 30-minute grace. Checks spend at most a share of the app's budget
(`CallShare`, 20 % by default); keep-alives go to the identity host, which that budget does not cover.
Housekeeping (re-sealing tokens under a new key, forgetting stale sessions and flows) runs hourly.
"""

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from datetime import timedelta

from shared.contracts import BreakReason

from ..domain import events
from ..domain.model import Connection, ConnectionStatus
from ..domain.subscription import gate
from ..domain.upkeep import DueGrant, Tended, UpkeepPlan, next_schedule
from ..metrics import UPKEEP_STEPS
from ..ports import BudgetExhausted, CallShare, Clock, HousekeepingWork, TenantForbidden, UnitOfWork, XeroApi, \
    XeroUnavailable, XeroWork
from .breaks import Breaks
from .tokens import GrantBroken, Tokens

log = logging.getLogger(__name__)
FLOW_RETENTION = timedelta(days=30)
CLASS_CHECK_EVERY = timedelta(days=1)


class Upkeep:
    def __init__(self, unit_of_work: UnitOfWork[XeroWork], housekeeping: UnitOfWork[HousekeepingWork],
                 clock: Clock, tokens: Tokens, api: XeroApi, breaks: Breaks, share: CallShare, plan: UpkeepPlan, *,
                 session_idle: timedelta, batch_size: int = 25, concurrency: int = 8,
                 lease: timedelta = timedelta(minutes=3), share_wait: float = 30.0,
                 spread: Callable[[], float] = random.random) -> None:
        """`lease` covers a batch: `concurrency` at a time, each waiting up to `share_wait` for the budget."""
        self._unit_of_work = unit_of_work
        self._housekeeping = housekeeping
        self._clock = clock
        self._tokens = tokens
        self._api = api
        self._breaks = breaks
        self._share = share
        self._plan = plan
        self._session_idle = session_idle
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._lease = lease
        self._share_wait = share_wait
        self._spread = spread

    async def run(self, poll_seconds: float) -> None:
        """The background loop: `concurrency` workers share batches claimed one at a time, so a slow grant (a
        refresh retried after a lost answer) holds up only its own worker; a short jittered pause when none is due."""
        waiting: deque[DueGrant] = deque()
        claiming = asyncio.Lock()

        async def worker() -> None:
            while True:
                grant = await self._next(waiting, claiming, poll_seconds)
                try:
                    await self._tend_and_reschedule(grant)
                except Exception:  # noqa: BLE001 - the database away for a moment: the lease brings it back
                    log.exception("upkeep of grant %s could not be rescheduled", grant.grant_id)

        await asyncio.gather(*(worker() for _ in range(self._concurrency)))

    async def _next(self, waiting: deque[DueGrant], claiming: asyncio.Lock, poll_seconds: float) -> DueGrant:
        while True:
            if waiting:
                return waiting.popleft()
            async with claiming:                 # one worker claims the next batch for all of them
                if not waiting:
                    waiting.extend(await self._claim())
                if waiting:
                    continue
            await asyncio.sleep(poll_seconds * (0.5 + self._spread()))

    async def _claim(self) -> list[DueGrant]:
        now = self._clock()
        try:
            async with self._unit_of_work() as tx:
                return await tx.grants.claim_upkeep(now, self._batch_size, now + self._lease)
        except Exception:  # noqa: BLE001 - the database away for a moment must not end upkeep
            log.exception("claiming upkeep work failed")
            return []

    async def tend_due(self) -> int:
        """One batch of due grants, `concurrency` at a time; returns how many were taken."""
        now = self._clock()
        async with self._unit_of_work() as tx:
            due = await tx.grants.claim_upkeep(now, self._batch_size, now + self._lease)
        gate_ = asyncio.Semaphore(self._concurrency)      # tests and one-off passes; `run` keeps workers busy

        async def one(grant: DueGrant) -> None:
            async with gate_:
                await self._tend_and_reschedule(grant)

        await asyncio.gather(*(one(grant) for grant in due))
        return len(due)

    async def _tend_and_reschedule(self, due: DueGrant) -> None:
        try:
            tended = await self.tend(due)
        except GrantBroken:             # broken or revoked meanwhile: it leaves the queue (status not active)
            tended = Tended(due.refreshed_at)
        except Exception:  # noqa: BLE001 - one grant's surprise must not stop the batch: retried later
            log.exception("upkeep of grant %s failed", due.grant_id)
            tended = Tended(due.refreshed_at, checked=False if due.check_due else None)
        schedule = next_schedule(self._plan, due, tended, self._clock(), self._spread())
        async with self._unit_of_work() as tx:
            await tx.grants.schedule_upkeep(due.grant_id, schedule)

    async def tend(self, due: DueGrant) -> Tended:
        """Refresh if the keep-alive needs it, then check if due. GrantBroken when the grant is dead."""
        refreshed_at, refreshed = due.refreshed_at, None
        if due.needs_refresh(self._plan, self._clock()):
            try:
                await self._tokens.token_set(due.grant_id, force=True)
                refreshed_at, refreshed = self._clock(), True
            except XeroUnavailable as error:
                log.warning("keep-alive of grant %s failed (attempt %d): %s", due.grant_id, due.failures + 1, error)
                refreshed = False
            UPKEEP_STEPS.labels("keepalive", "ok" if refreshed else "failed").inc()
        if not due.check_due:
            return Tended(refreshed_at, refreshed)
        checked, retry_in = await self._check(due.grant_id)
        return Tended(refreshed_at, refreshed, checked, retry_in)

    async def _check(self, grant_id: str) -> tuple[bool, timedelta | None]:
        """One /connections for the grant: any organisation we serve through it that is gone breaks."""
        try:
            await self._share.turn(max_wait=self._share_wait)
            live = await self._tokens.with_token(grant_id, self._api.connections)
        except BudgetExhausted as spent:
            UPKEEP_STEPS.labels("check", "deferred").inc()
            return False, timedelta(seconds=spent.retry_after or 1)
        except (XeroUnavailable, TenantForbidden) as error:
            UPKEEP_STEPS.labels("check", "failed").inc()
            log.warning("connection check of grant %s failed: %s", grant_id, type(error).__name__)
            return False, timedelta(seconds=getattr(error, "retry_after", None) or 60)
        tenants = {c.tenant_id for c in live}
        now = self._clock()
        async with self._unit_of_work() as tx:
            for connection in await tx.connections.active_of_grant(grant_id):
                if connection.tenant_id not in tenants:
                    await self._breaks.mark(tx, connection, BreakReason.REMOVED_IN_XERO, now, events.XERO_ACTOR)
            stale = [c for c in await tx.connections.class_check_due(grant_id, now - CLASS_CHECK_EVERY)
                     if c.tenant_id in tenants]
        UPKEEP_STEPS.labels("check", "ok").inc()
        for connection in stale:
            await self._check_subscription(connection)
        return True, None

    async def _check_subscription(self, connection: Connection) -> None:
        """Re-read `Class` once a day; Starter or Trial now breaks the connection. Skipped (retried on a later
        check) when Xero or the budget says not now."""
        try:
            await self._share.turn(max_wait=self._share_wait)
            info = await self._tokens.with_token(
                connection.grant_id, lambda token: self._api.organisation(token, connection.tenant_id))
        except (XeroUnavailable, TenantForbidden) as error:
            log.info("subscription check of %s skipped: %s", connection.tenant_id, type(error).__name__)
            return
        decision = gate(info.subscription_class, is_demo_company=info.is_demo_company, name=info.name)
        async with self._unit_of_work() as tx:
            await tx.connections.class_checked(connection.merchant_id, connection.tenant_id, self._clock())
            if decision.accepted:
                return
            current = await tx.connections.get(connection.merchant_id, connection.tenant_id, lock=True)
            if current is not None and current.status is ConnectionStatus.ACTIVE:
                await self._breaks.mark(tx, current, BreakReason.SUBSCRIPTION_DOWNGRADED, self._clock(),
                                        events.SYSTEM_ACTOR)

    async def housekeeping(self) -> None:
        for step in (self.rewrap, self.purge):
            try:
                await step()
            except Exception:  # noqa: BLE001 - one failing step must not stop the other
                log.exception("housekeeping step %s failed", step.__name__)

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
