"""The one way into a tenant-scoped Accounting route (Organisation included), in Xero's order:

token (401) -> scope for the resource (401 insufficient_scope) -> xero-tenant-id connected to the token's user
(403 AuthenticationUnsuccessful) -> rate limits (429) -> the call is in flight: API delay, Idempotency-Key, the
route's own answer. Every answer that got past the limiter, success or 400/404, carries the X-*-Remaining headers.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response

from sandboxes.xero.idempotency import MAX_KEY_LENGTH, WRITE_METHODS, IdempotencyStore
from sandboxes.xero.oidc import bearer
from sandboxes.xero.problems import api_problem, unauthorized, validation_exception
from sandboxes.xero.ratelimit import RateLimiter
from sandboxes.xero.render import answer
from sandboxes.xero.state import XeroState
from sandboxes.xero.tokens import Signer

log = logging.getLogger(__name__)
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
READ, WRITE = False, True
XERO_500 = ("An error occurred in Xero. Check the API Status page http://status.developer.xero.com for current "
            "service status.")


@dataclass(frozen=True)
class Access:
    """Scopes that let a token read or write one kind of resource; any write scope also reads."""
    read: frozenset[str]
    write: frozenset[str]

    def allows(self, scopes: set[str], write: bool) -> bool:
        return bool((self.write if write else self.read | self.write) & scopes)


def _access(*granular: str, broad: str | None = None) -> Access:
    bases = [*granular, *([broad] if broad else [])]
    return Access(frozenset(f"{b}.read" for b in bases), frozenset(bases))


RESOURCES = {
    "settings": _access("accounting.settings"),  # Organisation, Accounts, TaxRates
    "contacts": _access("accounting.contacts"),
    "invoices": _access("accounting.invoices", broad="accounting.transactions"),
    "payments": _access("accounting.payments", broad="accounting.transactions"),
}


@dataclass
class TenantCall:
    """An admitted call: who is asking, for which org, and the limit headers its answer must carry."""
    claims: dict
    tenant_id: str
    org: dict
    headers: dict[str, str]

    @property
    def client_id(self) -> str:
        return self.claims["client_id"]


Handler = Callable[[TenantCall], Awaitable[Response]]


class TenantGate:
    def __init__(self, state: XeroState, signer: Signer, limiter: RateLimiter, controls) -> None:
        self.state, self.signer, self.limiter, self.controls = state, signer, limiter, controls

    def authenticate(self, request: Request) -> tuple[dict | None, str]:
        token = bearer(request)
        if token is None:
            return None, "AuthorizationUnsuccessful"
        claims, problem = self.signer.verify(token)
        return claims, problem or ""

    def admit(self, request: Request, resource: str, write: bool) -> TenantCall | Response:
        claims, problem = self.authenticate(request)
        if claims is None:
            return unauthorized(problem)
        if not RESOURCES[resource].allows(set(claims.get("scope", [])), write):
            return unauthorized("AuthorizationUnsuccessful", scope_problem=True)
        tenant_id = (request.headers.get("xero-tenant-id") or "").strip().lower()
        org = self.state.orgs.get(tenant_id) if UUID_RE.match(tenant_id) else None
        if (org is None or org["OrganisationStatus"] != "ACTIVE"
                or self.state.find_connection(claims["sub"], claims["client_id"], tenant_id) is None):
            return api_problem(403, "AuthenticationUnsuccessful")
        decision = self.limiter.acquire(tenant_id)
        if decision.problem:
            return decision.rejection()
        return TenantCall(claims, tenant_id, org, decision.headers)

    async def serve(self, request: Request, resource: str, write: bool, handler: Handler) -> Response:
        """Admit, run the route while the call counts as in flight, then stamp the limit headers."""
        call = self.admit(request, resource, write)
        if isinstance(call, Response):
            return call
        try:
            response = await self._run(request, call, write, handler)
        finally:
            self.limiter.release(call.tenant_id)
        response.headers.update(call.headers)
        return response

    async def _run(self, request: Request, call: TenantCall, write: bool, handler: Handler) -> Response:
        key = (request.headers.get("idempotency-key") or "").strip()
        if not (write and key and request.method in WRITE_METHODS):
            await self._hold()
            return await handler(call)
        if len(key) > MAX_KEY_LENGTH:
            return answer(request, validation_exception(
                [], f"Idempotency Key cannot be longer than {MAX_KEY_LENGTH} characters."), 400, "ApiException")
        store: IdempotencyStore = self.state.idempotency
        fingerprint = store.fingerprint(request.method, request.url.path, request.url.query, await request.body())
        outcome, entry = store.claim((call.client_id, call.tenant_id, key), fingerprint)
        if outcome == "conflict":
            return answer(request, validation_exception(
                [], f"Idempotency Key: {key} is used with a different request."), 400, "ApiException")
        if outcome == "replay":
            await entry.done.wait()
            return Response(entry.body, entry.status, media_type=entry.media_type)
        try:
            await self._hold()
            response = await handler(call)
        except Exception:  # Xero keeps an internal error under the key too, and replays it
            log.exception("accounting handler failed")
            response = PlainTextResponse(XERO_500, status_code=500)
        except BaseException:  # cancelled: never leave a waiting repeat hanging
            store.finish(entry, 500, XERO_500.encode(), "text/plain")
            raise
        store.finish(entry, response.status_code, bytes(response.body), response.media_type)
        return response

    async def _hold(self) -> None:
        """`/_sandbox/latency` without paths: keep the call in flight (counted as concurrent) a while."""
        if self.controls.api_delay > 0:
            await asyncio.sleep(self.controls.api_delay)
