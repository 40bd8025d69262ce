"""The composition root: the only module that wires adapters, handlers and entrypoints."""

import contextlib
from collections.abc import AsyncIterator
from functools import partial
from importlib.resources import files

import httpx
from fastapi import FastAPI

from shared.contracts import MerchantErased
from shared.delivery import Migrations, unit_of_work
from shared.erasure import PgErasure, unless_erased
from shared.http_limits import BodyLimit, Cap
from shared.internal_api import body_refusal, install_error_handlers
from shared.metrics import instrument
from shared import retention
from shared.ports import Clock, utc_now
from shared.runtime import ServiceRuntime, internal_app

from . import erasure
from .adapters.cloudpos import HttpCloudPos
from .adapters.guarded_http import guarded_client
from .adapters.merchant_mail import MerchantMailer
from .adapters.postgres import PgDeliveries, PgNotifierTransaction
from .adapters.retention import retention_rules
from .adapters.smtp import SmtpSender
from .adapters.webhook import WebhookSender
from .connection_health import ConnectionHealth, ReminderStops
from .dispatcher import Dispatcher
from .domain.delivery import Channel
from .entrypoints.pages import body_refused, build_pages
from .entrypoints.routes import build_routes
from .entrypoints.subscribers import subscribe
from .handlers import CONSUMER, DeliveryAdmin, NotifierHandlers
from .ports import Sender
from .settings import NotifierSettings

MIGRATIONS = Migrations("notifier", files("notifier") / "migrations")


def build_app(settings: NotifierSettings, *, clock: Clock = utc_now) -> FastAPI:
    """`clock` lets tests move time by hand; `app.state.dispatcher.run_once()` steps the sender."""
    runtime = ServiceRuntime(CONSUMER, database=settings.database, kafka=settings.kafka,
                             personal_data=settings.personal_data,
                             migrations=MIGRATIONS)
    retention.schedule(runtime, settings.retention, *retention_rules(settings.retention), clock=clock)
    deliveries = PgDeliveries(lambda: runtime.pool)
    transactions = unit_of_work(lambda: runtime.pool, PgNotifierTransaction)
    http = guarded_client(timeout=settings.webhook.timeout_seconds,
                          allow_loopback=settings.webhook.allow_insecure_loopback) if settings.webhook else None
    cloudpos = HttpCloudPos(settings.cloudpos)
    link_secret = settings.reminder_link_secret.get_secret_value().encode()
    dispatcher = Dispatcher(deliveries, _senders(settings, http, cloudpos, link_secret), clock, settings.retry.policy(),
                            batch_size=settings.dispatcher.batch_size, attempt_timeout=settings.attempt_timeout,
                            lease=settings.dispatcher.lease_seconds, helpdesk=settings.channels,
                            concurrency=settings.dispatcher.concurrency,
                            channel_concurrency=settings.dispatcher.channel_concurrency)
    erased = PgErasure(CONSUMER, lambda: runtime.pool, erasure.STATEMENTS)
    subscribe(runtime, NotifierHandlers(transactions, settings.channels, clock, on_recorded=dispatcher.wake),
              ConnectionHealth(transactions, settings.channels, settings.reminders, clock, on_recorded=dispatcher.wake),
              guard=partial(unless_erased, erased))
    runtime.consumes(MerchantErased, erased.erase, erasure.DESCRIPTION)
    if settings.dispatcher.enabled:
        runtime.background("dispatcher", partial(dispatcher.run, settings.dispatcher.poll_interval_seconds))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The HTTP clients close last, once the runtime has stopped the dispatcher that sends with them."""
        async with contextlib.AsyncExitStack() as stack:
            if http:
                stack.push_async_callback(http.aclose)
            await stack.enter_async_context(cloudpos.connected())
            await stack.enter_async_context(runtime.lifespan(app))
            yield

    app = FastAPI(title="Helpdesk notifier", lifespan=lifespan)
    install_error_handlers(app)
    # the stop page's one-click POST (RFC 8058) may come multipart from a mail client: its body is never parsed
    app.add_middleware(BodyLimit, caps=[Cap("/", settings.http.api_max_bytes, body_refusal),
                                        Cap("/reminders", settings.http.form_max_bytes, body_refused)])
    instrument(app, runtime)
    app.include_router(build_routes(DeliveryAdmin(deliveries, clock), settings.api_token))
    app.include_router(build_pages(ReminderStops(transactions, link_secret, clock)))
    app.state.runtime, app.state.dispatcher, app.state.internal = runtime, dispatcher, internal_app(runtime)
    return app


def _senders(settings: NotifierSettings, http: httpx.AsyncClient | None, cloudpos: HttpCloudPos,
             link_secret: bytes) -> dict[Channel, Sender]:
    """The helpdesk's configured channels, and the merchant's email."""
    senders: dict[Channel, Sender] = {Channel.MERCHANT_EMAIL: MerchantMailer(
        cloudpos, settings.merchant_email, settings.public_base_url, link_secret,
        setup_page_url=settings.setup_page_url)}
    if settings.email:
        senders[Channel.EMAIL] = SmtpSender(settings.email)
    if settings.webhook and http:
        senders[Channel.WEBHOOK] = WebhookSender(settings.webhook.url, settings.webhook.secret.get_secret_value(),
                                                 http)
    return senders
