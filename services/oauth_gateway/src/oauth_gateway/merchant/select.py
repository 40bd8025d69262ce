""""Select an Organisation" and "Confirm Selection": the subscription gate, then OrgSelected.

The store comes from the server-side flow, never from the form; the organisation must be one
authorised in that flow's consent.
"""

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from shared.contracts import BreakReason, XeroUser

from ..domain import events, refusals
from ..domain.model import (DEFAULT_CONSENT_TTL, AuthorisedOrg, Connection, ConnectionStatus, Flow, FlowStatus, JobKind,
                            WebSession, clip)
from ..domain.platform import StoreConnection, StoreLink
from ..domain.refusals import Refusal
from ..domain.subscription import GateDecision, Verdict, gate
from ..ports import Clock, OrganisationInfo, SelectionWork, TenantForbidden, UnitOfWork, XeroApi, XeroUnavailable
from ..xero_client import Breaks, GrantBroken, Tokens, XeroJobs
from .refusals_log import RefusalLog
from .summary import Summaries

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SelectionPage:
    flow: Flow
    serving: dict[str, list[str]]      # tenant id -> names of the stores that organisation already serves
    previous_tenant_id: UUID | None = None   # the store's organisation before: offered first on a reconnect

    @property
    def organisations(self) -> list[AuthorisedOrg]:
        return sorted(self.flow.organisations, key=lambda o: o.tenant_id != self.previous_tenant_id)


@dataclass(frozen=True, slots=True)
class Selected:
    store_id: str
    tenant_id: UUID


