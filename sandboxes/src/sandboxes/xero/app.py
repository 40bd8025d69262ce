"""Assembles the Xero sandbox: login/identity host, API host (Connections + Accounting), the web app's invoice
page and test controls on one base URL."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import FastAPI, Request, Response

from sandboxes.xero.accounting_api import build_accounting_router
from sandboxes.xero.api import build_api_router
from sandboxes.xero.authorize import build_authorize_router
from sandboxes.xero.clock import Clock
from sandboxes.xero.control import Controls, build_control_router
from sandboxes.xero.gate import TenantGate
from sandboxes.xero.oidc import build_oidc_router
from sandboxes.xero.problems import injected_fault
from sandboxes.xero.ratelimit import RateLimiter
from sandboxes.xero.settings import XeroSandboxSettings
from sandboxes.xero.state import XeroState
from sandboxes.xero.tokens import Signer
from sandboxes.xero.webapp import build_webapp_router

IDENTITY_PREFIXES = ("/connect/", "/identity/", "/.well-known/")
CASE_INSENSITIVE = ("/connections", "/api.xro/")


class CaseInsensitivePaths:
    """Xero matches /Connections and /connections (and API resource names) alike; normalise before routing."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            lowered = path.lower()
            if lowered.startswith("/api.xro/"):
                scope = {**scope, "path": lowered, "raw_path": lowered.encode()}
            elif lowered == "/connections" or lowered.startswith("/connections/"):
                fixed = "/connections" + path[len("/connections"):]
                scope = {**scope, "path": fixed, "raw_path": fixed.encode()}
        await self.app(scope, receive, send)


def build_app(settings: XeroSandboxSettings, clock: Clock | None = None) -> FastAPI:
    """`clock` lets tests share the sandbox's notion of time; all expiry and limits read it."""
    clock = clock or Clock()
    app = FastAPI(title="Xero sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    state = XeroState(clock, settings)
    pem = settings.signing_key_pem.get_secret_value() if settings.signing_key_pem else None
    signer = Signer(settings.issuer, clock, pem)
    limiter, controls = RateLimiter(clock, settings), Controls()
    app.state.xero, app.state.signer, app.state.controls, app.state.clock = state, signer, controls, clock

    gate = TenantGate(state, signer, limiter, controls)
    app.include_router(build_authorize_router(state, settings))
    app.include_router(build_accounting_router(state, settings, gate))  # before the api.xro catch-all 404
    app.include_router(build_api_router(state, settings, gate, limiter))
    app.include_router(build_webapp_router(state))
    app.include_router(build_oidc_router(state, settings, signer))
    app.include_router(build_control_router(state, settings, limiter, controls))
    app.add_middleware(CaseInsensitivePaths)

    @app.middleware("http")
    async def faults_and_call_log(request: Request, call_next) -> Response:
        """Injected faults hit before authentication, like an upstream outage; every call is logged."""
        path = request.url.path
        if path.startswith("/_sandbox/"):
            return await call_next(request)
        if delay := controls.delay_for(path):
            await request.body()  # read now: the call is handled even if the client has gone meanwhile
            await asyncio.sleep(delay)
        status = controls.take_fault(path)
        if status is not None:
            response = injected_fault(status, path.startswith(IDENTITY_PREFIXES), controls.fault_retry_after,
                                      controls.fault_problem)
        else:
            response = await call_next(request)
        response.headers["Server"] = "Kestrel"
        response.headers["Xero-Correlation-Id"] = str(uuid.uuid4())
        controls.calls.append({"at": clock.now().isoformat(), "method": request.method, "path": path,
                               "status": response.status_code,
                               "tenant_id": request.headers.get("xero-tenant-id")})
        return response

    return app
