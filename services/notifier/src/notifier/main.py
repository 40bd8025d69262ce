"""The composition root: the only module that wires adapters, handlers and entrypoints."""

from importlib.resources import files

from fastapi import FastAPI

from shared.delivery import Migrations
from shared.runtime import ServiceRuntime, health_router

from .settings import NotifierSettings

MIGRATIONS = Migrations("notifier", files("notifier") / "migrations")


def build_app(settings: NotifierSettings) -> FastAPI:
    runtime = ServiceRuntime("notifier", database=settings.database, kafka=settings.kafka, migrations=MIGRATIONS)
    app = FastAPI(title="Helpdesk notifier", lifespan=runtime.lifespan)
    app.include_router(health_router(runtime))
    app.state.runtime = runtime
    return app
