"""/_sandbox test controls: clock, faults, latency, Xero-side disconnects, token expiry, state and reset,
and a read of each org's invoices.

Every route needs the x-sandbox-control-token header; none of this exists on real Xero.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Header, HTTPException
from pydantic import BaseModel, Field

from sandboxes.xero.accounting import payment_json
from sandboxes.xero.clock import xero_datetime
from sandboxes.xero.invoices import invoice_json
from sandboxes.xero.ratelimit import RateLimiter
from sandboxes.xero.settings import XeroSandboxSettings
from sandboxes.xero.state import XeroState


class Controls:
    """Mutable test knobs plus the log of every non-control call (method, path, status)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.fault_count, self.fault_status, self.fault_prefix = 0, 503, ""
        self.fault_retry_after, self.fault_problem = 1, "minute"
        self.api_delay = 0.0
        self.slow_prefix, self.slow_seconds = "", 0.0
        self.calls: list[dict] = []

    def delay_for(self, path: str) -> float:
        """How long a call to `path` waits before it is handled (then handled as usual: a client that gave
        up meanwhile has lost an answer Xero did give, e.g. a code already exchanged)."""
        if self.slow_seconds > 0 and path.lower().startswith(self.slow_prefix.lower()):
            return self.slow_seconds
        return 0.0

    def take_fault(self, path: str) -> int | None:
        if self.fault_count > 0 and path.lower().startswith(self.fault_prefix.lower()):
            self.fault_count -= 1
            return self.fault_status
        return None


class Seconds(BaseModel):
    seconds: float


class Latency(BaseModel):
    seconds: float
    paths: str | None = Field(default=None, description="a path prefix (e.g. /connect/token): every call to it "
                                                         "waits first; without it, every tenant-scoped Accounting "
                                                         "call (Organisation, Invoices, ...) waits while in flight")


class SetClock(BaseModel):
    now: datetime


class Faults(BaseModel):
    count: int = Field(ge=0)
    status: int = Field(default=503, ge=400, le=599)
    paths: str | None = None
    retry_after: int = Field(default=1, ge=0, description="Retry-After seconds of an injected 429")
    problem: Literal["minute", "day", "appminute", "concurrent"] = Field(
        default="minute", description="X-Rate-Limit-Problem of an injected 429")


class ExpireRefresh(BaseModel):
    refresh_token: str | None = None


class OrgPatch(BaseModel):
    model_config = {"extra": "allow"}


