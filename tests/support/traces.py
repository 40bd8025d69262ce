"""Read finished spans as a causal graph between services, for tests that follow one trace across services.

In a test process every service shares one TracerProvider (one resource), so a span's service is told from
what it records: a SERVER span from the port it was served on (`server.port`), a CONSUMER span from its
consumer group (`messaging.consumer.group.name`), any other span from its parent. A span's *cause* is the
entry span (SERVER or CONSUMER) of the nearest ancestor that belongs to another service: the hop that
brought the trace context to it.
"""

from collections.abc import Iterable
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

ENTRY_KINDS = (SpanKind.SERVER, SpanKind.CONSUMER)


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


class SpanGraph:
    def __init__(self, spans: Iterable[ReadableSpan], *, ports: dict[int, str], groups: dict[str, str]) -> None:
        self.spans = list(spans)
        self._by_id = {s.context.span_id: s for s in self.spans}
        self._ports, self._groups = ports, groups

    def service(self, span: ReadableSpan) -> str:
        attributes = span.attributes or {}
        if span.kind is SpanKind.SERVER:
            return self._ports.get(attributes.get("server.port"), f"port {attributes.get('server.port')}")
        if span.kind is SpanKind.CONSUMER:
            group = attributes.get("messaging.consumer.group.name")
            return self._groups.get(group, f"group {group}")
        parent = self._parent(span)
        return self.service(parent) if parent else span.instrumentation_scope.name

    def describe(self, span: ReadableSpan) -> str:
        """`<service> <METHOD> <route>` for a server span, `<service> consume <topic>` for a consumer span."""
        attributes = span.attributes or {}
        if span.kind is SpanKind.SERVER:
            return f"{self.service(span)} {attributes.get('http.request.method')} {attributes.get('http.route')}"
        if span.kind is SpanKind.CONSUMER:
            return f"{self.service(span)} consume {attributes.get('messaging.destination.name')}"
        return f"{self.service(span)} {span.name}"

    def cause(self, span: ReadableSpan) -> ReadableSpan | None:
        own, ancestor = self.service(span), self._parent(span)
        while ancestor is not None and self.service(ancestor) == own:
            ancestor = self._parent(ancestor)
        return self._entry(ancestor) if ancestor is not None else None

    def in_trace(self, trace_id: int) -> list[ReadableSpan]:
        return [s for s in self.spans if s.context.trace_id == trace_id]

    def services(self, trace_id: int) -> set[str]:
        return {self.service(s) for s in self.in_trace(trace_id) if s.kind in ENTRY_KINDS}

    def hops(self, trace_id: int) -> set[tuple[str, str]]:
        """(cause, effect) for every entry span of the trace whose cause is in the trace too."""
        return {(self.describe(cause), self.describe(s)) for s in self.in_trace(trace_id)
                if s.kind in ENTRY_KINDS and (cause := self.cause(s)) is not None}

    def _parent(self, span: ReadableSpan) -> ReadableSpan | None:
        parent = self._by_id.get(span.parent.span_id) if span.parent is not None else None
        return parent if parent is not None and parent.context.trace_id == span.context.trace_id else None

    def _entry(self, span: ReadableSpan) -> ReadableSpan:
        while span.kind not in ENTRY_KINDS and (parent := self._parent(span)) is not None:
            span = parent
        return span
