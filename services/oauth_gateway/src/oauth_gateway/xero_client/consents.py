"""Abandoned consents. "Allow access" at Xero creates a Xero connection per chosen organisation and stores the
grant; a merchant who never clicks "Confirm Selection" would leave both live for ever (keep-alive refreshes the
grant). Within the consent TTL the merchant may still resume the selection (`Flow.resumable_by`); after it the
sweep abandons the consent: each organisation's connection that nothing else uses (an active connection, or
another consent still waiting for a selection) is deleted at Xero, the grant is revoked when nothing holds it,
and ConsentAbandoned tells the registry the store no longer waits for a selection."""

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from ..domain import events
from ..domain.model import DEFAULT_CONSENT_TTL, Flow, FlowStatus, GrantStatus, JobKind
from ..ports import Clock, ConsentSweepWork, UnitOfWork
from .jobs import XeroJobs

log = logging.getLogger(__name__)


class AbandonedConsents:
    def __init__(self, unit_of_work: UnitOfWork[ConsentSweepWork], clock: Clock, jobs: XeroJobs, *,
                 ttl: timedelta = DEFAULT_CONSENT_TTL, batch: int = 20) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._jobs = jobs
        self._ttl = ttl
        self._batch = batch

    async def sweep(self) -> int:
        """Abandon every consent authorised more than the TTL ago and still unselected; returns how many.

        Small batches, one transaction each (flows taken FOR UPDATE SKIP LOCKED, so instances share the work and
        a confirmation in progress keeps its flow). The Xero work a batch owes is queued inside it and tried
        only after its commit, never while a row is locked; what fails is retried by the job queue."""
        abandoned = 0
        while True:
            taken, owed = await self._abandon_batch()
            for job_id in owed:
                try:
                    await self._jobs.run(job_id)
                except Exception:  # noqa: BLE001 - queued and committed: the job queue retries it
                    log.exception("xero job %s of an abandoned consent failed; left to the job queue", job_id)
            abandoned += taken
            if taken < self._batch:
                return abandoned

    async def _abandon_batch(self) -> tuple[int, list[int]]:
        now = self._clock()
        cutoff, owed = now - self._ttl, []
        async with self._unit_of_work() as tx:
            flows = await tx.flows.abandonable(cutoff, self._batch)
            for flow in flows:
                owed += await self._abandon(tx, flow, now, cutoff)
        return len(flows), owed

    async def _abandon(self, tx: ConsentSweepWork, flow: Flow, now: datetime, cutoff: datetime) -> list[int]:
        """A connection or grant is kept while an active connection or a consent still inside its TTL uses it
        (Xero keeps a connection's id when the same organisation is authorised again); the jobs check it
        again when they run."""
        await tx.flows.save(replace(flow, status=FlowStatus.ABANDONED), "abandoned")
        released = tuple([org for org in flow.organisations
                          if not await tx.connections.wanted(org.connection_id, cutoff, flow.flow_id)])
        grant = await tx.grants.get(flow.grant_id) if flow.grant_id else None
        owed: list[int] = []
        if grant is not None and grant.status is GrantStatus.ACTIVE:     # else Xero already dropped its connections
            for org in released:     # a delete revokes the grant after it when nothing holds it (`XeroJobs.run`)
                owed.append(await tx.jobs.add(JobKind.DELETE_CONNECTION, grant.grant_id, flow.merchant_id,
                                              events.SYSTEM_ACTOR, now, org.tenant_id, org.connection_id,
                                              flow.flow_id))
            if not owed and not await tx.connections.grant_wanted(grant.grant_id, cutoff):
                owed.append(await tx.jobs.add(JobKind.REVOKE_GRANT, grant.grant_id, flow.merchant_id,
                                              events.SYSTEM_ACTOR, now))
        newer = await tx.flows.awaiting_selection(flow.merchant_id, cutoff)
        still_awaiting = any(f.store_id == flow.store_id for f in newer)
        await tx.outbox.publish(events.consent_abandoned(flow, released, now, still_awaiting))
        await tx.audit.record(now, events.SYSTEM_ACTOR, "connect.abandoned", flow.merchant_id, store_id=flow.store_id,
                              flow_id=flow.flow_id, released=[str(o.tenant_id) for o in released],
                              xero_jobs=len(owed))
        return owed
