"""The platform's use of a connection: a store's connection, a fresh access token, or a call proxied to Xero.

The gateway stays the only holder of refresh tokens (two holders would break each other: Xero rotates them)
and the only keeper of Xero's limits, which belong to the app. A token issued is audited (who, which store,
when), never logged. Proxied calls run within the shared budget; a 401 gets one forced refresh and one retry.
"""

import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.contracts import BreakReason

from ..domain import events
from ..domain import platform as rules
from ..domain.platform import ApiRefusal, IssuedToken, Operation, PlatformClient, StoreConnection
from ..ports import (
    BreakWork,
    BudgetExhausted,
    Clock,
    PlatformReads,
    PlatformWork,
    ProxyAnswer,
    ProxyCall,
    TenantForbidden,
    UnitOfWork,
    XeroApi,
    XeroUnavailable,
)
from .breaks import Breaks
from .tokens import GrantBroken, Tokens

log = logging.getLogger(__name__)
TOKEN_VALID_FOR = timedelta(minutes=5)      # what the platform is promised an issued token still lives


def token_hash(token: str) -> bytes:
    """Platform tokens are long random strings, so one SHA-256 is enough to keep them unusable at rest."""
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class ConnectionView:
    """A store's connection as the platform sees it."""

    found: StoreConnection
    status: rules.LinkStatus
    missing_scopes: tuple[str, ...]


