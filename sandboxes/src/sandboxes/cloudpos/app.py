"""Assembles the Cloud POS sandbox: platform API, support API, Back Office page and test controls."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

from sandboxes.cloudpos.api import build_api_router
from sandboxes.cloudpos.backoffice import build_backoffice_router
from sandboxes.cloudpos.control import Controls, build_control_router, seed
from sandboxes.cloudpos.guards import error_response, install_error_handlers
from sandboxes.cloudpos.settings import CloudPosSandboxSettings
from sandboxes.cloudpos.state import Clock, CloudPosState, iso, utc_now
from sandboxes.cloudpos.support import build_support_router

PLATFORM_PREFIX = "/api/v1/"
LOGGED_PREFIXES = ("/api/", "/support/")


def build_app(settings: CloudPosSandboxSettings, clock: Clock | None = None) -> FastAPI:
    """`clock` (returning an aware datetime) lets tests pin created_at / revoked_at."""
    app = FastAPI(title="Cloud POS sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    state = CloudPosState(clock or utc_now, settings.lockout_threshold)
    seed(state, settings)
    controls = Controls()
    app.state.cloudpos, app.state.controls, app.state.settings = state, controls, settings

    install_error_handlers(app)
    app.include_router(build_api_router(settings))
    app.include_router(build_support_router(settings))
    app.include_router(build_control_router(settings))
    app.include_router(build_backoffice_router())

    @app.middleware("http")
    async def faults_and_call_log(request: Request, call_next) -> Response:
        """Injected faults hit before authentication, like a load balancer returning 503."""
        path = request.url.path
        status = controls.take_fault() if path.startswith(PLATFORM_PREFIX) else None
        if status is not None:
            response = error_response(status, "sandbox_fault", "Injected fault from the Cloud POS sandbox.",
                                      {"Retry-After": "1"} if status in (429, 503) else None)
        else:
            response = await call_next(request)
        if path.startswith(LOGGED_PREFIXES):
            controls.record(iso(state.clock()), request.method, path, response.status_code)
        return response

    return app

