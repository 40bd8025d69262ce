"""The registry's composition root: the only module that wires adapters, handlers and entrypoints."""

from importlib.resources import files

from fastapi import FastAPI
from starlette.types import Lifespan

from shared.contracts import ConnectionsChanged, SetupCompleted, SetupFinalised, StoreDisconnected
from shared.delivery import Migrations, unit_of_work
from shared.internal_api import install_error_handlers
from shared.metrics import instrument
from shared.ports import Clock, utc_now
from shared.runtime import ServiceRuntime, health_router

from .adapters.postgres import PgRegistryReads, PgRegistryTransaction
from .entrypoints.helpdesk import install_helpdesk
from .entrypoints.helpdesk_session import HelpdeskSessions
from .entrypoints.routes import build_router as build_routes
from .entrypoints.subscribers import subscribe
from .handlers import CONSUMER, RegistryHandlers
from .settings import RegistrySettings

MIGRATIONS = Migrations("connection_registry", files("connection_registry") / "migrations")


def build_app(settings: RegistrySettings, *, clock: Clock = utc_now) -> FastAPI:
    """`clock` exists for tests (the time of completion, finalisation and resend events)."""
    runtime = ServiceRuntime(CONSUMER, database=settings.database, kafka=settings.kafka, migrations=MIGRATIONS)
    runtime.publishes(StoreDisconnected, SetupCompleted, ConnectionsChanged, SetupFinalised)
    handlers = RegistryHandlers(unit_of_work(lambda: runtime.pool, PgRegistryTransaction),
                                PgRegistryReads(lambda: runtime.pool), clock=clock)
    subscribe(runtime, handlers)
    app = build_http(handlers, settings, clock=clock, lifespan=runtime.lifespan)
    app.include_router(health_router(runtime))
    instrument(app, runtime)
    app.state.runtime = runtime
    return app


def build_http(handlers: RegistryHandlers, settings: RegistrySettings, *, clock: Clock = utc_now,
               lifespan: Lifespan[FastAPI] | None = None) -> FastAPI:
    """The HTTP side alone (the API and the helpdesk pages), which tests also mount over fakes."""
    app = FastAPI(title="Connection registry", version="1", lifespan=lifespan,
                  description="The source of truth for merchants, stores, Xero organisations and their links.")
    install_error_handlers(app)
    app.include_router(build_routes(handlers, settings.api_token))
    sessions = HelpdeskSessions(settings.helpdesk_token, hours=settings.helpdesk_session_hours, clock=clock)
    install_helpdesk(app, sessions, secure_cookie=settings.helpdesk_secure_cookie)
    app.state.handlers = handlers
    return app
