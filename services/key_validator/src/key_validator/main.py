"""The composition root: the only module that wires adapters, handlers and entrypoints."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from importlib.resources import files

import httpx
from fastapi import FastAPI

from shared.contracts import KeyValidated, MerchantErased
from shared.delivery import Migrations, unit_of_work
from shared.erasure import PgErasure
from shared.http_limits import BodyLimit, Cap
from shared.internal_api import body_refusal
from shared.metrics import instrument
from shared import retention
from shared.ports import Clock, utc_now
from shared.ratelimit import RATE_LIMIT_MIGRATIONS, Limit
from shared.runtime import ServiceRuntime, internal_app

from . import domain, erasure
from .adapters.cloudpos import HttpCloudPos
from .adapters.postgres import PgValidatorTransaction
from .adapters.retention import retention_rules
from .entrypoints.errors import install_error_handlers
from .entrypoints.routes import build_router
from .handlers import AttemptLimits, KeyValidatorHandlers
from .settings import KeyValidatorSettings, RateLimitSettings

MIGRATIONS = Migrations("key_validator", files("key_validator") / "migrations")


def build_app(settings: KeyValidatorSettings, *, clock: Clock = utc_now,
              cloudpos_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """`clock` and `cloudpos_transport` exist for tests (to move time, to fake Cloud POS failures)."""
    runtime = ServiceRuntime("key_validator", database=settings.database, kafka=settings.kafka,
                             personal_data=settings.personal_data,
                             migrations=(RATE_LIMIT_MIGRATIONS, MIGRATIONS))
    retention.schedule(runtime, settings.retention, *retention_rules(settings.retention), clock=clock)
    runtime.publishes(KeyValidated)
    runtime.consumes(MerchantErased, PgErasure(runtime.name, lambda: runtime.pool, erasure.STATEMENTS).erase,
                     erasure.DESCRIPTION)
    cloudpos = HttpCloudPos(settings.cloudpos, transport=cloudpos_transport)
    handlers = KeyValidatorHandlers(
        unit_of_work(lambda: runtime.pool, PgValidatorTransaction), cloudpos, clock,
        partial(domain.fingerprint, secret=settings.key_fingerprint_secret.get_secret_value().encode()),
        attempt_limits(settings.rate_limit))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.lifespan(app), cloudpos.connected():
            yield

    app = FastAPI(title="Key validator", lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, caps=[Cap("/", settings.http.api_max_bytes, body_refusal)])
    instrument(app, runtime)
    app.include_router(build_router(handlers, settings.api_token))
    app.state.runtime, app.state.internal = runtime, internal_app(runtime)
    return app


def attempt_limits(settings: RateLimitSettings) -> AttemptLimits:
    window = timedelta(seconds=settings.window_seconds)
    return AttemptLimits(per_merchant=Limit(settings.failures_per_merchant, window),
                         per_client_address=Limit(settings.failures_per_client_address, window))
