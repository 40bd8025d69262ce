"""The registry's composition root: the only module that wires adapters, handlers and entrypoints."""

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from importlib.resources import files
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from shared.contracts import (ConnectionsChanged, SetupCompleted, SetupFinalised, SetupReminderRequested,
                              StoreDisconnected)
from shared.delivery import Migrations, unit_of_work
from shared.internal_api import install_error_handlers
from shared.metrics import instrument
from shared.oidc import OidcClient
from shared.ports import Clock, utc_now
from shared.runtime import ServiceRuntime, health_router
from shared.tracing import inject_httpx

from .adapters.notifier import NotifierClient
from .adapters.postgres import PgRegistryReads, PgRegistryTransaction
from .adapters.staff_identity import OidcStaffIdentity
from .adapters.staff_store import PgStaffStore
from .console import Console
from .domain.staff import RoleNames, SessionRules
from .entrypoints.helpdesk import install_helpdesk
from .entrypoints.routes import build_router as build_routes
from .entrypoints.subscribers import subscribe
from .handlers import CONSUMER, RegistryHandlers
from .ports import Notifications, RegistryReads, StaffIdentityProvider, StaffStore
from .settings import RegistrySettings
from .staff_access import StaffAccess

MIGRATIONS = Migrations("connection_registry", files("connection_registry") / "migrations")


def build_app(settings: RegistrySettings, *, clock: Clock = utc_now) -> FastAPI:
    """`clock` exists for tests (the time of completion, finalisation and resend events)."""
    runtime = ServiceRuntime(CONSUMER, database=settings.database, kafka=settings.kafka, migrations=MIGRATIONS)
    runtime.publishes(StoreDisconnected, SetupCompleted, ConnectionsChanged, SetupFinalised, SetupReminderRequested)
    reads = PgRegistryReads(lambda: runtime.pool)
    handlers = RegistryHandlers(unit_of_work(lambda: runtime.pool, PgRegistryTransaction), reads, clock=clock)
    subscribe(runtime, handlers)
    http = httpx.AsyncClient(timeout=10, follow_redirects=False,
                             event_hooks={"request": [inject_httpx]})
    identity = settings.staff_identity
    provider = OidcStaffIdentity(
        OidcClient(identity.issuer, identity.client_id, identity.client_secret.get_secret_value(), http),
        redirect_uri=identity.redirect_uri, post_logout_redirect_uri=identity.post_logout_redirect_uri,
        scopes=identity.scopes)
    notifier = NotifierClient(settings.notifier.base_url, settings.notifier.api_token, http,
                              timeout=settings.notifier.timeout_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.lifespan(app), http:
            yield

    app = build_http(handlers, reads, settings, provider=provider, staff=PgStaffStore(lambda: runtime.pool),
                     notifications=notifier, clock=clock, lifespan=lifespan)
    app.include_router(health_router(runtime))
    instrument(app, runtime)
    app.state.runtime = runtime
    return app


def build_http(handlers: RegistryHandlers, reads: RegistryReads, settings: RegistrySettings, *,
               provider: StaffIdentityProvider, staff: StaffStore, notifications: Notifications,
               clock: Clock = utc_now, lifespan=None) -> FastAPI:  # noqa: ANN001 - a FastAPI lifespan
    """The HTTP side alone (the API and the helpdesk console), which tests also mount over fakes."""
    app = FastAPI(title="Connection registry", version="1", lifespan=lifespan,
                  description="The source of truth for merchants, stores, Xero organisations and their links.")
    install_error_handlers(app)
    app.include_router(build_routes(handlers, settings.api_token))
    identity, console = settings.staff_identity, settings.console
    names = RoleNames(identity.roles_claim, identity.agent_roles, identity.lead_roles)
    rules = SessionRules(lifetime=timedelta(hours=console.session_hours), idle=timedelta(minutes=console.idle_minutes))
    access = StaffAccess(provider, staff, names=names, rules=rules, clock=clock)
    desk = Console(handlers, reads, notifications, access, clock,
                   unfinished_after=timedelta(days=console.unfinished_after_days),
                   reminder_gap=timedelta(hours=console.reminder_gap_hours))
    origin = urlsplit(identity.issuer)
    install_helpdesk(app, desk, access, clock=clock, secure_cookie=console.secure_cookie,
                     provider_origin=f"{origin.scheme}://{origin.netloc}")
    app.state.handlers = handlers
    return app
