"""The process-level lifecycle every service shares: database pool and migrations, the outbox relay,
the Kafka broker with the delivery middleware, and the liveness/readiness endpoints.

A service's composition root builds one `ServiceRuntime`, adds its routers, and hands `runtime.lifespan`
to FastAPI; nothing here knows a service's domain.

PostgreSQL is required to start; Kafka is not. Everything a service publishes goes through its outbox, and
every HTTP API is served from its database, so a broker outage only delays events: the pool, migrations,
background work and HTTP come up at once, and the outbox producer, relay and consumers connect in the
background, retrying until the broker answers (`KafkaSettings.connect_wait_seconds` is how long start-up
waits for a healthy broker first, so a normal start is unchanged).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry

from .contracts import Event
from .contracts.asyncapi import Platform, Service, document
from .delivery.consumer import BatchHandle, Handle

from .delivery import (
    DELIVERY_MIGRATIONS,
    DeadLetters,
    EventConsumer,
    Migrations,
    OutboxRelay,
    apply_migrations,
    idempotent_producer,
    is_infrastructure,
    outbox_backlog,
    pending_migrations,
)
from .kafka_clients import broker_security
from .logs import configure_logging
from .retention import InboxHorizon
from .metrics import OUTBOX_AGE, OUTBOX_BACKLOG, metrics_endpoint
from .personal_data.vault import personal_data_from
from .settings import DatabaseSettings, KafkaSettings, PersonalDataSettings

log = logging.getLogger(__name__)
REQUIRED = ("postgres", "migrations")
"""The readiness checks a service cannot serve without: any other one failing (Kafka, the outbox relay) makes it
"degraded", still ready. See `health_router`."""


class ServiceRuntime:
    """Owns a service's pool, producer, relay and broker; `lifespan` starts and stops them in order."""

    def __init__(self, name: str, *, database: DatabaseSettings, kafka: KafkaSettings,
                 migrations: Migrations | tuple[Migrations, ...], gauge_refresh_seconds: float = 15.0,
                 personal_data: PersonalDataSettings | None = None) -> None:
        self.name = name
        self.personal_data = personal_data_from(personal_data)  # seals in the relay, opens in the consumers
        self.consumer_group = kafka.consumer_group or name
        self._database = database
        self._kafka = kafka
        own = migrations if isinstance(migrations, tuple) else (migrations,)
        self._migrations = (DELIVERY_MIGRATIONS, *own)
        self.dead_letters = DeadLetters(self.consumer_group)
        self._consumer = EventConsumer(self.consumer_group, self.dead_letters, personal_data=self.personal_data)
        self._inbox_horizon = InboxHorizon(name, lambda: self.pool)  # shared.retention: pruned claims stay applied
        self.metrics_registry = CollectorRegistry(auto_describe=True)
        # FastStream logs through a plain logger, so its lines go to the JSON handler too (shared.logs);
        # consumer spans are opened per record by the EventConsumer, which continues each record's trace
        self.broker = KafkaBroker(kafka.bootstrap_servers, client_id=name, security=broker_security(kafka),
                                  logger=logging.getLogger(f"{name}.kafka"), middlewares=[
            KafkaPrometheusMiddleware(registry=self.metrics_registry, app_name=name)])
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None
        self._relay: asyncio.Task[None] | None = None
        self._kafka_link: asyncio.Task[None] | None = None
        self._work: dict[str, Callable[[], Awaitable[None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._sends: list[type[Event]] = []
        self._receives: list[tuple[type[Event], str]] = []
        self._gauge_refresh_seconds = gauge_refresh_seconds
        self._gauges_read_at: float | None = None
        self._gauges_reading = asyncio.Lock()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._pool

    def consumes(self, event: type[Event], handle: Handle, description: str, batch: BatchHandle | None = None) -> None:
        """Subscribe `handle` (one CloudEvent, one transaction with its inbox claim) to `event`'s topic in
        this service's consumer group, with the delivery rules of `shared.delivery.consumer`; an event older
        than the inbox horizon counts as applied (`shared.retention`). `batch`: a partition's events in one
        transaction, `handle` one by one only when that fails."""
        self._consumer.subscribe(event, self._inbox_horizon.guard(handle), description,
                                 batch=self._inbox_horizon.guard_batch(batch) if batch is not None else None)
        self._receives.append((event, description))

    def publishes(self, *events: type[Event]) -> None:
        """Declare the events this service's outbox publishes, for the AsyncAPI document."""
        self._sends.extend(events)

    @property
    def published(self) -> tuple[type[Event], ...]:
        """The events declared with `publishes`."""
        return tuple(self._sends)

    @property
    def consumed(self) -> tuple[type[Event], ...]:
        """The events subscribed with `consumes` (with `published`, what the service's Kafka ACLs allow)."""
        return tuple(event for event, _ in self._receives)

    def background(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run()` as a task of this process from start (once the pool is up: what background work
        publishes goes through the outbox, so it never waits for Kafka) until stop, when it is cancelled and
        awaited: the one way a service starts background work."""
        self._work[f"{self.name}-{name}"] = run

    def asyncapi(self, version: str, platform: Platform) -> dict[str, Any]:
        """The service's AsyncAPI 3 document, from the events it declared with `publishes` and `consumes`
        (built here rather than by FastStream, whose document names neither the headers nor the key)."""
        return document(Service(self.name, version, self.consumer_group, tuple(self._sends), tuple(self._receives)),
                        platform)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI | None = None) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        # every session runs under the limits of DatabaseSettings: a frozen instance cannot hold locks forever
        async with asyncpg.create_pool(self._database.url, min_size=1, max_size=1,
                                       server_settings=self._database.server_settings(migrating=True)) as once:
            applied = await apply_migrations(once, *self._migrations)
        self._pool = await asyncpg.create_pool(self._database.url, min_size=self._database.pool_min_size,
                                               max_size=self._database.pool_max_size,
                                               server_settings=self._database.server_settings(),
                                               reset=_nothing_to_reset)
        if applied:
            log.info("%s applied migrations %s", self.name, applied)
        self._tasks = [asyncio.create_task(run(), name=name) for name, run in self._work.items()]
        self._kafka_link = asyncio.create_task(self._connect_kafka(), name=f"{self.name}-kafka-link")
        done, _ = await asyncio.wait({self._kafka_link}, timeout=self._kafka.connect_wait_seconds)
        if not done:
            log.warning("%s: Kafka is not reachable; serving without it, events wait in the outbox and the "
                        "consumers start once it answers", self.name)

    async def _connect_kafka(self) -> None:
        """The outbox producer (then the relay and the dead letters), then the consumers: each retried until
        the broker answers. Once connected, aiokafka rides out later outages by itself."""
        self._producer = await _until_it_works(f"{self.name} outbox producer", self._start_producer)
        self.dead_letters.attach(self._producer)
        relay = OutboxRelay(self.pool, self._producer, heartbeat=_heartbeat(self._database),
                            personal_data=self.personal_data)
        self._relay = asyncio.create_task(relay.run(), name=f"{self.name}-outbox-relay")
        self._consumer.attach(self.broker)  # one member of the group for all its topics
        await _until_it_works(f"{self.name} consumers", self._start_broker)

    async def _start_producer(self) -> AIOKafkaProducer:
        producer = idempotent_producer(self._kafka, f"{self.name}-outbox")
        try:
            await producer.start()
        except BaseException:
            await _quietly(producer.stop())
            raise
        return producer

    async def _start_broker(self) -> None:
        try:
            await self.broker.start()
        except BaseException:
            await _quietly(self.broker.stop())   # a half-started broker is reset before the next try
            raise

    async def stop(self) -> None:
        for task in self._tasks:
            await _cancel(task)
        self._tasks = []
        if self._kafka_link:
            await _cancel(self._kafka_link)
        await _quietly(self.broker.stop())
        if self._relay:
            await _cancel(self._relay)
        if self._producer:  # it flushes what it holds: bounded, as the broker may be away (the rows stay unpublished)
            await _quietly(self._producer.stop(), timeout=10)
        if self._pool:
            await self._pool.close()
        if self.personal_data is not None:
            await _quietly(self.personal_data.aclose())
        self._pool = self._producer = self._relay = self._kafka_link = None

    async def refresh_gauges(self) -> None:
        """Read the outbox backlog and its age into the gauges (at scrape time; errors leave them as they were),
        at most once per `gauge_refresh_seconds`, concurrent scrapes sharing one read: however often and from
        however many scrapers `/metrics` is asked, the database sees one query per period."""
        async with self._gauges_reading:
            now = time.monotonic()
            if self._gauges_read_at is not None and now - self._gauges_read_at < self._gauge_refresh_seconds:
                return
            self._gauges_read_at = now
            with contextlib.suppress(Exception):
                pending, age = await asyncio.wait_for(outbox_backlog(self.pool), 2)
                OUTBOX_BACKLOG.labels(self.name).set(pending)
                OUTBOX_AGE.labels(self.name).set(age)

    async def readiness(self) -> dict[str, str]:
        """Each dependency's state: 'ok', or why not (checked concurrently, each within 2 s)."""
        database, kafka = await asyncio.gather(self._database_checks(), self._kafka_check())
        if self._relay is None:
            relay = "waiting for kafka"
        else:
            relay = "stopped" if self._relay.done() else "ok"
        return {**database, "kafka": kafka, "outbox_relay": relay}

    async def _database_checks(self) -> dict[str, str]:
        try:
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2)
            pending = await asyncio.wait_for(pending_migrations(self.pool, *self._migrations), 2)
        except Exception as error:  # noqa: BLE001 - reported, not raised
            return {"postgres": f"unavailable: {type(error).__name__}"}
        return {"postgres": "ok", "migrations": "ok" if not pending else f"pending: {', '.join(pending)}"}

    async def _kafka_check(self) -> str:
        if self._producer is None or not self.broker.running:
            return "connecting"
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), 2)
        except Exception as error:  # noqa: BLE001 - reported, not raised
            return f"unavailable: {type(error).__name__}"
        return "ok"

    async def outbox(self) -> dict[str, float | int | None]:
        """The outbox backlog and the age of its oldest row (None when the database does not answer)."""
        try:
            pending, age = await asyncio.wait_for(outbox_backlog(self.pool), 2)
        except Exception:  # noqa: BLE001 - reported as unknown
            return {"pending": None, "oldest_age_seconds": None}
        return {"pending": pending, "oldest_age_seconds": round(age, 3)}


async def _cancel(task: "asyncio.Task[None]") -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _unless_cancelled() -> None:
    """Re-raise a cancellation an error on the way out replaced (e.g. a connection that died while the task
    was being stopped): swallowed, it would keep `stop` waiting for ever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _heartbeat(database: DatabaseSettings) -> float:
    """A third of the idle-in-transaction limit (at most 5 s): a relay waiting for Kafka's acks inside its
    batch's transaction is never ended by PostgreSQL as if its instance had frozen."""
    limit = database.idle_in_transaction_timeout_seconds
    return min(5.0, limit / 3) if limit > 0 else 5.0


async def _quietly(closing: Awaitable[object], timeout: float | None = None) -> None:
    """Close something that may be half-open or unreachable; a failure to close is logged, not raised."""
    try:
        await asyncio.wait_for(closing, timeout)
    except Exception as error:  # noqa: BLE001
        log.warning("closing did not complete: %r", error)


async def _until_it_works(what: str, attempt: Callable[[], Awaitable[Any]]) -> Any:
    """`attempt()` until it succeeds, backing off from 0.5 s to 10 s (for connecting to Kafka)."""
    delay = 0.5
    while True:
        try:
            return await attempt()
        except Exception as error:  # noqa: BLE001 - the broker is away: try again
            _unless_cancelled()
            log.warning("%s could not connect, retrying in %.1fs: %r", what, delay, error)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


def every(seconds: float, step: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    """A background loop for `ServiceRuntime.background`: wait `seconds`, run `step`, for ever. A failing
    step is logged and the loop goes on."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await step()
            except Exception as error:  # noqa: BLE001 - one failed round must not end the loop
                _unless_cancelled()
                if is_infrastructure(error):  # the database blinked: the next round picks up, no stack needed
                    log.warning("background step %s failed, will retry: %r", getattr(step, "__qualname__", step),
                                error)
                else:
                    log.exception("background step %s failed", getattr(step, "__qualname__", step))

    return loop


async def _nothing_to_reset(_connection: asyncpg.Connection) -> None:
    """Replaces asyncpg's per-release reset query (unlock all, CLOSE ALL, UNLISTEN *, RESET ALL): one round
    trip per transaction saved. asyncpg still rolls back an open transaction and drops listeners; the
    platform keeps no other session state (transaction-scoped locks only)."""


def health_router(runtime: ServiceRuntime) -> APIRouter:
    """`/health/live` (the process answers) and `/health/ready` (it can serve: each check, the outbox backlog).

    Readiness answers 503 only when a REQUIRED check fails (PostgreSQL, pending migrations); with Kafka or the
    relay away it answers 200 with status "degraded". That holds for every service, consumers included: a
    readiness probe only decides whether a pod gets HTTP traffic, never whether it consumes (its consumers
    reconnect by themselves), and every service serves its HTTP API from PostgreSQL and publishes through
    its outbox. A broker outage hits every pod alike, so a 503 would take the merchant pages and internal
    APIs out of service everywhere at once, turning delayed events into a full outage. The outbox age in the
    body (and the outbox_oldest_age_seconds gauge) is what tells ops that events are waiting.
    """
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": runtime.name}

    @router.get("/ready")
    async def ready() -> JSONResponse:
        checks, outbox = await asyncio.gather(runtime.readiness(), runtime.outbox())
        status = readiness_status(checks)
        return JSONResponse({"status": status, "checks": checks, "outbox": outbox},
                            status_code=503 if status == "unavailable" else 200)

    return router


def internal_app(runtime: ServiceRuntime) -> FastAPI:
    """The app of the internal listener (`HttpSettings.internal_port`, served with `serve(..., also=...)`): the
    probes' `/health/live` and `/health/ready` and Prometheus's `/metrics`. Kept off the public port, where they
    would show strangers the state of every dependency and let them drive database queries. It has no lifespan
    of its own: it shares the public app's runtime."""
    app = FastAPI(title=f"{runtime.name} (internal)", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(health_router(runtime))
    metrics_endpoint(app, runtime)
    app.state.runtime = runtime
    return app


def readiness_status(checks: dict[str, str]) -> str:
    """"ok" when every check is; "unavailable" when a REQUIRED one is not (or missing); else "degraded"."""
    if any(checks.get(name) != "ok" for name in REQUIRED):
        return "unavailable"
    return "ok" if all(value == "ok" for value in checks.values()) else "degraded"


def serve(app: FastAPI, host: str, port: int, *, also: Sequence[tuple[FastAPI, str, int]] = ()) -> None:
    """Run one service process under uvicorn (each service's `__main__` calls this): JSON logs, and spans
    exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`shared.tracing.configure_tracing`).
    `also`: more apps of the same process on listeners of their own (e.g. an internal API kept off the public
    port); they share `app`'s lifespan and stop with it. uvloop and httptools are used when installed."""
    import uvicorn

    from .tracing import configure_tracing

    runtime = getattr(app.state, "runtime", None)
    configure_logging(runtime.name if runtime else None)
    tracing = configure_tracing(runtime.name if runtime else "unknown_service")  # only with an OTLP endpoint
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            proxy_headers=False)  # shared.client_address decides whom to trust
    try:
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(_serve_all(uvicorn.Server(config), also))
    finally:
        if tracing is not None:
            tracing.shutdown()  # exports the last batch before the process ends


async def _serve_all(main: Any, also: Sequence[tuple[FastAPI, str, int]]) -> None:
    import uvicorn

    class Listener(uvicorn.Server):
        """An extra listener: the main server alone handles SIGINT/SIGTERM, then stops it."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    extras = [Listener(uvicorn.Config(extra, host=h, port=p, log_config=None, access_log=False,
                                      lifespan="off", proxy_headers=False))
              for extra, h, p in also]
    serving = asyncio.create_task(main.serve())
    while not (main.started or serving.done()):     # the extra listeners open once the runtime has started
        await asyncio.sleep(0.05)
    tasks = [asyncio.create_task(server.serve()) for server in extras] if main.started else []
    try:
        await serving
    finally:
        for server in extras:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
