"""The composition root: the only module that wires adapters, handlers and entrypoints."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response

from shared.contracts import OrgDisconnected, OrgSelected, StoreConnected
from shared.delivery import Migrations, apply_migrations
from shared.ratelimit import RATE_LIMIT_MIGRATIONS
from shared.metrics import instrument
from shared.runtime import ServiceRuntime, health_router
from shared.tracing import inject_httpx

from .adapters.budget import TenantBudget
from .adapters.crypto import TokenCipher
from .adapters.postgres import unit_of_work
from .adapters.services import CloudPosClient, KeyValidatorClient, RegistryClient
from .adapters.xero_api import XeroApiClient
from .adapters.xero_identity import XeroIdentityClient
from .domain.problems import Problem
from .entrypoints.routes import build_routes
from .entrypoints.web import Web
from .handlers.common import Deps
from .handlers.gateway import GatewayHandlers, build_handlers
from .ports import Clock
from .settings import GatewaySettings

MIGRATIONS = Migrations("oauth_gateway", files("oauth_gateway") / "migrations")
log = logging.getLogger(__name__)


def build_app(settings: GatewaySettings, *, clock: Clock | None = None) -> FastAPI:
    """`clock` lets tests move time (session idle, flow expiry, keep-alive) together with the Xero sandbox."""
    runtime = ServiceRuntime("oauth_gateway", database=settings.database, kafka=settings.kafka, migrations=MIGRATIONS)
    runtime.publishes(StoreConnected, OrgSelected, OrgDisconnected)
    http = httpx.AsyncClient(timeout=settings.xero.timeout_seconds, follow_redirects=False,
                             event_hooks={"request": [inject_httpx]})  # one trace across services
    cipher = TokenCipher.from_base64({k: v.get_secret_value() for k, v in settings.token_keys.items()},
                                     settings.active_token_key_id)
    deps = Deps(
        unit_of_work=unit_of_work(lambda: runtime.pool, cipher), clock=clock or (lambda: datetime.now(UTC)),
        identity=XeroIdentityClient(settings.xero, http),
        api=XeroApiClient(settings.xero.api_base_url, http, TenantBudget(lambda: runtime.pool)),
        cloudpos=CloudPosClient(http, settings.cloudpos.base_url),
        key_validator=KeyValidatorClient(http, settings.key_validator.base_url,
                                         settings.key_validator.api_token.get_secret_value()),
        registry=RegistryClient(http, settings.registry.base_url, settings.registry.api_token.get_secret_value()),
        sealer=cipher, flow_ttl=timedelta(seconds=settings.flow_ttl_seconds),
        session_idle=timedelta(minutes=settings.session_idle_minutes),
        session_absolute=timedelta(hours=settings.session_absolute_hours))
    handlers = build_handlers(deps, settings.xero.issuer, timedelta(days=settings.keepalive_refresh_after_days))
    web = Web(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.lifespan(app):
            await apply_migrations(runtime.pool, RATE_LIMIT_MIGRATIONS)
            loop = _upkeep_loop(handlers, settings.keepalive_interval_seconds)
            try:
                yield
            finally:
                if loop:
                    loop.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await loop
                await http.aclose()

    app = FastAPI(title="Xero setup (oauth_gateway)", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.include_router(health_router(runtime))
    instrument(app, runtime)
    app.include_router(build_routes(handlers, web, urlsplit(settings.xero.redirect_uri).path))

    @app.exception_handler(Problem)
    async def problem_page(request: Request, problem: Problem) -> Response:
        return web.problem(request, problem)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.error("unexpected %s on %s %s", type(error).__name__, request.method, request.url.path,
                  exc_info=error)      # the path only: a callback's query string carries the code
        return web.problem(request, Problem(500, "unexpected", "Something went wrong",
                                            "Nothing was changed. Please try again; if it keeps happening, "
                                            "contact the Citrus-Lime Support Team."))

    app.state.runtime, app.state.handlers, app.state.settings = runtime, handlers, settings
    return app


def _upkeep_loop(handlers: GatewayHandlers, interval: float) -> "asyncio.Task[None] | None":
    if interval <= 0:
        return None

    async def run() -> None:
        while True:
            await asyncio.sleep(interval)
            await handlers.upkeep.run_once()

    return asyncio.create_task(run(), name="oauth_gateway-upkeep")
