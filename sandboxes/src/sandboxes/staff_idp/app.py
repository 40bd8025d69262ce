"""Assembles the staff identity sandbox: discovery, keys, the browser side and the back channel on one base URL."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request, Response

from sandboxes.signing import RsaSigner
from sandboxes.staff_idp.authorize import build_browser_router, build_logout_router
from sandboxes.staff_idp.oidc import build_oidc_router
from sandboxes.staff_idp.settings import StaffIdpSandboxSettings
from sandboxes.staff_idp.state import Clock, StaffIdpState


def build_app(settings: StaffIdpSandboxSettings, clock: Clock = time.time) -> FastAPI:
    """`clock` (seconds since the epoch) lets tests move the provider's time: codes, tokens and sessions read it."""
    app = FastAPI(title="Staff identity sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    state = StaffIdpState(settings, clock)
    pem = settings.signing_key_pem.get_secret_value() if settings.signing_key_pem else None
    signer = RsaSigner("staff-idp.sandbox", pem)
    app.state.staff_idp, app.state.signer = state, signer
    app.include_router(build_oidc_router(state, settings, signer))
    app.include_router(build_browser_router(state, settings))
    app.include_router(build_logout_router(state, settings, signer))

    @app.middleware("http")
    async def no_referrer(request: Request, call_next) -> Response:
        """Codes travel in query strings: never leak them onward in a Referer."""
        response = await call_next(request)
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return app