class PlatformAccess:
    def __init__(self, reads: PlatformReads, unit_of_work: UnitOfWork[BreakWork], clock: Clock, tokens: Tokens,
                 api: XeroApi, breaks: Breaks, *, wanted_scopes: tuple[str, ...], max_wait: float) -> None:
        """`reads`: the hot path's lookups; `unit_of_work`: the audit of tokens issued, and breaks found."""
        self._reads = reads
        self._unit_of_work = unit_of_work
        self._breaks = breaks
        self._clock = clock
        self._tokens = tokens
        self._api = api
        self._wanted = wanted_scopes
        self._max_wait = max_wait
        self._degradation = rules.Degradation()

    async def client(self, bearer: str | None) -> PlatformClient | None:
        return await self._reads.client(token_hash(bearer)) if bearer else None

    async def connection(self, client: PlatformClient, store_id: str) -> ConnectionView | ApiRefusal:
        found = await self._store(client, store_id, Operation.READ)
        if isinstance(found, ApiRefusal):
            return found
        status = found.status(self._wanted)
        if status is rules.LinkStatus.ACTIVE and self._degradation.degraded(found.link.tenant_id, self._clock()):
            status = rules.LinkStatus.DEGRADED
        return ConnectionView(found, status, found.missing_scopes(self._wanted))

    async def access_token(self, client: PlatformClient, store_id: str) -> IssuedToken | ApiRefusal:
        found = await self._usable(client, store_id, Operation.TOKEN)
        if isinstance(found, ApiRefusal):
            return found
        try:
            tokens = await self._tokens.token_set(found.grant_id, valid_for=TOKEN_VALID_FOR)
        except GrantBroken:
            return rules.broken(found)
        except XeroUnavailable as error:
            return rules.xero_unavailable(str(error), error.retry_after)
        async with self._unit_of_work() as tx:
            await tx.audit.record(self._clock(), f"platform:{client.name}", "platform.token_issued",
                                  found.link.merchant_id, found.link.tenant_id, store_id=store_id,
                                  expires_at=tokens.expires_at.isoformat())
        return IssuedToken(tokens.access_token, tokens.expires_at, found.link.tenant_id, tokens.scopes)

    async def proxy(self, client: PlatformClient, store_id: str, call: ProxyCall) -> ProxyAnswer | ApiRefusal:
        path = rules.proxy_path(call.path)
        if path is None:
            return rules.path_not_allowed()
        found = await self._usable(client, store_id, Operation.PROXY)
        if isinstance(found, ApiRefusal):
            return found
        try:
            answer = await self._forward(found, call, force=False)
            if answer.status == 401 and not rules.scope_refused(401, answer.headers.get("www-authenticate", "")):
                answer = await self._forward(found, call, force=True)     # expired early or revoked: once more
        except GrantBroken:
            return rules.broken(found)
        except BudgetExhausted as error:
            return rules.rate_limited(error.retry_after or 1, error.limit)
        except XeroUnavailable as error:
            self._degradation.failed(found.link.tenant_id, self._clock())
            return rules.xero_unavailable(str(error), error.retry_after)
        if rules.scope_refused(answer.status, answer.headers.get("www-authenticate", "")):
            return rules.missing_scope(found, self._wanted)
        await self._health_signal(found, answer.status)
        return replace(answer, headers={k: v for k, v in answer.headers.items() if k.lower() != "www-authenticate"})

    async def _health_signal(self, found: StoreConnection, status: int) -> None:
        """Xero's answer as a health signal: a 401 a refresh did not cure breaks the connection; a 403 breaks it
        only if /connections confirms the organisation is gone. 429s and 5xx only make it degraded."""
        if status == 429 or status >= 500:
            self._degradation.failed(found.link.tenant_id, self._clock())
            return
        self._degradation.succeeded(found.link.tenant_id)
        if status == 401:
            await self._break(found, BreakReason.AUTHORISATION_EXPIRED)
        elif status == 403:
            try:
                live = await self._tokens.with_token(found.grant_id, self._api.connections)
            except (GrantBroken, XeroUnavailable, TenantForbidden):
                return
            if found.link.tenant_id not in {c.tenant_id for c in live}:
                await self._break(found, BreakReason.REMOVED_IN_XERO)

    async def _break(self, found: StoreConnection, reason: BreakReason) -> None:
        async with self._unit_of_work() as tx:
            known = await tx.connections.get(found.link.merchant_id, found.link.tenant_id, lock=True)
            if known is not None:
                await self._breaks.mark(tx, known, reason, self._clock(), events.XERO_ACTOR)

    async def _forward(self, found: StoreConnection, call: ProxyCall, *, force: bool) -> ProxyAnswer:
        token = await self._tokens.access_token(found.grant_id, force=force)
        return await self._api.forward(token, found.link.tenant_id, call, max_wait=self._max_wait)

    async def _usable(self, client: PlatformClient, store_id: str,
                      operation: Operation) -> StoreConnection | ApiRefusal:
        """A connection that can take calls now; one needing new scopes still works for what it was granted."""
        found = await self._store(client, store_id, operation)
        if isinstance(found, ApiRefusal):
            return found
        if found.status(self._wanted) is rules.LinkStatus.BROKEN:
            return rules.broken(found)
        return found

    async def _store(self, client: PlatformClient, store_id: str, operation: Operation) -> StoreConnection | ApiRefusal:
        if not client.may(operation):
            return rules.operation_forbidden(client, operation)
        found = await self._reads.store(store_id)
        if found is None or not client.serves(found.link.merchant_id):
            return rules.not_connected(store_id)
        return found


class PlatformClients:
    """Named platform clients and their tokens (ops run `python -m oauth_gateway.clients`)."""

    def __init__(self, unit_of_work: UnitOfWork[PlatformWork], clock: Clock) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock

    async def register(self, client: PlatformClient, token: str) -> None:
        """Create or re-key a client: the token is kept only as a hash; an older token stops working."""
        if not rules.CLIENT_NAME.match(client.name):
            raise ValueError("a client name is 1-63 of a-z, 0-9, '-' and '_'")
        if len(token) < 32:
            raise ValueError("a platform client token needs at least 32 characters")
        async with self._unit_of_work() as tx:
            await tx.platform_clients.put(client, token_hash(token), self._clock())
            await tx.audit.record(self._clock(), "ops", "platform.client_registered", None, None, client=client.name,
                                  operations=sorted(op.value for op in client.operations))

    async def disable(self, name: str) -> bool:
        async with self._unit_of_work() as tx:
            done = await tx.platform_clients.disable(name, self._clock())
            if done:
                await tx.audit.record(self._clock(), "ops", "platform.client_disabled", None, None, client=name)
        return done

    async def listing(self) -> list[tuple[PlatformClient, datetime | None]]:
        async with self._unit_of_work() as tx:
            return await tx.platform_clients.listing()
