"""Assembles the Xero sandbox: login/identity host, API host (Connections + Accounting), the web app's invoice
page and test controls on one base URL."""

from __future__ import annotations

import asyncio
import logging
import uuid
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse

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


class AnswerDropped(Exception):
    """Raised once the status line of a dropped refresh answer is out: the server then closes the connection."""


def _not_a_dropped_answer(record: logging.LogRecord) -> bool:
    return not (record.exc_info and isinstance(record.exc_info[1], AnswerDropped))


class RefreshAnswerDrops:
    """Loses the answer of a refresh Xero has carried out (POST /connect/token, grant_type=refresh_token,
    200), as a timeout between the client and Xero would: the refresh token has rotated, the client never
    saw the new one. A share of them, set by /_sandbox/refresh-drops; the rest pass untouched."""

    def __init__(self, app, controls: Controls) -> None:
        self.app, self.controls = app, controls
        logging.getLogger("uvicorn.error").addFilter(_not_a_dropped_answer)  # a drop is not a server error

    async def __call__(self, scope, receive, send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/connect/token"
                or self.controls.drop_fraction <= 0):
            await self.app(scope, receive, send)
            return
        body, held = bytearray(), []

        async def capture() -> dict:
            message = await receive()
            body.extend(message.get("body", b""))
            return message

        async def hold(message: dict) -> None:
            held.append(message)
        await self.app(scope, capture, hold)
        refresh = parse_qs(body.decode(errors="replace")).get("grant_type") == ["refresh_token"]
        mode = (self.controls.drop_refresh_answer() if refresh and held and held[0]["status"] == 200 else None)
        if mode is None:
            for message in held:
                await send(message)
        elif mode == "504":
            await PlainTextResponse("Gateway Timeout", status_code=504)(scope, receive, send)
        else:
            await send(held[0])
            raise AnswerDropped("refresh answer dropped by /_sandbox/refresh-drops")


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
        controls.record({"at": clock.now().isoformat(), "method": request.method, "path": path,
                         "status": response.status_code, "tenant_id": request.headers.get("xero-tenant-id")})
        return response

    app.add_middleware(RefreshAnswerDrops, controls=controls)  # outermost: the call log shows Xero's own answer

    return app
