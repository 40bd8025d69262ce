""""Disconnect from Xero" on an organisation: every store of the merchant on it is disconnected at once
(OrgDisconnected); the Xero side (DELETE the connection, then revoke the grant) is owed work for the
Xero client's jobs. The merchant first sees which stores that is (`preview`), then confirms."""

from dataclasses import dataclass, replace
from uuid import UUID

from shared.contracts import DisconnectReason

from ..domain import events, refusals
from ..domain.model import Connection, ConnectionStatus, JobKind, WebSession
from ..domain.refusals import Refusal
from ..ports import Clock, DisconnectWork, UnitOfWork
from ..xero_client import XeroJobs
from .refusals_log import RefusalLog


@dataclass(frozen=True, slots=True)
class Disconnecting:
    """What "Disconnect from Xero" on this organisation would disconnect: the confirmation page's list."""

    tenant_id: UUID
    organisation_name: str
    stores: tuple[str, ...]        # store names, as linked here (the ones that actually get disconnected)


class Disconnect:
    def __init__(self, unit_of_work: UnitOfWork[DisconnectWork], clock: Clock, jobs: XeroJobs,
                 refusal_log: RefusalLog) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._jobs = jobs
        self._refusal_log = refusal_log

    async def preview(self, session: WebSession, tenant_id: str) -> Disconnecting | Refusal:
        """The stores of this merchant on the organisation; someone else's (or no) organisation is refused and
        audited exactly as the disconnect itself would be."""
        tenant, known, links = _tenant(tenant_id), None, []
        if tenant is not None:
            async with self._unit_of_work() as tx:
                known = await tx.connections.get(session.merchant_id, tenant)
                links = await tx.store_links.of_connection(session.merchant_id, tenant) if known else []
        if known is None:
            return await self._refusal_log.refused(session, "organisation", tenant_id, refusals.not_connected())
        if known.status is not ConnectionStatus.ACTIVE:
            return refusals.not_connected()
        return Disconnecting(known.tenant_id, known.organisation_name,
                             tuple(sorted(link.store_name or link.store_id for link in links)))

    async def disconnect(self, session: WebSession, tenant_id: str) -> None | Refusal:
        try:
            tenant = UUID(tenant_id)
        except ValueError:
            return await self._refusal_log.refused(session, "organisation", tenant_id, refusals.not_connected())
        async with self._unit_of_work() as tx:
            known = await tx.connections.get(session.merchant_id, tenant, lock=True)
            if known is None:                 # never this merchant's organisation
                job, refused = None, True
            elif known.status is not ConnectionStatus.ACTIVE:
                return refusals.not_connected()   # theirs, already disconnected (a second click): nothing to audit
            else:
                job, refused = await self._end(tx, session, known), False
        if refused:
            return await self._refusal_log.refused(session, "organisation", tenant_id, refusals.not_connected())
        if job is not None:
            await self._jobs.run(job)
        return None

    async def _end(self, tx: DisconnectWork, session: WebSession, known: Connection) -> int | None:
        """The local effect of a merchant's disconnect; returns the Xero job still owed, if any."""
        now = self._clock()
        await tx.connections.save(replace(known, status=ConnectionStatus.DISCONNECTED), now, "merchant_request")
        await tx.store_links.unlink_organisation(known.merchant_id, known.tenant_id)
        await tx.outbox.publish(events.org_disconnected(known, DisconnectReason.MERCHANT_REQUEST, session.user_id))
        job = None if await tx.connections.in_use(known.connection_id) else await tx.jobs.add(
            JobKind.DELETE_CONNECTION, known.grant_id, known.merchant_id, session.user_id, now, known.tenant_id,
            known.connection_id)
        await tx.sessions.set_flash(session.session_hash, f"The stores linked to '{known.organisation_name}' are "
                                    "being disconnected from Xero.")
        await tx.audit.record(now, session.user_id, "organisation.disconnect_requested", known.merchant_id,
                              known.tenant_id)
        return job


def _tenant(tenant_id: str) -> UUID | None:
    try:
        return UUID(tenant_id)
    except ValueError:
        return None