class Select:
    def __init__(self, unit_of_work: UnitOfWork[SelectionWork], clock: Clock, api: XeroApi, tokens: Tokens,
                 jobs: XeroJobs, summaries: Summaries, refusal_log: RefusalLog, breaks: Breaks, *,
                 consent_ttl: timedelta = DEFAULT_CONSENT_TTL) -> None:
        """`consent_ttl`: how long a consent waits for its selection before the sweep abandons it."""
        self._unit_of_work = unit_of_work
        self._consent_ttl = consent_ttl
        self._breaks = breaks
        self._clock = clock
        self._api = api
        self._tokens = tokens
        self._jobs = jobs
        self._summaries = summaries
        self._refusal_log = refusal_log

    async def page(self, session: WebSession, flow_id: UUID) -> SelectionPage | Refusal:
        flow = await self._own_flow(session, flow_id)
        if isinstance(flow, Refusal):
            return flow
        async with self._unit_of_work() as tx:
            before = await tx.store_links.of_store(flow.store_id)
        previous = before.link.tenant_id if before and before.link.merchant_id == session.merchant_id else None
        return SelectionPage(flow, await self._summaries.served_by(session.merchant_id), previous)

    async def confirm(self, session: WebSession, flow_id: UUID, tenant_id: str) -> Selected | Refusal:
        """Connect the flow's store to the chosen organisation, if its subscription allows."""
        flow = await self._own_flow(session, flow_id)
        if isinstance(flow, Refusal):
            return flow
        org = flow.organisation(tenant_id)
        if org is None:
            return await self._refusal_log.refused(session, "organisation", tenant_id,
                                                   refusals.organisation_not_in_consent(flow.flow_id),
                                                   flow_id=str(flow.flow_id))
        info = await self._organisation(session, flow, org)
        if isinstance(info, Refusal):
            return info
        name = clip(info.name, org.name)
        decision = gate(info.subscription_class, is_demo_company=info.is_demo_company, name=name)
        if not decision.accepted:
            await self._refuse(session, flow, org.connection_id, info.tenant_id, decision.subscription_class)
            return refusals.subscription_refused(decision.reason or "", flow.store_id)
        connection = Connection(session.merchant_id, info.tenant_id, name, org.connection_id, flow.grant_id or "",
                                decision.subscription_class)
        return await self._connect(session, flow, connection, decision)

    async def _organisation(self, session: WebSession, flow: Flow, org: AuthorisedOrg) -> OrganisationInfo | Refusal:
        """Xero's own word on the organisation (its name and `Class`), read with the consent's grant."""
        assert flow.grant_id is not None, "an authorised flow has its grant"
        try:
            return await self._tokens.with_token(flow.grant_id, lambda token: self._api.organisation(token,
                                                                                                    org.tenant_id))
        except TenantForbidden:
            await self._removed(session, org.tenant_id)
            return refusals.organisation_not_connected()
        except GrantBroken:
            return refusals.grant_broken()
        except XeroUnavailable as error:
            return refusals.xero_unavailable(error.retry_after, flow.flow_id)

    async def _connect(self, session: WebSession, flow: Flow, connection: Connection,
                       decision: GateDecision) -> Selected | Refusal:
        if decision.verdict is Verdict.UNKNOWN_ACCEPTED:
            log.warning("accepted Xero organisation %s with unknown subscription class %r: please review",
                        connection.tenant_id, decision.subscription_class)
        now = self._clock()
        async with self._unit_of_work() as tx:
            current = await tx.flows.get(flow.flow_id, lock=True)
            if current is None or not current.awaiting_selection(now, self._consent_ttl):
                return refusals.flow_expired()          # a double submit (the first one won), or abandoned
            if await self._undone(tx, session, flow, connection, now):
                return refusals.disconnect_in_progress()
            grant = await tx.grants.get(connection.grant_id)
            before = await tx.store_links.of_store(flow.store_id)
            known = await tx.connections.get(connection.merchant_id, connection.tenant_id, lock=True)
            await tx.connections.save(replace(connection, scopes=grant.tokens.scopes if grant and grant.tokens
                                              else ()), now)
            link = StoreLink(flow.store_id, flow.merchant_id, connection.tenant_id, session.user_id, now,
                             flow.store_name)
            await tx.store_links.link(link)
            await tx.flows.save(replace(current, status=FlowStatus.SELECTED), "selected")
            user = grant.xero_user if grant else None
            previous = before.link.tenant_id if before and before.link.merchant_id == flow.merchant_id else None
            await tx.outbox.publish(events.org_selected(flow, connection, session.user_id, user, previous))
            await self._restored(tx, session, link, connection, before, known)
            await tx.sessions.set_flash(session.session_hash, _selected_words(flow, connection, known, user))
            await tx.audit.record(now, session.user_id, "organisation.selected", flow.merchant_id,
                                  connection.tenant_id, store_id=flow.store_id,
                                  subscription_class=decision.subscription_class)
        return Selected(flow.store_id, connection.tenant_id)

    async def _undone(self, tx: SelectionWork, session: WebSession, flow: Flow, connection: Connection,
                      now: datetime) -> bool:
        """Xero keeps a connection's id when the same organisation is authorised again, and a revocation drops
        every connection of that Xero user: an earlier DELETE of this connection, or revocation of its grant, must
        not outlive this confirmation. Those not in flight end here as superseded. True when one in flight, or
        one that may have reached Xero since this consent began, may have removed the connection just
        authorised: we refuse rather than report a connection that may be gone, and the merchant's next Connect
        to Xero authorises a live one. Refusing beats waiting for the job and re-reading /connections, which would
        keep the merchant's request (and this flow's row lock) on Xero's time and still race the job."""
        keys = (connection.connection_id, connection.grant_id, flow.created_at)
        blocking = await tx.jobs.removing(*keys)
        if blocking is None:
            for job in await tx.jobs.supersede(now, connection_id=connection.connection_id,
                                               grant_id=connection.grant_id):
                await tx.audit.record(now, session.user_id, f"xero.{job.kind.value}", job.merchant_id,
                                      job.tenant_id, outcome="superseded", flow_id=flow.flow_id, job_id=job.job_id)
            blocking = await tx.jobs.removing(*keys)           # a lease taken meanwhile
        if blocking is None:
            return False
        log.warning("confirmation of flow %s refused: xero job %s may have removed connection %s", flow.flow_id,
                    blocking.job_id, connection.connection_id)
        return True

    async def _restored(self, tx: SelectionWork, session: WebSession, link: StoreLink, connection: Connection,
                        before: StoreConnection | None, known: Connection | None) -> None:
        """A reconnect repairs every store of a broken connection it makes work again, and this store's own
        break if it moved to another organisation: one ConnectionRestored each."""
        if known is not None and known.status is ConnectionStatus.BROKEN and known.incident_id and known.broken_since:
            for store in await tx.store_links.of_connection(known.merchant_id, known.tenant_id):
                await tx.outbox.publish(events.connection_restored(store, connection, known.incident_id,
                                                                   known.broken_since, True, session.user_id))
        moved = before is not None and before.link.tenant_id != connection.tenant_id
        if moved and before.connection_status is ConnectionStatus.BROKEN and before.incident_id and before.broken_since:
            await tx.outbox.publish(events.connection_restored(link, connection, before.incident_id,
                                                               before.broken_since, False, session.user_id))

    async def _refuse(self, session: WebSession, flow: Flow, connection_id: UUID, tenant_id: UUID,
                      plan: str) -> None:
        """Refused: say so, and do not stay connected at Xero to an organisation nobody uses."""
        now = self._clock()
        async with self._unit_of_work() as tx:
            await tx.audit.record(now, session.user_id, "organisation.refused", flow.merchant_id, tenant_id,
                                  store_id=flow.store_id, subscription_class=plan)
            job = None if await tx.connections.in_use(connection_id) else await tx.jobs.add(
                JobKind.DELETE_CONNECTION, flow.grant_id or "", flow.merchant_id, session.user_id, now, tenant_id,
                connection_id, flow.flow_id)     # this consent does not keep the refused connection alive
        if job is not None:
            await self._jobs.run(job)

    async def _removed(self, session: WebSession, tenant_id: UUID) -> None:
        async with self._unit_of_work() as tx:
            known = await tx.connections.get(session.merchant_id, tenant_id, lock=True)
            if known is not None and known.status is ConnectionStatus.ACTIVE:
                await self._breaks.mark(tx, known, BreakReason.REMOVED_IN_XERO, self._clock(), events.XERO_ACTOR)

    async def _own_flow(self, session: WebSession, flow_id: UUID) -> Flow | Refusal:
        """The merchant's consent waiting for its selection: resumable from any later session of the same
        merchant (`Flow.resumable_by` says which users and why) until the consent TTL ends."""
        async with self._unit_of_work() as tx:
            flow = await tx.flows.get(flow_id)
        if flow is None:
            return refusals.flow_expired()
        if not flow.resumable_by(session):   # another merchant's sign-in: the page says no more than "expired"
            return await self._refusal_log.refused(session, "flow", str(flow_id), refusals.flow_expired(),
                                                   reason="flow_not_yours", owner_merchant_id=flow.merchant_id)
        if flow.status is FlowStatus.SELECTED:
            return refusals.already_selected()
        if not flow.awaiting_selection(self._clock(), self._consent_ttl):   # the sweep abandons it, or has
            return refusals.flow_expired()
        return flow


def _selected_words(flow: Flow, connection: Connection, known: Connection | None, user: XeroUser | None) -> str:
    """The flash after Confirm Selection; warns when another Xero user had authorised this organisation, since
    removing the app in Xero for either of them disconnects every store on it."""
    words = f"'{flow.store_name}' is now connected to the Xero organisation '{connection.organisation_name}'."
    if known is not None and known.grant_id != connection.grant_id and known.status is ConnectionStatus.ACTIVE:
        who = f" ({user.name or user.email})" if user else ""
        words += (f" Note: a different Xero user{who} has now authorised '{connection.organisation_name}' than "
                  "before; if either removes the Cloud POS app in Xero, every store on it must be reconnected.")
    return words
