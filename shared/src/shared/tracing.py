"""OpenTelemetry trace context carried across HTTP and Kafka, so one journey is one trace across services.

- HTTP in: FastAPI's native telemetry opens a SERVER span from the caller's `traceparent` (or a new trace).
- HTTP out: `inject_httpx` (an httpx request hook) adds the current `traceparent` to outgoing calls.
- Kafka out: the outbox stores `traceparent` with the row's headers (`with_trace_headers`), so the relay,
  which publishes later and outside any request, still sends the context of the span that staged the event.
- Kafka in: FastStream's `KafkaTelemetryMiddleware` (on every runtime's broker) continues that trace.

Spans go to whatever TracerProvider the process installs (`tracer_provider(exporter processors...)`: an OTLP
exporter in production, an in-memory one in tests); without one they are no-ops.
"""

import httpx
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider


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


def tracer_provider(*processors: SpanProcessor) -> TracerProvider:
    """A TracerProvider that scrubs before any exporter sees a span (processors run in order)."""
    provider = TracerProvider()
    provider.add_span_processor(ScrubbingSpanProcessor())
    for processor in processors:
        provider.add_span_processor(processor)
    return provider
