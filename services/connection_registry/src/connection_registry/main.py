"""The registry's composition root: the only module that wires adapters, handlers and entrypoints."""

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from importlib.resources import files
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from shared.contracts import (ConnectionsChanged, MerchantErased, SetupCompleted, SetupFinalised,
                              SetupReminderRequested, StoreDisconnected)
from shared.delivery import Migrations, unit_of_work
from shared.http_limits import BodyLimit, Cap
from shared.internal_api import body_refusal, install_error_handlers
from shared.metrics import instrument
from shared.oidc import OidcClient
from shared import retention
from shared.ports import Clock, utc_now
from shared.runtime import ServiceRuntime, internal_app
from shared.tracing import inject_httpx

from .adapters.batch_writes import batch_unit_of_work
from .adapters.notifier import NotifierClient
from .adapters.postgres import PgRegistryReads, PgRegistryTransaction
from .adapters.retention import retention_rules
from .adapters.staff_identity import OidcStaffIdentity
from .adapters.staff_store import PgStaffStore
from .console import Console
from .domain.staff import RoleNames, SessionRules
from .entrypoints.helpdesk import body_refused, install_helpdesk
from .entrypoints.routes import build_erasure_router
from .entrypoints.routes import build_router as build_routes
from .erasure import Erasure
from .entrypoints.subscribers import subscribe
from .handlers import CONSUMER, RegistryHandlers
from .ports import Notifications, RegistryReads, StaffIdentityProvider, StaffStore
from .settings import RegistrySettings
from .staff_access import StaffAccess

MIGRATIONS = Migrations("connection_registry", files("connection_registry") / "migrations")
log = logging.getLogger(__name__)


class _NoKeyStore:
    """No key store configured (`personal_data` unset: tests, local runs): events carry personal fields plain, so
    there is no key to destroy; the erasure still removes every row."""

    async def forget(self, merchant_id: str) -> None:
        log.warning("no personal-data key store is configured: merchant %s has no key to destroy", merchant_id)


def build_app(settings: RegistrySettings, *, clock: Clock = utc_now) -> FastAPI:
    """`clock` exists for tests (the time of completion, finalisation and resend events)."""
    runtime = ServiceRuntime(CONSUMER, database=settings.database, kafka=settings.kafka,
                             personal_data=settings.personal_data,
                             migrations=MIGRATIONS)
    retention.schedule(runtime, settings.retention, *retention_rules(settings.retention), clock=clock)
    runtime.publishes(StoreDisconnected, SetupCompleted, ConnectionsChanged, SetupFinalised, SetupReminderRequested,
                      MerchantErased)
    reads = PgRegistryReads(lambda: runtime.pool)
    registry_uow = unit_of_work(lambda: runtime.pool, PgRegistryTransaction)
    handlers = RegistryHandlers(registry_uow, reads, clock=clock,
                                batch_unit_of_work=batch_unit_of_work(lambda: runtime.pool))
    erasure = Erasure(registry_uow, runtime.personal_data or _NoKeyStore(), clock=clock)
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
                     notifications=notifier, clock=clock, lifespan=lifespan, erasure=erasure)
    instrument(app, runtime)
    app.state.runtime, app.state.internal = runtime, internal_app(runtime)
    return app


def build_http(handlers: RegistryHandlers, reads: RegistryReads, settings: RegistrySettings, *,
               provider: StaffIdentityProvider, staff: StaffStore, notifications: Notifications,
               clock: Clock = utc_now, lifespan=None,  # noqa: ANN001 - a FastAPI lifespan
               erasure: Erasure | None = None) -> FastAPI:
    """The HTTP side alone (the API and the helpdesk console), which tests also mount over fakes."""
    app = FastAPI(title="Connection registry", version="1", lifespan=lifespan,
                  description="The source of truth for merchants, stores, Xero organisations and their links.")
    install_error_handlers(app)
    app.add_middleware(BodyLimit, caps=[
        Cap("/", settings.http.api_max_bytes, body_refusal),
        Cap("/helpdesk", settings.http.form_max_bytes, body_refused, urlencoded_only=True)])
    app.include_router(build_routes(handlers, settings.api_token))
    if erasure is not None:
        app.include_router(build_erasure_router(erasure, settings.api_token))
    identity, console = settings.staff_identity, settings.console
    names = RoleNames(identity.roles_claim, identity.agent_roles, identity.lead_roles)
    rules = SessionRules(lifetime=timedelta(hours=console.session_hours), idle=timedelta(minutes=console.idle_minutes))
    access = StaffAccess(provider, staff, names=names, rules=rules, clock=clock)
    desk = Console(handlers, reads, notifications, access, clock,
                   unfinished_after=timedelta(days=console.unfinished_after_days),
                   reminder_gap=timedelta(hours=console.reminder_gap_hours), erasure=erasure)
    origin = urlsplit(identity.issuer)
    install_helpdesk(app, desk, access, clock=clock, secure_cookie=console.secure_cookie,
                     provider_origin=f"{origin.scheme}://{origin.netloc}")
    app.state.handlers = handlers
    return app
