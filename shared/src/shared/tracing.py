"""OpenTelemetry trace context carried across HTTP and Kafka, so one journey is one trace across services.

- HTTP in: FastAPI's native telemetry opens a SERVER span from the caller's `traceparent` (or a new trace).
- HTTP out: `inject_httpx` (an httpx request hook) adds the current `traceparent` to outgoing calls.
- Kafka out: the outbox stores `traceparent` with the row's headers (`with_trace_headers`), so the relay,
  which publishes later and outside any request, still sends the context of the span that staged the event.
- Kafka in: the delivery kit's `EventConsumer` opens one CONSUMER span per record, parented by the record's
  `traceparent`, so the handler's effects (and its own outbox rows) continue that trace.

Spans go to whatever TracerProvider the process installs; without one they are no-ops. `python -m <service>`
installs one with `configure_tracing` (OTLP over HTTP, when an OTLP endpoint is configured); tests install an
in-memory one with `tracer_provider(...)`.
"""

import os

import httpx
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def with_trace_headers(headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """`headers` plus the current span's `traceparent`/`tracestate` (unchanged when there is no span)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    present = {name for name, _ in headers}
    return [*headers, *((k, v.encode()) for k, v in carrier.items() if k not in present)]


async def inject_httpx(request: httpx.Request) -> None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    request.headers.update(carrier)


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class ScrubbingSpanProcessor(SpanProcessor):
    """Masks query strings on spans as they start: FastAPI's native server spans record `url.query`, and an
    OAuth callback's query carries the authorisation code. Add it to any TracerProvider that exports spans."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if span.attributes and span.attributes.get("url.query"):
            span.set_attribute("url.query", "[REDACTED]")


def tracer_provider(*processors: SpanProcessor, resource: Resource | None = None) -> TracerProvider:
    """A TracerProvider that scrubs before any exporter sees a span (processors run in order)."""
    provider = TracerProvider(resource=resource) if resource is not None else TracerProvider()
    provider.add_span_processor(ScrubbingSpanProcessor())
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def configure_tracing(service: str) -> TracerProvider | None:
    """Export this process's spans over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
    `OTEL_EXPORTER_OTLP_ENDPOINT` is set (and `OTEL_SDK_DISABLED` is not "true"); otherwise install nothing,
    so spans stay no-ops. The exporter reads the standard `OTEL_EXPORTER_OTLP_*` variables (endpoint, headers,
    timeout, compression), the batch processor the `OTEL_BSP_*` ones; `service.name` is `service`, other
    resource attributes may come from `OTEL_RESOURCE_ATTRIBUTES`. The caller shuts the provider down on exit
    (that flushes the last batch)."""
    if not any(os.environ.get(name) for name in OTLP_ENDPOINT_VARIABLES):
        return None
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = tracer_provider(BatchSpanProcessor(OTLPSpanExporter()),
                               resource=Resource.create({SERVICE_NAME: service}))
    trace.set_tracer_provider(provider)
    return provider
