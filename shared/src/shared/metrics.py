"""Prometheus metrics: HTTP requests and the delivery kit's counters.

The counters live in one process-wide registry (`REGISTRY`), labelled by what varies; each service adds its
business counters to it from its own `metrics` module. FastStream's consumer metrics live in each runtime's
own registry (tests run several runtimes in one process).
`instrument(app, runtime)` adds the HTTP middleware to a public app; `/metrics` is served on the internal
port only (`shared.runtime.internal_app`), where it refreshes the outbox gauges from the database at scrape
time (at most once per `ServiceRuntime.gauge_refresh_seconds`), so an idle service still reports its backlog.
Every label is bounded: the route template (or "unmatched"), a fixed set of methods (`METHODS`, else "other").
"""

import time
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from .runtime import ServiceRuntime

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"],
                        registry=REGISTRY)
HTTP_LATENCY = Histogram("http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"],
                         registry=REGISTRY)
DEAD_LETTERS = Counter("dead_letters_total", "Records parked on a dead-letter topic", ["consumer", "topic"],
                       registry=REGISTRY)
CONSUMER_RETRIES = Counter("consumer_retries_total", "Records sent back for another attempt (backoff + seek)",
                           ["consumer", "topic"], registry=REGISTRY)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows the relay published", ["topic"],
                           registry=REGISTRY)
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published", ["service"], registry=REGISTRY)
OUTBOX_AGE = Gauge("outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row", ["service"],
                   registry=REGISTRY)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """The request's method when it is a usual one, else "other": a client choosing methods cannot mint series."""
    return method if method in METHODS else "other"


class HttpMetrics:
    """Pure ASGI middleware: counts and times requests by route template (never the raw path: ids, codes)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = method_label(scope["method"])
            HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, route).observe(time.perf_counter() - started)


def render(*registries: CollectorRegistry) -> bytes:
    return b"".join(generate_latest(registry) for registry in registries)


def instrument(app: FastAPI, runtime: "ServiceRuntime") -> None:
    """HTTP metrics for one service's public app (call it in the composition root)."""
    app.add_middleware(HttpMetrics, service=runtime.name)


def metrics_endpoint(app: FastAPI, runtime: "ServiceRuntime") -> None:
    """`GET /metrics` on `app`: the internal app only (`shared.runtime.internal_app`), never a public port."""

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        await runtime.refresh_gauges()
        return Response(render(REGISTRY, runtime.metrics_registry), media_type=CONTENT_TYPE_LATEST)


def sample(name: str, labels: dict[str, str] | None = None, registry: CollectorRegistry = REGISTRY) -> float:
    """A metric's current value (0 when never set): for tests and the ops command."""
    value: Any = registry.get_sample_value(name, labels or {})
    return float(value or 0.0)
