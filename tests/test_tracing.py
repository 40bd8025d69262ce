"""One journey is one trace: the merchant's journey through the REAL oauth_gateway (sign in, validate the key,
connect a store at the Xero sandbox, confirm the organisation, finish) with the real key_validator,
connection_registry and notifier, on real Kafka and PostgreSQL, every server on a real port.

"One journey" (docs/operability.md, "Traces"): the merchant's browser here is an instrumented client that sends
one `traceparent` on every page request. The gateway's server span of each page continues it, and everything
that page causes (its HTTP calls, its outbox rows, their consumers, their outboxes, down to the notifier's
consumer) stays in that trace. Each hop is checked by causation (the nearest span of another service up the
parent chain), so a hop that drops the context or starts a new trace fails the test. A browser that sends no
`traceparent` gets one trace per page request, started by the gateway: checked last.
"""

import contextlib
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from key_validator.main import build_app as build_key_validator
from key_validator.settings import KeyValidatorSettings
from local_infra.browser import Browser
from local_infra.merchant import sign_in, to_xero_consent, validate_key
from local_infra.postgres import temporary_database
from notifier.main import build_app as build_notifier
from notifier.settings import NotifierSettings
from sandboxes.xero import STEVE_TEST_STORE_TENANT_ID
from services.oauth_gateway.tests.stack import SERVICE_TOKEN, Stack, gateway_stack
from shared.tracing import ScrubbingSpanProcessor, inject_httpx, tracer_provider

from .support.kafka import eventually
from .support.services import running
from .support.traces import SpanGraph, port_of

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

NOTIFIER = {"api_token": "notifier-api-token-for-tests", "dispatcher": {"enabled": False},
            "email": {"host": "127.0.0.1", "port": 9, "from_address": "xero@cloudpos.test",
                      "to": ["helpdesk@cloudpos.test"], "starttls": False},
            "merchant_email": {"host": "127.0.0.1", "port": 9, "from_address": "noreply@cloudpos.test",
                               "starttls": False},
            "cloudpos": {"base_url": "http://127.0.0.1:9", "platform_token": "unused-platform-token"},
            "public_base_url": "http://127.0.0.1:8104",
            "reminder_link_secret": "reminder-link-secret-for-tests-0123456789"}
BROWSER = "tests merchant's browser"
COMPLETION = "connection_registry POST /v1/merchants/{merchant_id}/completion"
JOURNEY_HOPS = {
    (BROWSER, "oauth_gateway POST /key"),
    ("oauth_gateway POST /key", "key_validator POST /v1/validations"),
    ("key_validator POST /v1/validations", "connection_registry consume KeyValidated"),
    (BROWSER, "oauth_gateway GET /xero/callback"),
    ("oauth_gateway GET /xero/callback", "connection_registry consume StoreConnected"),
    (BROWSER, "oauth_gateway POST /connect/{flow_id}"),
    ("oauth_gateway POST /connect/{flow_id}", "connection_registry consume OrgSelected"),
    (BROWSER, "oauth_gateway POST /finished"),
    ("oauth_gateway POST /finished", COMPLETION),
    (COMPLETION, "notifier consume SetupCompleted"),
}


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


async def test_one_journey_is_one_trace(spans: InMemorySpanExporter, pg_dsn: str, kafka_bootstrap: str,
                                        unique_name) -> None:
    group, notifier_group = unique_name("trace-gw"), unique_name("trace-notifier")
    async with temporary_database(pg_dsn, prefix="trace_kv") as kv_dsn:
        built: list[FastAPI] = []
        real = _real_key_validator(built, kv_dsn, kafka_bootstrap, unique_name("trace-kv"))
        async with gateway_stack(pg_dsn, kafka_bootstrap, group, use_real_registry=True, key_validator=real) as stack, \
                running(build_notifier, NotifierSettings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                        group=notifier_group, **NOTIFIER) as notifier:
            (key_validator,) = built
            async with key_validator.router.lifespan_context(key_validator):
                spans.clear()
                journey, browser, code = await _journey(stack)
                trace_id = journey.get_span_context().trace_id

                def graph() -> SpanGraph:
                    return _graph(spans, stack, {f"{group}-reg": "connection_registry", notifier_group: "notifier"})

                async def notified() -> bool:
                    return await notifier.pool.fetchval("SELECT count(*) FROM helpdesk_deliveries WHERE "
                                                        "merchant_id = $1", stack.merchant.merchant_id) > 0

                async def in_trace() -> bool:
                    return (COMPLETION, "notifier consume SetupCompleted") in graph().hops(trace_id)
                await eventually(notified, what="the notifier to record the helpdesk notification")
                with contextlib.suppress(AssertionError):  # its span ends just after; a broken hop never comes
                    await eventually(in_trace, timeout=5)
                await browser.get(stack.gateway_url + "/")  # outside the browser's span: no traceparent sent

    final = graph()
    hops = final.hops(trace_id)
    assert JOURNEY_HOPS <= hops, f"missing:\n{_lines(JOURNEY_HOPS - hops)}\nin the trace:\n{_lines(hops)}"
    assert {"oauth_gateway", "key_validator", "connection_registry", "notifier"} <= final.services(trace_id)
    gateway = [s for s in final.in_trace(trace_id)
               if s.kind is SpanKind.SERVER and final.service(s) == "oauth_gateway"]
    assert gateway and {final.describe(final.cause(s)) for s in gateway} == {BROWSER}, \
        "every page request of the journey continues the browser's context"
    callback = [s for s in gateway if final.describe(s) == "oauth_gateway GET /xero/callback"]
    assert [s.attributes.get("url.query") for s in callback] == ["[REDACTED]"], "the callback's query is scrubbed"
    assert code not in str([dict(s.attributes or {}) for s in final.spans]), "the OAuth code is in no span"

    roots = [s for s in final.spans if s.parent is None and s.kind is SpanKind.SERVER
             and final.service(s) == "oauth_gateway"]
    assert [final.describe(s) for s in roots] == ["oauth_gateway GET /"], \
        "a page request without a traceparent starts a new trace at the gateway"
    assert ("oauth_gateway GET /", "connection_registry GET /v1/merchants/{merchant_id}/summary") \
        in final.hops(roots[0].context.trace_id), "and the gateway's own trace reaches the registry it calls"


