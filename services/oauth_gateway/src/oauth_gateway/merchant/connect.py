""""Connect to Xero" for one store: the authorize redirect, and the callback that completes the consent."""

import hashlib
import re
from dataclasses import replace
from datetime import timedelta
from uuid import UUID, uuid4

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from shared.contracts import XeroUser

STORE_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")         # the contracts' Identifier

from ..domain import events, refusals
from ..domain.callback import BadCallback, parse_callback
from ..domain.model import AuthorisedOrg, Flow, FlowStatus, Grant, GrantStatus, StoreRef, TokenSet, WebSession, clip
from ..domain.refusals import Refusal
from ..ports import (
    Clock,
    ConsentWork,
    InvalidIdToken,
    OAuthRejected,
    Sealer,
    TenantForbidden,
    TokenRejected,
    UnitOfWork,
    XeroApi,
    XeroIdentity,
    XeroUnavailable,
)
from ..xero_client.tokens import token_set
from .refusals_log import RefusalLog


def state_hash(state: str) -> bytes:
    return hashlib.sha256(state.encode()).digest()


class Connect:
    def __init__(self, unit_of_work: UnitOfWork[ConsentWork], clock: Clock, identity: XeroIdentity, api: XeroApi,
                 sealer: Sealer, refusal_log: RefusalLog, *, issuer: str, flow_ttl: timedelta) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._identity = identity
        self._api = api
        self._sealer = sealer
        self._refusal_log = refusal_log
        self._issuer = issuer
        self._flow_ttl = flow_ttl

    async def start(self, session: WebSession, store_id: str) -> str | Refusal:
        """A fresh state, nonce and PKCE verifier per click; the flow row binds them to session + store.
        Returns Xero's authorize URL."""
        store = session.store(store_id) or await self._linked(session, store_id)
        if store is None:
            return await self._refusal_log.refused(session, "store", store_id, refusals.store_not_yours())
        state, nonce, verifier = generate_token(43), generate_token(32), generate_token(64)
        flow = Flow(uuid4(), session.session_hash, session.merchant_id, session.user_id, store.store_id,
                    store.name, nonce, self._clock())
        try:
            url = await self._identity.authorize_url(state, nonce, create_s256_code_challenge(verifier))
        except XeroUnavailable as error:
            return refusals.xero_unavailable(error.retry_after)
        async with self._unit_of_work() as tx:
            await tx.flows.add(flow, state_hash(state), self._sealer.seal(verifier, f"flow:{flow.flow_id}"))
            await tx.audit.record(flow.created_at, session.user_id, "connect.started", session.merchant_id,
                                  store_id=store.store_id, flow_id=flow.flow_id)
        return url

    async def _linked(self, session: WebSession, store_id: str) -> StoreRef | None:
        """A store this merchant connected before may be reconnected without pasting the key again (its link
        exists only because the merchant's validated key listed it then)."""
        if not STORE_ID.match(store_id):          # never a lookup with what cannot be a store id (e.g. a NUL)
            return None
        async with self._unit_of_work() as tx:
            found = await tx.store_links.of_store(store_id)
        if found is None or found.link.merchant_id != session.merchant_id:
            return None
        return StoreRef(store_id, found.link.store_name or store_id)

    async def callback(self, session: WebSession | None, params: list[tuple[str, str]]) -> UUID | Refusal:
        """Consume the state once, check it belongs to this browser, exchange the code, record the consent.
        Returns the flow whose "Select an Organisation" page comes next."""
        try:
            received = parse_callback(params, self._issuer)
        except BadCallback:
            return refusals.bad_callback()
        async with self._unit_of_work() as tx:
            claimed = await tx.flows.claim(state_hash(received.state))
        if claimed is None:
            return refusals.flow_expired()          # forged, replayed, or already used
        flow, sealed_verifier = claimed
        if session is None or not flow.belongs_to(session):
            return await self._end(flow, FlowStatus.FAILED, "session_mismatch", refusals.flow_expired())
        if flow.expired(self._clock(), self._flow_ttl):
            return await self._end(flow, FlowStatus.FAILED, "expired", refusals.flow_expired())
        if received.error is not None:
            return await self._end(flow, FlowStatus.CANCELLED, f"xero_error:{received.error[:40]}",
                                   _cancelled(flow, received.error))
        outcome = await self._complete(flow, received.code or "", sealed_verifier)
        if isinstance(outcome, Refusal):
            return await self._end(flow, FlowStatus.FAILED, outcome.code.value, outcome)
        return outcome

    async def _complete(self, flow: Flow, code: str, sealed_verifier: str) -> UUID | Refusal:
        now, verifier = self._clock(), self._sealer.open(sealed_verifier, f"flow:{flow.flow_id}")
        try:
            tokens = await self._identity.exchange_code(code, verifier)
            if not tokens.id_token:
                raise InvalidIdToken("no id_token")
            identity = await self._identity.verify_id_token(tokens.id_token, flow.nonce, tokens.access_token, now)
            access = await self._identity.access_claims(tokens.access_token)
            if access.get("sub") != identity["sub"]:
                raise InvalidIdToken("id_token and access token name different users")
            event_id = UUID(str(access["authentication_event_id"]))
            found = await self._api.connections(tokens.access_token, event_id)
        except OAuthRejected:
            return refusals.code_rejected()
        except (InvalidIdToken, KeyError, ValueError):
            return refusals.identity_rejected()
        except (XeroUnavailable, TenantForbidden, TokenRejected) as error:
            return refusals.xero_unavailable(getattr(error, "retry_after", None))
        # Only this consent's organisations, matched by authentication event id, never by list position.
        orgs = tuple(AuthorisedOrg(c.tenant_id, c.connection_id, clip(c.tenant_name, str(c.tenant_id)))
                     for c in found if c.auth_event_id == event_id)
        if not orgs:
            return refusals.no_organisation()
        await self._record(flow, identity["sub"], token_set(tokens, now), event_id, orgs, xero_user(identity))
        return flow.flow_id

    async def _record(self, flow: Flow, sub: str, tokens: TokenSet, event_id: UUID,
                      orgs: tuple[AuthorisedOrg, ...], user: XeroUser | None) -> None:
        now = self._clock()
        async with self._unit_of_work() as tx:
            known = await tx.grants.of_user(sub)    # one token set per Xero user + app: the newest wins
            grant = Grant(known.grant_id if known else f"g-{uuid4().hex}", sub, known.version if known else 0,
                          GrantStatus.ACTIVE, tokens, now, user)
            grant = await tx.grants.save(grant, now)
            await tx.flows.save(replace(flow, status=FlowStatus.AUTHORISED, grant_id=grant.grant_id,
                                        auth_event_id=event_id, organisations=orgs, authorised_at=now), "authorised")
            before = await tx.store_links.of_store(flow.store_id)
            previous = before.link.tenant_id if before and before.link.merchant_id == flow.merchant_id else None
            await tx.outbox.publish(events.store_connected(flow, grant.grant_id, event_id, orgs, user, previous))
            await tx.audit.record(now, flow.user_id, "connect.authorised", flow.merchant_id, store_id=flow.store_id,
                                  grant_id=grant.grant_id, organisations=[str(o.tenant_id) for o in orgs])
            for job in await tx.jobs.supersede(now, grant_id=grant.grant_id):   # revoking would drop this consent
                await tx.audit.record(now, flow.user_id, f"xero.{job.kind.value}", job.merchant_id,
                                      outcome="superseded", flow_id=flow.flow_id, job_id=job.job_id)

    async def _end(self, flow: Flow, status: FlowStatus, outcome: str, refusal: Refusal) -> Refusal:
        async with self._unit_of_work() as tx:
            await tx.flows.save(replace(flow, status=status), outcome)
            await tx.audit.record(self._clock(), flow.user_id, f"connect.{status.value}", flow.merchant_id,
                                  store_id=flow.store_id, outcome=outcome)
        return refusal


def _cancelled(flow: Flow, error: str) -> Refusal:
    if error == "access_denied":
        return refusals.cancelled_at_xero(flow.store_name)
    return refusals.xero_error(error)


def xero_user(claims: dict) -> XeroUser | None:
    """Who authorised, from the verified ID token (profile and email scopes); None if Xero left it out."""
    try:
        name = " ".join(str(claims.get(k) or "") for k in ("given_name", "family_name")).strip()
        return XeroUser(xero_userid=UUID(str(claims["xero_userid"])), name=name[:200],
                        email=str(claims.get("email") or "")[:320])
    except (KeyError, ValueError):
        return None
