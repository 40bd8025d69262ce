"""The composition root: the only module that wires adapters, handlers and entrypoints."""

import contextlib
from collections.abc import AsyncIterator
from functools import partial
from importlib.resources import files

from fastapi import FastAPI

from shared.delivery import Migrations, unit_of_work
from shared.internal_api import install_error_handlers
from shared.metrics import instrument
from shared.ports import Clock, utc_now
from shared.runtime import ServiceRuntime, health_router

from .adapters.guarded_http import guarded_client
from .adapters.postgres import PgDeliveries, PgNotifierTransaction
from .adapters.smtp import SmtpSender
from .adapters.webhook import WebhookSender
from .dispatcher import Dispatcher
from .domain.delivery import Channel
from .entrypoints.routes import build_routes
from .entrypoints.subscribers import subscribe
from .handlers import CONSUMER, DeliveryAdmin, NotifierHandlers
from .ports import Sender
from .settings import NotifierSettings

MIGRATIONS = Migrations("notifier", files("notifier") / "migrations")


def build_app(settings: NotifierSettings, *, clock: Clock = utc_now) -> FastAPI:
    """`clock` lets tests move time by hand; `app.state.dispatcher.run_once()` steps the sender."""
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
    subscribe(runtime, NotifierHandlers(unit_of_work(lambda: runtime.pool, PgNotifierTransaction), settings.channels,
                                        clock, on_recorded=dispatcher.wake))
    if settings.dispatcher.enabled:
        runtime.background("dispatcher", partial(dispatcher.run, settings.dispatcher.poll_interval_seconds))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The webhook client closes last, once the runtime has stopped the dispatcher that sends with it."""
        async with contextlib.AsyncExitStack() as stack:
            if http:
                stack.push_async_callback(http.aclose)
            await stack.enter_async_context(runtime.lifespan(app))
            yield

    app = FastAPI(title="Helpdesk notifier", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health_router(runtime))
    instrument(app, runtime)
    app.include_router(build_routes(DeliveryAdmin(deliveries, clock), settings.api_token))
    app.state.runtime, app.state.dispatcher = runtime, dispatcher
    return app
