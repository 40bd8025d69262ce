"""The process-level lifecycle every service shares: database pool and migrations, the outbox relay,
the Kafka broker with the delivery middleware, and the liveness/readiness endpoints.

A service's composition root builds one `ServiceRuntime`, adds its routers, and hands `runtime.lifespan`
to FastAPI; nothing here knows a service's domain.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry
from faststream.specification import AsyncAPI

from .contracts import Event
from .delivery.consumer import Handle

from .delivery import (
    DELIVERY_MIGRATIONS,
    DeadLetters,
    EventConsumer,
    Migrations,
    OutboxRelay,
    apply_migrations,
    idempotent_producer,
    outbox_backlog,
    pending_migrations,
)
from .logs import configure_logging
from .metrics import OUTBOX_AGE, OUTBOX_BACKLOG
from .settings import DatabaseSettings, KafkaSettings

log = logging.getLogger(__name__)


class ServiceRuntime:
    """Owns a service's pool, producer, relay and broker; `lifespan` starts and stops them in order."""

    def __init__(self, name: str, *, database: DatabaseSettings, kafka: KafkaSettings,
                 migrations: Migrations | tuple[Migrations, ...]) -> None:
        self.name = name
        self.consumer_group = kafka.consumer_group or name
        self._database = database
        self._kafka = kafka
        own = migrations if isinstance(migrations, tuple) else (migrations,)
        self._migrations = (DELIVERY_MIGRATIONS, *own)
        self.dead_letters = DeadLetters(self.consumer_group)
        self._consumer = EventConsumer(self.consumer_group, self.dead_letters)
        self.metrics_registry = CollectorRegistry(auto_describe=True)
        # FastStream logs through a plain logger, so its lines go to the JSON handler too (shared.logs);
        # consumer spans are opened per record by the EventConsumer, which continues each record's trace
        self.broker = KafkaBroker(kafka.bootstrap_servers, client_id=name,
                                  logger=logging.getLogger(f"{name}.kafka"), middlewares=[
            KafkaPrometheusMiddleware(registry=self.metrics_registry, app_name=name)])
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None
        self._relay: asyncio.Task[None] | None = None
        self._work: dict[str, Callable[[], Awaitable[None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._pool

    def consumes(self, event: type[Event], handle: Handle, description: str) -> None:
        """Subscribe `handle` (one CloudEvent, one transaction with its inbox claim) to `event`'s topic in
        this service's consumer group, with the delivery rules of `shared.delivery.consumer`."""
        self._consumer.subscribe(self.broker, event, handle, description)

    def publishes(self, *events: type[Event]) -> None:
        """Declare the events this service's outbox publishes, for the AsyncAPI document."""
        for event in events:
            self.broker.publisher(event.topic, schema=event, title=f"{self.name}:{event.topic}",
                                  description=(event.__doc__ or "").strip())

    def background(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run()` as a task of this process from start (once the pool, relay and broker are up) until
        stop, when it is cancelled and awaited: the one way a service starts background work."""
        self._work[f"{self.name}-{name}"] = run

    def asyncapi(self, version: str) -> dict[str, Any]:
        """The service's AsyncAPI 3 document, generated from its subscribers and publishers."""
        spec = AsyncAPI(self.broker, title=self.name, version=version, schema_version="3.0.0")
        return json.loads(spec.to_specification().to_json())

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
        self._producer = idempotent_producer(self._kafka.bootstrap_servers, f"{self.name}-outbox")
        await self._producer.start()
        self.dead_letters.attach(self._producer)
        self._relay = asyncio.create_task(OutboxRelay(self._pool, self._producer).run(),
                                          name=f"{self.name}-outbox-relay")
        await self.broker.start()
        self._tasks = [asyncio.create_task(run(), name=name) for name, run in self._work.items()]

    async def stop(self) -> None:
        for task in self._tasks:
            await _cancel(task)
        self._tasks = []
        await self.broker.stop()
        if self._relay:
            await _cancel(self._relay)
        if self._producer:
            await self._producer.stop()
        if self._pool:
            await self._pool.close()
        self._pool = self._producer = self._relay = None

    async def refresh_gauges(self) -> None:
        """Read the outbox backlog and its age into the gauges (at scrape time; errors leave them as they were)."""
        with contextlib.suppress(Exception):
            pending, age = await asyncio.wait_for(outbox_backlog(self.pool), 2)
            OUTBOX_BACKLOG.labels(self.name).set(pending)
            OUTBOX_AGE.labels(self.name).set(age)

    async def readiness(self) -> dict[str, str]:
        """Each dependency's state; the service is ready when every value is 'ok'."""
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2)
            pending = await pending_migrations(self.pool, *self._migrations)
            checks["postgres"] = "ok"
            checks["migrations"] = "ok" if not pending else f"pending: {', '.join(pending)}"
        except Exception as error:  # noqa: BLE001 - reported, not raised
            checks["postgres"] = f"unavailable: {type(error).__name__}"
        try:
            assert self._producer is not None
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), 3)
            checks["kafka"] = "ok"
        except Exception as error:  # noqa: BLE001
            checks["kafka"] = f"unavailable: {type(error).__name__}"
        if self._relay is None or self._relay.done():
            checks["outbox_relay"] = "stopped"
        else:
            checks["outbox_relay"] = "ok"
        return checks


async def _cancel(task: "asyncio.Task[None]") -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def every(seconds: float, step: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    """A background loop for `ServiceRuntime.background`: wait `seconds`, run `step`, for ever. A failing
    step is logged and the loop goes on."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await step()
            except Exception:  # noqa: BLE001 - one failed round must not end the loop
                log.exception("background step %s failed", getattr(step, "__qualname__", step))

    return loop


async def _nothing_to_reset(_connection: asyncpg.Connection) -> None:
    """Replaces asyncpg's per-release reset query (unlock all, CLOSE ALL, UNLISTEN *, RESET ALL): one round
    trip per transaction saved. asyncpg still rolls back an open transaction and drops listeners; the
    platform keeps no other session state (transaction-scoped locks only)."""


def health_router(runtime: ServiceRuntime) -> APIRouter:
    """`/health/live` (the process answers) and `/health/ready` (it can do its work)."""
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": runtime.name}

    @router.get("/ready")
    async def ready() -> JSONResponse:
        checks = await runtime.readiness()
        ok = all(value == "ok" for value in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)

    return router


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
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
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

    extras = [Listener(uvicorn.Config(extra, host=h, port=p, log_config=None, access_log=False, lifespan="off"))
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
