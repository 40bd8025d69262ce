""""Connect to Xero" for one store: the authorize redirect, and the callback that completes the consent."""

import hashlib
import logging
from dataclasses import replace
from uuid import UUID, uuid4

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from shared.contracts import AuthorisedOrganisation, StoreConnected

from ..domain.callback import BadCallback, parse_callback
from ..domain.model import AuthorisedOrg, Flow, FlowStatus, Grant, GrantStatus, TokenSet, WebSession
from ..domain.problems import Problem, flow_expired, unknown_store, xero_unavailable
from ..ports import InvalidIdToken, OAuthRejected, TenantForbidden, TokenRejected, XeroUnavailable
from .common import Deps, clip, envelope, refused
from .tokens import token_set

log = logging.getLogger(__name__)


def state_hash(state: str) -> bytes:
    return hashlib.sha256(state.encode()).digest()


class ConnectHandlers:
    def __init__(self, deps: Deps, issuer: str) -> None:
        self._deps = deps
        self._issuer = issuer

    async def start(self, session: WebSession, store_id: str) -> str:
        """A fresh state, nonce and PKCE verifier per click; the flow row binds them to session + store."""
        store = session.store(store_id)
        if store is None:
            raise await refused(self._deps, session, "store", store_id, unknown_store())
        state, nonce, verifier = generate_token(43), generate_token(32), generate_token(64)
        flow = Flow(uuid4(), session.session_hash, session.merchant_id, session.user_id, store.store_id,
                    store.name, nonce, self._deps.clock())
        try:
            url = await self._deps.identity.authorize_url(state, nonce, create_s256_code_challenge(verifier))
        except XeroUnavailable as error:
            raise xero_unavailable(error.retry_after) from None
        async with self._deps.unit_of_work() as tx:
            await tx.add_flow(flow, state_hash(state), self._deps.sealer.seal(verifier, f"flow:{flow.flow_id}"))
            await tx.audit(flow.created_at, session.user_id, "connect.started", session.merchant_id,
                           store_id=store.store_id, flow_id=flow.flow_id)
        return url

    async def callback(self, session: WebSession | None, params: list[tuple[str, str]]) -> UUID:
        """Consume the state once, check it belongs to this browser, exchange the code, record the consent."""
        try:
            received = parse_callback(params, self._issuer)
        except BadCallback:
            raise Problem(400, "bad_callback", "This Xero sign-in link is not valid",
                          "Nothing was connected. Start again with Connect to Xero against the store.") from None
        async with self._deps.unit_of_work() as tx:
            claimed = await tx.claim_flow(state_hash(received.state))
        if claimed is None:
            raise flow_expired()          # forged, replayed, or already used
        flow, sealed_verifier = claimed
        if session is None or not flow.belongs_to(session):
            await self._end(flow, FlowStatus.FAILED, "session_mismatch")
            raise flow_expired()
        if flow.expired(self._deps.clock(), self._deps.flow_ttl):
            await self._end(flow, FlowStatus.FAILED, "expired")
            raise flow_expired()
        if received.error is not None:
            await self._end(flow, FlowStatus.CANCELLED, f"xero_error:{received.error[:40]}")
            raise _cancelled(flow, received.error)
        try:
            return await self._complete(flow, received.code or "", sealed_verifier)
        except Problem as problem:
            await self._end(flow, FlowStatus.FAILED, problem.code)
            raise

    async def _complete(self, flow: Flow, code: str, sealed_verifier: str) -> UUID:
        deps, now = self._deps, self._deps.clock()
        verifier = deps.sealer.open(sealed_verifier, f"flow:{flow.flow_id}")
        try:
            tokens = await deps.identity.exchange_code(code, verifier)
            if not tokens.id_token:
                raise InvalidIdToken("no id_token")
            identity = await deps.identity.verify_id_token(tokens.id_token, flow.nonce, tokens.access_token, now)
            access = await deps.identity.access_claims(tokens.access_token)
            if access.get("sub") != identity["sub"]:
                raise InvalidIdToken("id_token and access token name different users")
            event_id = UUID(str(access["authentication_event_id"]))
            found = await deps.api.connections(tokens.access_token, event_id)
        except OAuthRejected:
            raise Problem(400, "code_rejected", "Xero did not accept this sign-in",
                          "Nothing was connected. Click Connect to Xero against the store to try again.") from None
        except (InvalidIdToken, KeyError, ValueError):
            raise Problem(400, "identity_rejected", "We could not confirm your Xero sign-in",
                          "Nothing was connected. Click Connect to Xero against the store to try again.") from None
        except (XeroUnavailable, TenantForbidden, TokenRejected) as error:
            raise xero_unavailable(getattr(error, "retry_after", None)) from None
        # Only this consent's organisations, matched by authentication event id, never by list position.
        orgs = tuple(AuthorisedOrg(c.tenant_id, c.connection_id, clip(c.tenant_name, str(c.tenant_id)))
                     for c in found if c.auth_event_id == event_id)
        if not orgs:
            raise Problem(400, "no_organisation", "No Xero organisation was authorised",
                          "Xero did not report an organisation for this sign-in. Click Connect to Xero and choose "
                          "an organisation on Xero's page before you click Allow access.")
        await self._record(flow, identity["sub"], token_set(tokens, now), event_id, orgs)
        return flow.flow_id

    async def _record(self, flow: Flow, sub: str, tokens: TokenSet, event_id: UUID,
                      orgs: tuple[AuthorisedOrg, ...]) -> None:
        now = self._deps.clock()
        async with self._deps.unit_of_work() as tx:
            known = await tx.grant_of_user(sub)    # one token set per Xero user + app: the newest wins
            grant = Grant(known.grant_id if known else f"g-{uuid4().hex}", sub, known.version if known else 0,
                          GrantStatus.ACTIVE, tokens, now)
            grant = await tx.save_grant(grant, now)
            done = replace(flow, status=FlowStatus.AUTHORISED, grant_id=grant.grant_id, auth_event_id=event_id,
                           organisations=orgs)
            await tx.save_flow(done, "authorised")
            await tx.publish(envelope(StoreConnected(
                merchant_id=flow.merchant_id, store_id=flow.store_id, grant_id=grant.grant_id,
                auth_event_id=event_id, actor=flow.user_id,
                organisations=tuple(AuthorisedOrganisation(tenant_id=o.tenant_id, connection_id=o.connection_id,
                                                           name=o.name) for o in orgs)),
                subject=flow.store_id, correlation_id=flow.flow_id))
            await tx.audit(now, flow.user_id, "connect.authorised", flow.merchant_id, store_id=flow.store_id,
                           grant_id=grant.grant_id, organisations=[str(o.tenant_id) for o in orgs])

    async def _end(self, flow: Flow, status: FlowStatus, outcome: str) -> None:
        async with self._deps.unit_of_work() as tx:
            await tx.save_flow(replace(flow, status=status), outcome)
            await tx.audit(self._deps.clock(), flow.user_id, f"connect.{status.value}", flow.merchant_id,
                           store_id=flow.store_id, outcome=outcome)


def _cancelled(flow: Flow, error: str) -> Problem:
    if error == "access_denied":
        return Problem(400, "cancelled_at_xero", "You cancelled at Xero",
                       f"No Xero organisation was connected to '{flow.store_name}'. When you are ready, click "
                       "Connect to Xero against the store and choose Allow access at Xero.")
    return Problem(400, "xero_error", "Xero did not complete the sign-in",
                   f"Xero reported '{error[:40]}', so nothing was connected. Click Connect to Xero against "
                   "the store to try again.")
