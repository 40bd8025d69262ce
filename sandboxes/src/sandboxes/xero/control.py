"""/_sandbox test controls: clock, faults, latency, Xero-side disconnects, token expiry, state and reset,
a read of each org's invoices, and for benchmarks: seeding many connected users, call counters, and losing
a share of refresh answers.

Every route needs the x-sandbox-control-token header; none of this exists on real Xero.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import uuid
from collections import Counter, deque
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandboxes.xero.accounting import payment_json
from sandboxes.xero.clock import xero_datetime
from sandboxes.xero.invoices import invoice_json
from sandboxes.xero.ratelimit import RateLimiter
from sandboxes.xero.seed import seed_users
from sandboxes.xero.settings import XeroSandboxSettings
from sandboxes.xero.state import XeroState

API_PREFIXES = ("/connections", "/api.xro/")     # the API host: what Xero's app minute limit counts


class Controls:
    """Mutable test knobs plus the log of every non-control call (method, path, status), capped to the last
    `call_log_limit` calls, and counters of all of them (a benchmark makes hundreds of thousands)."""

    def __init__(self, call_log_limit: int = 100_000) -> None:
        self.call_log_limit = call_log_limit
        self.reset()

    def reset(self) -> None:
        self.fault_count, self.fault_status, self.fault_prefix = 0, 503, ""
        self.fault_retry_after, self.fault_problem = 1, "minute"
        self.api_delay = 0.0
        self.slow_prefix, self.slow_seconds = "", 0.0
        self.calls: deque[dict] = deque(maxlen=self.call_log_limit)
        self.counts: Counter[tuple[str, str, int]] = Counter()
        self.drop_fraction, self.drop_mode, self.dropped = 0.0, "504", 0
        self._drop_dice = random.Random()

    def record(self, call: dict) -> None:
        self.calls.append(call)
        self.counts[(call["method"], route_of(call["path"]), call["status"])] += 1

    def set_drops(self, fraction: float, mode: str, seed: int | None) -> None:
        self.drop_fraction, self.drop_mode = fraction, mode
        if seed is not None:
            self._drop_dice.seed(seed)

    def drop_refresh_answer(self) -> str | None:
        """Whether (and how) to lose the answer of a refresh Xero has just carried out: "504" or "abort"."""
        if self.drop_fraction > 0 and self._drop_dice.random() < self.drop_fraction:
            self.dropped += 1
            return self.drop_mode
        return None

    def totals(self) -> dict:
        """Calls so far by host and by route and status; `api` is what counts against the app's limit."""
        by_route: dict[str, dict[str, int]] = {}
        for (method, route, status), n in sorted(self.counts.items()):
            by_route.setdefault(f"{method} {route}", {})[str(status)] = n
        api = sum(n for (_, route, _), n in self.counts.items() if route.startswith(API_PREFIXES))
        return {"total": sum(self.counts.values()), "api": api, "by_route": by_route}

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


def route_of(path: str) -> str:
    """The route a path took, with ids collapsed (/connections/{id}), so counters stay few."""
    lowered = path.lower()
    if lowered.startswith("/connections/"):
        return "/connections/{id}"
    if lowered.startswith("/api.xro/"):
        return "/".join(lowered.split("/")[:4])     # /api.xro/2.0/<resource>
    return path


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


class Seed(BaseModel):
    users: int = Field(ge=1, le=50_000)
    orgs_per_user: int = Field(default=1, ge=1, le=10)
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email", "offline_access",
                                                       "accounting.settings.read"])
    prefix: str = Field(default="Seeded", pattern=r"^[A-Za-z][A-Za-z0-9]{0,19}$")


class RefreshDrops(BaseModel):
    fraction: float = Field(ge=0, le=1, description="share of successful refreshes whose answer is lost")
    mode: Literal["504", "abort"] = Field(
        default="504", description="504: a Gateway Timeout instead of the tokens; abort: the connection is closed "
                                   "after the status line, before the body")
    seed: int | None = Field(default=None, description="seed the dice, for a repeatable run")


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
                "grants": grants, "calls": list(controls.calls),
                "faults": {"count": controls.fault_count, "status": controls.fault_status,
                           "paths": controls.fault_prefix},
                "limits": limiter.snapshot(),
                "organisations": [{"OrganisationID": o["OrganisationID"], "Name": o["Name"],
                                   "Class": o["Class"], "OrganisationStatus": o["OrganisationStatus"]}
                                  for o in state.orgs.values()]}

    @router.post("/seed")
    async def seed(body: Seed) -> JSONResponse:
        """`users` new users, each connected to `orgs_per_user` new organisations with a refresh token."""
        unknown = sorted(set(body.scopes) - set(settings.allowed_scopes))
        if unknown:
            raise HTTPException(400, f"scopes not allowed for this app: {' '.join(unknown)}")
        seeded = seed_users(state, body.users, body.orgs_per_user, body.scopes, body.prefix)
        return JSONResponse({"client_id": settings.client_id, "scopes": body.scopes, "users": seeded})

    @router.post("/refresh-drops")
    async def refresh_drops(body: RefreshDrops) -> dict:
        """Lose the answer of a share of refreshes AFTER the rotation: the old token is then only good for
        the grace period, which is what a client must use to recover."""
        controls.set_drops(body.fraction, body.mode, body.seed)
        return {"fraction": body.fraction, "mode": body.mode, "dropped": controls.dropped}

    @router.get("/stats")
    async def stats() -> dict:
        """Counters only, cheap at any size (unlike /state, which lists every connection and token)."""
        return {"now": clock.now().isoformat(), "users": len(state.users), "organisations": len(state.orgs),
                "connections": len(state.connections), "refresh_tokens": len(state.refresh_tokens),
                "calls": controls.totals(), "dropped_refresh_answers": controls.dropped,
                "refresh_drops": {"fraction": controls.drop_fraction, "mode": controls.drop_mode}}

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
