"""The composition root: the only module that wires adapters, handlers and entrypoints."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from importlib.resources import files

from fastapi import FastAPI

from shared.delivery import Migrations
from shared.internal_api import install_error_handlers
from shared.metrics import instrument
from shared.runtime import ServiceRuntime, health_router

from .adapters.clock import SystemClock
from .adapters.guarded_http import guarded_client
from .adapters.postgres import PgDeliveries, unit_of_work
from .adapters.smtp import SmtpSender
from .adapters.webhook import WebhookSender
from .dispatcher import Dispatcher
from .domain.delivery import Channel
from .entrypoints.routes import build_routes
from .entrypoints.subscribers import subscribe
from .handlers import CONSUMER, DeliveryAdmin, NotifierHandlers
from .ports import Clock, Sender
from .settings import NotifierSettings

MIGRATIONS = Migrations("notifier", files("notifier") / "migrations")


def build_app(settings: NotifierSettings, *, clock: Clock | None = None) -> FastAPI:
    """`clock` lets tests move time by hand; `app.state.dispatcher.run_once()` steps the sender."""
    clock = clock or SystemClock()
    runtime = ServiceRuntime(CONSUMER, database=settings.database, kafka=settings.kafka, migrations=MIGRATIONS)
    deliveries = PgDeliveries(lambda: runtime.pool)
    http = guarded_client(timeout=settings.webhook.timeout_seconds,
                          allow_loopback=settings.webhook.allow_insecure_loopback) if settings.webhook else None
    senders: dict[Channel, Sender] = {}
    if settings.email:
        senders[Channel.EMAIL] = SmtpSender(settings.email)
    if settings.webhook and http:
        senders[Channel.WEBHOOK] = WebhookSender(settings.webhook.url, settings.webhook.secret.get_secret_value(),
                                                 http)
    dispatcher = Dispatcher(deliveries, senders, clock, settings.retry.policy(),
                            batch_size=settings.dispatcher.batch_size, attempt_timeout=settings.attempt_timeout,
                            lease=settings.dispatcher.lease_seconds)
    subscribe(runtime, NotifierHandlers(unit_of_work(lambda: runtime.pool), settings.channels, clock,
                                        on_recorded=dispatcher.wake))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.lifespan(app), contextlib.AsyncExitStack() as stack:
            if http:
                stack.push_async_callback(http.aclose)
            if settings.dispatcher.enabled:
                task = asyncio.create_task(dispatcher.run(settings.dispatcher.poll_interval_seconds),
                                           name="notifier-dispatcher")
                stack.push_async_callback(_cancel, task)
            yield

    app = FastAPI(title="Helpdesk notifier", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health_router(runtime))
    instrument(app, runtime)
    app.include_router(build_routes(DeliveryAdmin(deliveries, clock), settings.api_token))
    app.state.runtime, app.state.dispatcher = runtime, dispatcher
    return app


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
