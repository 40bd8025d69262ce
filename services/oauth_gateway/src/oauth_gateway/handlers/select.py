""""Select an Organisation" and "Confirm Selection": the subscription gate, then OrgSelected.

The store comes from the server-side flow, never from the form; the organisation must be one
authorised in that flow's consent.
"""

import logging
from dataclasses import dataclass, replace
from uuid import UUID

from shared.contracts import OrgSelected

from ..domain.model import Connection, ConnectionStatus, Flow, FlowStatus, WebSession
from ..domain.problems import Problem, flow_expired, xero_unavailable
from ..domain.subscription import Verdict, gate
from ..ports import OrganisationInfo, TenantForbidden, XeroUnavailable
from .common import Deps, clip, envelope, refused
from .disconnect import DisconnectHandlers, mark_removed
from .summary import served_by
from .tokens import GrantBroken, TokenService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SelectionPage:
    flow: Flow
    serving: dict[str, list[str]]      # tenant id -> names of the stores that organisation already serves


class SelectionHandlers:
    def __init__(self, deps: Deps, tokens: TokenService, disconnects: DisconnectHandlers) -> None:
        self._deps = deps
        self._tokens = tokens
        self._disconnects = disconnects

    async def page(self, session: WebSession, flow_id: UUID) -> SelectionPage:
        flow = await self._own_flow(session, flow_id)
        return SelectionPage(flow, await served_by(self._deps, session.merchant_id))

    async def confirm(self, session: WebSession, flow_id: UUID, tenant_id: str) -> tuple[str, UUID]:
        """Connect the flow's store to the chosen organisation; returns (store_id, tenant_id)."""
        flow = await self._own_flow(session, flow_id)
        org = flow.organisation(tenant_id)
        if org is None:
            raise await refused(self._deps, session, "organisation", tenant_id, Problem(
                403, "organisation_not_in_consent", "Choose one of the listed organisations",
                "Only organisations you authorised at Xero for this store can be selected.",
                f"/connect/{flow.flow_id}", "Select an Organisation"), flow_id=str(flow.flow_id))
        assert flow.grant_id is not None
        try:
            info = await self._tokens.with_token(
                flow.grant_id, lambda token: self._deps.api.organisation(token, org.tenant_id))
        except TenantForbidden:
            await self._removed(session, org.tenant_id)
            raise Problem(409, "organisation_not_connected", "Xero says this organisation is no longer connected",
                          "The app's access to this organisation was removed in Xero. Click Connect to Xero "
                          "against the store to authorise it again.") from None
        except GrantBroken:
            raise Problem(409, "grant_broken", "Your Xero sign-in has expired",
                          "Click Connect to Xero against the store to sign in to Xero again.") from None
        except XeroUnavailable as error:
            problem = xero_unavailable(error.retry_after)
            raise replace(problem, next_url=f"/connect/{flow.flow_id}", next_label="Select an Organisation") from None
        await self._decide(session, flow, org.connection_id, info, org.name)
        return flow.store_id, info.tenant_id

    async def _decide(self, session: WebSession, flow: Flow, connection_id: UUID, info: OrganisationInfo,
                      listed_name: str) -> None:
        name = clip(info.name, listed_name)
        decision = gate(info.subscription_class, is_demo_company=info.is_demo_company, name=name)
        now = self._deps.clock()
        if not decision.accepted:
            await self._refuse(session, flow, connection_id, info.tenant_id, decision.subscription_class)
            raise Problem(403, "subscription_refused", "This Xero organisation cannot be connected",
                          decision.reason or "", "/", "Back to your stores")
        if decision.verdict is Verdict.UNKNOWN_ACCEPTED:
            log.warning("accepted Xero organisation %s with unknown subscription class %r: please review",
                        info.tenant_id, decision.subscription_class)
        async with self._deps.unit_of_work() as tx:
            current = await tx.flow(flow.flow_id, lock=True)
            if current is None or current.status is not FlowStatus.AUTHORISED:
                raise flow_expired()          # a double submit: the first one won
            await tx.save_connection(Connection(session.merchant_id, info.tenant_id, name, connection_id,
                                                flow.grant_id or "", decision.subscription_class), now)
            await tx.save_flow(replace(current, status=FlowStatus.SELECTED), "selected")
            await tx.publish(envelope(OrgSelected(
                merchant_id=flow.merchant_id, store_id=flow.store_id, tenant_id=info.tenant_id,
                organisation_name=name, subscription_class=decision.subscription_class,
                connection_id=connection_id, grant_id=flow.grant_id, actor=session.user_id),
                subject=flow.store_id, correlation_id=flow.flow_id))
            await tx.set_flash(session.session_hash,
                               f"'{flow.store_name}' is now connected to the Xero organisation '{name}'.")
            await tx.audit(now, session.user_id, "organisation.selected", flow.merchant_id, info.tenant_id,
                           store_id=flow.store_id, subscription_class=decision.subscription_class)

    async def _refuse(self, session: WebSession, flow: Flow, connection_id: UUID, tenant_id: UUID,
                      plan: str) -> None:
        """Refused: say so, and do not stay connected at Xero to an organisation nobody uses."""
        now = self._deps.clock()
        async with self._deps.unit_of_work() as tx:
            await tx.audit(now, session.user_id, "organisation.refused", flow.merchant_id, tenant_id,
                           store_id=flow.store_id, subscription_class=plan)
            job = None if await tx.connection_in_use(connection_id) else await tx.add_job(
                "delete_connection", flow.grant_id or "", flow.merchant_id, session.user_id, now, tenant_id,
                connection_id)
        if job is not None:
            await self._disconnects.run_job(job)

    async def _removed(self, session: WebSession, tenant_id: UUID) -> None:
        async with self._deps.unit_of_work() as tx:
            known = await tx.connection(session.merchant_id, tenant_id, lock=True)
            if known is not None and known.status is ConnectionStatus.ACTIVE:
                await mark_removed(tx, known, self._deps.clock())

    async def _own_flow(self, session: WebSession, flow_id: UUID) -> Flow:
        async with self._deps.unit_of_work() as tx:
            flow = await tx.flow(flow_id)
        if flow is None:
            raise flow_expired()
        if not flow.belongs_to(session):   # someone else's sign-in: the page says no more than "expired"
            raise await refused(self._deps, session, "flow", str(flow_id), flow_expired(), reason="flow_not_yours",
                                owner_merchant_id=flow.merchant_id)
        if flow.status is FlowStatus.SELECTED:
            raise Problem(409, "already_selected", "This store's organisation is already chosen",
                          "To change it, click Connect to Xero against the store again.")
        if flow.status is not FlowStatus.AUTHORISED:
            raise flow_expired()
        return flow