def build_control_router(state: XeroState, settings: XeroSandboxSettings, limiter: RateLimiter,
                         controls: Controls) -> APIRouter:
    def guard(x_sandbox_control_token: str = Header(default="")) -> None:
        expected = settings.control_token.get_secret_value().encode()
        if not hmac.compare_digest(x_sandbox_control_token.encode(), expected):
            raise HTTPException(401, "control token missing or wrong")

    router = APIRouter(prefix="/_sandbox", dependencies=[Depends(guard)])
    clock = state.clock

    def org_or_404(tenant_id: str) -> dict:
        org = state.orgs.get(tenant_id.lower())
        if org is None:
            raise HTTPException(404, "unknown tenant")
        return org

    @router.get("/state")
    async def snapshot() -> dict:
        def conn(c) -> dict:
            return {"id": c.id, "authEventId": c.auth_event_id, "tenantId": c.tenant_id, "sub": c.sub,
                    "client_id": c.client_id, "createdDateUtc": xero_datetime(c.created_at),
                    "updatedDateUtc": xero_datetime(c.updated_at)}
        grants = [{"token_sha256": hashlib.sha256(r.token.encode()).hexdigest()[:16], "sub": r.grant.sub,
                   "auth_event_id": r.grant.auth_event_id, "scopes": r.grant.scopes,
                   "issued_at": r.issued_at.isoformat(),
                   "rotated_at": r.rotated_at.isoformat() if r.rotated_at else None,
                   "revoked": r.revoked, "usable": state.refresh_usable(r, r.grant.client_id)}
                  for r in state.refresh_tokens.values()]
        return {"now": clock.now().isoformat(), "connections": [conn(c) for c in state.connections.values()],
                "grants": grants, "calls": controls.calls,
                "faults": {"count": controls.fault_count, "status": controls.fault_status,
                           "paths": controls.fault_prefix},
                "limits": limiter.snapshot(),
                "organisations": [{"OrganisationID": o["OrganisationID"], "Name": o["Name"],
                                   "Class": o["Class"], "OrganisationStatus": o["OrganisationStatus"]}
                                  for o in state.orgs.values()]}

    @router.post("/reset")
    async def reset() -> dict:
        state.reset()
        limiter.reset()
        controls.reset()
        if hasattr(clock, "reset"):
            clock.reset()
        return {"ok": True, "now": clock.now().isoformat()}

    @router.post("/clock/advance")
    async def advance(body: Seconds) -> dict:
        return {"now": clock.advance(body.seconds).isoformat()}

    @router.post("/clock/set")
    async def set_clock(body: SetClock) -> dict:
        return {"now": clock.set(body.now).isoformat()}

    @router.post("/faults")
    async def faults(body: Faults) -> dict:
        controls.fault_count, controls.fault_status = body.count, body.status
        controls.fault_prefix = body.paths or ""
        controls.fault_retry_after, controls.fault_problem = body.retry_after, body.problem
        return {"count": body.count, "status": body.status, "paths": controls.fault_prefix,
                "retry_after": body.retry_after, "problem": body.problem}

    @router.post("/latency")
    async def latency(body: Latency) -> dict:
        if body.paths:
            controls.slow_prefix, controls.slow_seconds = body.paths, max(0.0, body.seconds)
            return {"seconds": controls.slow_seconds, "paths": controls.slow_prefix}
        controls.api_delay = max(0.0, body.seconds)
        return {"seconds": controls.api_delay}

    @router.post("/sessions/clear")
    async def clear_sessions() -> dict:
        state.sessions.clear()
        return {"ok": True}

    @router.post("/tenants/{tenant_id}/remove-app")
    async def remove_app(tenant_id: str) -> dict:
        """The user removed this app under Settings > Connected Apps in Xero."""
        org_or_404(tenant_id)
        return {"removed_connections": state.remove_tenant(tenant_id.lower(), settings.client_id)}

    @router.post("/tenants/{tenant_id}/delete-org")
    async def delete_org(tenant_id: str) -> dict:
        org = org_or_404(tenant_id)
        org["OrganisationStatus"] = "DELETED"
        return {"removed_connections": state.remove_tenant(org["OrganisationID"])}

    @router.post("/tenants/{tenant_id}/demo-reset")
    async def demo_reset(tenant_id: str) -> dict:
        """A Demo Company reset: same org, new tenantId, old connections gone."""
        old = org_or_404(tenant_id)
        removed = state.remove_tenant(old["OrganisationID"])
        new_id = str(uuid.uuid4())
        state.orgs.pop(old["OrganisationID"])
        state.orgs[new_id] = {**old, "OrganisationID": new_id}
        for user in state.users.values():
            user["tenant_ids"] = [new_id if t == old["OrganisationID"] else t for t in user["tenant_ids"]]
        return {"old_tenant_id": old["OrganisationID"], "new_tenant_id": new_id, "removed_connections": removed}

    @router.patch("/tenants/{tenant_id}")
    async def patch_org(tenant_id: str, body: OrgPatch) -> dict:
        """Change Class / Edition / IsDemoCompany / Name etc. of a fake org."""
        org = org_or_404(tenant_id)
        org.update({k: v for k, v in (body.model_extra or {}).items() if k != "OrganisationID"})
        return org

    @router.post("/refresh-tokens/expire")
    async def expire_refresh(body: ExpireRefresh) -> dict:
        """Make one (or every) refresh token look unused for longer than the idle limit."""
        past = clock.now() - timedelta(days=settings.refresh_idle_days, seconds=1)
        targets = ([state.refresh_tokens[body.refresh_token]] if body.refresh_token in state.refresh_tokens
                   else [] if body.refresh_token else list(state.refresh_tokens.values()))
        for entry in targets:
            entry.issued_at = past
        return {"expired": len(targets)}

    add_accounting_reads(router, state)
    return router


def add_accounting_reads(router: APIRouter, state: XeroState) -> None:
    @router.get("/tenants/{tenant_id}/invoices")
    async def tenant_invoices(tenant_id: str) -> dict:
        """Every invoice and payment of the org as the API would show them, and how many creates really ran
        (an idempotent replay or a refused batch creates nothing)."""
        org = state.orgs.get(tenant_id.lower())
        if org is None:
            raise HTTPException(404, "unknown tenant")
        books = state.accounting.books_for(org)
        return {"tenant_id": books.tenant_id,
                "invoices": [invoice_json(books, i) for i in books.invoices.values()],
                "payments": [payment_json(books, p) for p in books.payments.values()],
                "creates": books.creates["Invoices"],
                "creates_by_kind": {k: books.creates[k] for k in ("Invoices", "Payments", "Contacts")}}