async def _journey(stack: Stack) -> tuple[trace.Span, Browser, str]:
    """The merchant's pages, every request carrying the browser's one context; returns it, the browser and
    the OAuth code Xero sent back (to check that no span holds it)."""
    browser = stack.browser()
    browser.http.event_hooks = {"request": [inject_httpx], "response": []}  # injects only inside a span
    store = next(iter(stack.merchant.stores))
    with trace.get_tracer("tests").start_as_current_span("merchant's browser", kind=SpanKind.CLIENT) as journey:
        await sign_in(stack, browser)
        await validate_key(stack, browser)
        await eventually(lambda: _registry_knows(stack), what="the registry to learn the merchant")
        await to_xero_consent(stack, browser, store)
        back = await browser.submit("Allow access", {"tenant_id": STEVE_TEST_STORE_TENANT_ID}, follow=False)
        code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
        await browser.get(back.headers["location"])
        await browser.submit("Confirm Selection", {"tenant_id": STEVE_TEST_STORE_TENANT_ID})
        assert "is now connected" in browser.text(), browser.text()
        await eventually(lambda: _registry_knows(stack, connected=store), what="the registry to learn the store")
        await browser.submit("I have finished connecting stores")
        assert "Helpdesk Team will now arrange" in browser.text(), browser.text()
    return journey, browser, code


def _graph(spans: InMemorySpanExporter, stack: Stack, groups: dict[str, str]) -> SpanGraph:
    names = {"gateway": "oauth_gateway", "key_validator": "key_validator", "registry": "connection_registry",
             "xero": "xero_sandbox", "cloudpos": "cloudpos_sandbox"}
    return SpanGraph(spans.get_finished_spans(), groups=groups,
                     ports={port_of(stack.urls[name]): service for name, service in names.items()})


def _lines(hops: set[tuple[str, str]]) -> str:
    return "\n".join(f"  {cause} -> {effect}" for cause, effect in sorted(hops))


async def _registry_knows(stack: Stack, connected: str | None = None) -> bool:
    """The registry has the merchant (and, with `connected`, that store connected: the registry is fed by Kafka
    and may lag the gateway on a busy machine; "I have finished" then takes the deferred path)."""
    async with httpx.AsyncClient(base_url=stack.urls["registry"],
                                 headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}) as client:
        answer = await client.get(f"/v1/merchants/{stack.merchant.merchant_id}/summary")
    if answer.status_code != 200 or connected is None:
        return answer.status_code == 200
    return any(s["store_id"] == connected and s["state"] == "connected" for s in answer.json()["stores"])


def _real_key_validator(built: list[FastAPI], dsn: str, kafka: str, group: str) -> Callable[..., FastAPI]:
    """A builder for `gateway_stack(key_validator=...)`: the REAL key_validator (on its port, with its outbox)
    instead of the fake; `built` receives the app, whose lifespan the test runs."""

    def build(token: str, cloudpos_url: str, platform_token: str, _on_valid: object) -> FastAPI:
        built.append(build_key_validator(KeyValidatorSettings(
            database={"url": dsn}, kafka={"bootstrap_servers": kafka, "consumer_group": group},
            cloudpos={"base_url": cloudpos_url, "platform_token": platform_token}, api_token=token,
            key_fingerprint_secret="trace-test-fingerprint-secret-0123456789")))
        return built[-1]

    return build
