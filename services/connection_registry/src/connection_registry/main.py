"""The registry's composition root: the only module that wires adapters, handlers and entrypoints."""

from importlib.resources import files

from fastapi import FastAPI

from shared.delivery import Migrations
from shared.runtime import ServiceRuntime, health_router

from .adapters.postgres import unit_of_work
from .entrypoints.subscribers import build_router
from .handlers import CONSUMER, RegistryHandlers
from .settings import RegistrySettings

MIGRATIONS = Migrations("connection_registry", files("connection_registry") / "migrations")


def build_app(settings: RegistrySettings) -> FastAPI:
    runtime = ServiceRuntime(CONSUMER, database=settings.database, kafka=settings.kafka, migrations=MIGRATIONS)
    handlers = RegistryHandlers(unit_of_work(lambda: runtime.pool))
    runtime.include(build_router(handlers, runtime.consumer_group))
    app = FastAPI(title="Connection registry", lifespan=runtime.lifespan)
    app.include_router(health_router(runtime))
    app.state.runtime = runtime
    return app
