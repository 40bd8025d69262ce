"""The composition root: the only module that wires adapters, handlers and entrypoints."""

from importlib.resources import files

from fastapi import FastAPI

from shared.contracts import KeyValidated
from shared.delivery import Migrations
from shared.runtime import ServiceRuntime, health_router

from .settings import KeyValidatorSettings

MIGRATIONS = Migrations("key_validator", files("key_validator") / "migrations")


def build_app(settings: KeyValidatorSettings) -> FastAPI:
    runtime = ServiceRuntime("key_validator", database=settings.database, kafka=settings.kafka, migrations=MIGRATIONS)
    runtime.publishes(KeyValidated)
    app = FastAPI(title="Key validator", lifespan=runtime.lifespan)
    app.include_router(health_router(runtime))
    app.state.runtime = runtime
    return app
