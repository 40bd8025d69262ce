"""The composition root: the only module that wires adapters, use cases and entrypoints."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime
from functools import partial
from importlib.resources import files
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from shared.delivery import Migrations, unit_of_work
from shared.http_limits import BodyLimit, Cap
from shared.internal_api import body_refusal, install_error_handlers
from shared.metrics import instrument
from shared.ports import Clock, utc_now
from shared.runtime import ServiceRuntime, internal_app

from .adapters.cloudpos import HttpCloudPosSales
from .adapters.platform_api import HttpPlatformXero
from .adapters.postgres import PgEventTransaction, PgLedger
from .entrypoints.subscribers import subscribe
from .handlers import CONSUMER, MerchantEvents
from .poster import DailyPoster
from .settings import DailySalesSettings

MIGRATIONS = Migrations("daily_sales", files("daily_sales") / "migrations")


def build_app(settings: DailySalesSettings, *, clock: Clock = utc_now,
              platform_transport: httpx.AsyncBaseTransport | None = None,
              cloudpos_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """`clock` lets tests (and a demo) choose "today"; `app.state.poster.run_once()` steps the posting; the
    transports let tests put an in-process platform API or Cloud POS behind the real adapters."""
    runtime = ServiceRuntime(CONSUMER, database=settings.database, kafka=settings.kafka, migrations=MIGRATIONS)
    sales = HttpCloudPosSales(settings.cloudpos, transport=cloudpos_transport)
    xero = HttpPlatformXero(settings.platform_api, transport=platform_transport)
    posting = settings.posting
    poster = DailyPoster(PgLedger(lambda: runtime.pool), sales, xero, clock,
                         local_date=local_date(ZoneInfo(posting.timezone)), days=posting.day_policy(),
                         rules=settings.invoice.rules(), retry=posting.retry_policy(), batch_size=posting.batch_size,
                         lease_seconds=posting.lease_seconds, attempt_timeout=settings.attempt_timeout)
    subscribe(runtime, MerchantEvents(unit_of_work(lambda: runtime.pool, PgEventTransaction), clock,
                                      on_change=poster.wake))
    runtime.background("poster", partial(poster.run, posting.poll_interval_seconds))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The HTTP clients open first and close last: the poster (stopped by the runtime) uses them."""
        async with sales.connected(), xero.connected(), runtime.lifespan(app):
            yield

    app = FastAPI(title="Daily sales to Xero (example)", lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, caps=[Cap("/", settings.http.api_max_bytes, body_refusal)])
    instrument(app, runtime)
    app.state.runtime, app.state.poster, app.state.settings = runtime, poster, settings
    app.state.internal = internal_app(runtime)
    return app


def local_date(zone: ZoneInfo) -> Callable[[datetime], date]:
    """The stores' calendar date at a moment: their day ends at midnight where they are, not in UTC."""
    return lambda moment: moment.astimezone(zone).date()
