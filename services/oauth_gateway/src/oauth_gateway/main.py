"""The composition root: the only module that wires adapters, handlers and entrypoints."""

from importlib.resources import files

from fastapi import FastAPI

from shared.delivery import Migrations
from shared.runtime import ServiceRuntime, health_router

from .settings import GatewaySettings

MIGRATIONS = Migrations("oauth_gateway", files("oauth_gateway") / "migrations")


def build_app(settings: GatewaySettings) -> FastAPI:
    runtime = ServiceRuntime("oauth_gateway", database=settings.database, kafka=settings.kafka, migrations=MIGRATIONS)
    app = FastAPI(title="Xero setup (oauth_gateway)", lifespan=runtime.lifespan)
    app.include_router(health_router(runtime))
    app.state.runtime = runtime
    return app
