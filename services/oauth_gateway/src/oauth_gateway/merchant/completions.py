""""I have finished" requests the registry could not take when the merchant clicked (it was away, or had not
yet applied our events because Kafka was): offered to it again in the background until it answers.

The registry's completion is idempotent (202 the first time, 200 after), so offering a request twice (an
instance dying after the registry answered, before the outcome was written) tells the helpdesk once."""

import logging
from datetime import timedelta

from ..domain.completion import CATCH_UP, PendingCompletion, registry_is_behind, retry_at
from ..domain.model import ConnectionStatus
from ..ports import Clock, CompletionWork, Registry, ServiceRefusal, ServiceUnavailable, UnitOfWork, WithStoreLinks

log = logging.getLogger(__name__)


async def sees_a_connected_store(tx: WithStoreLinks, merchant_id: str) -> bool:
    """This gateway's own view: the registry learns of connections from the events we publish."""
    return any(s.connection_status is ConnectionStatus.ACTIVE for s in await tx.store_links.of_merchant(merchant_id))


class CompletionDelivery:
    def __init__(self, unit_of_work: UnitOfWork[CompletionWork], clock: Clock, registry: Registry, *,
                 batch_size: int = 20, lease: timedelta = timedelta(seconds=60), catch_up: timedelta = CATCH_UP
                 ) -> None:
        """`lease`: how long a request taken by this instance waits before another may offer it (a crash);
        `catch_up`: how long a "nothing connected" refusal counts as the registry being behind on our events."""
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._registry = registry
        self._batch_size = batch_size
        self._lease = lease
        self._catch_up = catch_up

    async def run_once(self) -> int:
        """Offer the due requests, one at a time; when the registry is away, the rest of the batch is put back
        without asking it again. Returns how many the registry answered."""
        now = self._clock()
        async with self._unit_of_work() as tx:
            due = await tx.completions.claim_due(now, now + self._lease, self._batch_size)
        answered = 0
        for index, pending in enumerate(due):
            if not await self._offer(pending):
                await self._put_back(due[index + 1:])
                break
            answered += 1
        return answered

    async def _offer(self, pending: PendingCompletion) -> bool:
        """False when the registry did not answer."""
        try:
            status = await self._registry.complete(pending.merchant_id, pending.completed_by)
        except ServiceUnavailable as error:
            await self._put_back([pending], f"registry unavailable: {error}")
            return False
        except ServiceRefusal as refusal:
            await self._refused(pending, refusal)
            return True
        now = self._clock()
        async with self._unit_of_work() as tx:
            if await tx.completions.end(pending.merchant_id, now, f"delivered:{status}"):
                await tx.audit.record(now, pending.completed_by, "setup.completed", pending.merchant_id,
                                      status=status, requested_at=pending.requested_at.isoformat(),
                                      attempts=pending.attempts)
        log.info("the registry took merchant %s's completion (%s) after %d attempt(s)", pending.merchant_id,
                 status, pending.attempts)
        return True

    async def _refused(self, pending: PendingCompletion, refusal: ServiceRefusal) -> None:
        now = self._clock()
        async with self._unit_of_work() as tx:
            connected = await sees_a_connected_store(tx, pending.merchant_id)
            if registry_is_behind(refusal.code, connected, pending.requested_at, now, self._catch_up):
                await tx.completions.retry(pending.merchant_id, retry_at(pending.attempts, now),
                                           f"registry behind: {refusal.code}")
                return
            if await tx.completions.end(pending.merchant_id, now, f"refused:{refusal.code}"):
                await tx.audit.record(now, pending.completed_by, "setup.completion_refused", pending.merchant_id,
                                      code=refusal.code, requested_at=pending.requested_at.isoformat(),
                                      attempts=pending.attempts)
        log.warning("the registry refused merchant %s's completion: %s", pending.merchant_id, refusal.code)

    async def _put_back(self, pending: list[PendingCompletion], error: str = "not offered: registry unavailable"
                        ) -> None:
        if not pending:
            return
        now = self._clock()
        async with self._unit_of_work() as tx:
            for p in pending:
                await tx.completions.retry(p.merchant_id, retry_at(p.attempts, now), error)
