"""One journey is one trace: a merchant's journey, started under one root span, crosses key_validator's outbox,
Kafka, connection_registry's consumers, an HTTP call to the registry (made with the gateway's httpx hook),
the registry's outbox, Kafka again and the notifier's consumer, and every span carries the root's trace id.

The gateway's own events are produced the way its outbox does (headers + `traceparent` of the current span).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from connection_registry.main import build_app as build_registry
from connection_registry.settings import RegistrySettings
from key_validator.main import build_app as build_key_validator
from key_validator.settings import KeyValidatorSettings
from local_infra.postgres import temporary_database
from notifier.main import build_app as build_notifier
from notifier.settings import NotifierSettings
from services.connection_registry.tests.journey import Journey
from shared.contracts import topics
from shared.delivery import to_kafka, transaction
from shared.tracing import ScrubbingSpanProcessor, inject_httpx, tracer_provider, with_trace_headers

from .support.kafka import eventually, produce

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.add_span_processor(ScrubbingSpanProcessor())
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        trace.set_tracer_provider(tracer_provider(SimpleSpanProcessor(exporter)))
    return exporter


@asynccontextmanager
async def started(build: Any, settings_class: type, pg_dsn: str, bootstrap: str, group: str,
                  **settings: Any) -> AsyncIterator[FastAPI]:
    async with temporary_database(pg_dsn, prefix=group.replace("-", "_")[:40]) as dsn:
        app = build(settings_class(database={"url": dsn},
                                   kafka={"bootstrap_servers": bootstrap, "consumer_group": group}, **settings))
        async with app.router.lifespan_context(app):
            yield app


async def test_one_journey_is_one_trace(spans: InMemorySpanExporter, pg_dsn: str, kafka_bootstrap: str,
                                        unique_name) -> None:
    kv_settings = {"cloudpos": {"base_url": "http://127.0.0.1:9", "platform_token": "unused-platform-token"},
                   "api_token": "unused-api-token-0123456789",
                   "key_fingerprint_secret": "unused-fingerprint-secret-0123456789abcdef"}
    notifier_settings = {"api_token": "notifier-api-token-for-tests", "dispatcher": {"enabled": False},
                         "email": {"host": "127.0.0.1", "port": 9, "from_address": "xero@cloudpos.test",
                                   "to": ["helpdesk@cloudpos.test"], "starttls": False}}
    async with started(build_key_validator, KeyValidatorSettings, pg_dsn, kafka_bootstrap,
                       unique_name("trace-kv"), **kv_settings) as key_validator, \
            started(build_registry, RegistrySettings, pg_dsn, kafka_bootstrap, unique_name("trace-registry"),
                    api_token="registry-api-token-for-tests", helpdesk_token="registry-helpdesk-token-x") as registry, \
            started(build_notifier, NotifierSettings, pg_dsn, kafka_bootstrap, unique_name("trace-notifier"),
                    **notifier_settings) as notifier:
        journey = Journey(f"m-{uuid4().hex[:10]}")
        events = journey.connected()
        with trace.get_tracer("tests").start_as_current_span("merchant journey") as root:
            trace_id = root.get_span_context().trace_id
            async with transaction(key_validator.state.runtime.pool) as tx:  # key_validator's outbox
                await tx.publish(events[0])
            await _claimed(registry, events[0].id)
            for event in events[1:]:  # the gateway's events, produced as its outbox relay does
                record = to_kafka(event)
                await produce(kafka_bootstrap, record.topic, record.value, key=record.key,
                              headers=with_trace_headers(record.headers))
                await _claimed(registry, event.id)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=registry), base_url="http://registry",
                                         event_hooks={"request": [inject_httpx]}) as http:
                completed = await http.post(f"/v1/merchants/{journey.merchant_id}/completion?code=oauth-code-secret",
                                            json={"completed_by": "u-1"},
                                            headers={"Authorization": "Bearer registry-api-token-for-tests"})
            assert completed.status_code == 202, completed.text
            setup_completed = completed.json()["event_id"]

        async def notified() -> bool:
            return await notifier.state.runtime.pool.fetchval(
                "SELECT count(*) FROM delivery_inbox WHERE event_id = $1::uuid", setup_completed) == 1
        await eventually(notified, what="the notifier to consume SetupCompleted")
        await eventually(lambda: _span_on(spans, trace_id, topics.SETUP_COMPLETED), what="the notifier's span")

    in_trace = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    names = " | ".join(sorted(s.name for s in in_trace))
    for topic in (topics.KEY_VALIDATED, topics.STORE_CONNECTED, topics.ORG_SELECTED, topics.SETUP_COMPLETED):
        assert any(topic in s.name and s.kind is trace.SpanKind.CONSUMER for s in in_trace), names
    http_spans = [s for s in in_trace if s.kind is trace.SpanKind.SERVER]
    assert [s.attributes.get("http.route") for s in http_spans] == ["/v1/merchants/{merchant_id}/completion"]
    assert "oauth-code-secret" not in str([dict(s.attributes or {}) for s in in_trace]), "query strings are scrubbed"
    assert all(s.parent and s.parent.span_id == root.get_span_context().span_id for s in http_spans), \
        "the HTTP call continues the caller's span (traceparent injected by the httpx hook)"


async def _claimed(app: FastAPI, event_id: Any) -> None:
    async def check() -> bool:
        return await app.state.runtime.pool.fetchval(
            "SELECT count(*) FROM delivery_inbox WHERE event_id = $1", event_id) == 1
    await eventually(check, what=f"event {event_id} to be handled")


async def _span_on(exporter: InMemorySpanExporter, trace_id: int, topic: str) -> bool:
    return any(s.context.trace_id == trace_id and topic in s.name for s in exporter.get_finished_spans())
