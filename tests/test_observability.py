"""Logs and metrics: secrets never reach a log line; a log line carries the ids of the record being handled;
a real registry on Kafka + PostgreSQL serves /metrics with FastStream's consumer metrics, HTTP metrics,
its business counters and the outbox gauges; readiness reports every dependency."""

import json
import logging
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from connection_registry.main import build_app
from connection_registry.settings import RegistrySettings
from local_infra.postgres import temporary_database
from shared.contracts import examples
from shared.delivery import CloudEvent, to_kafka
from shared.logs import JsonFormatter, bind_ids, redact, unbind
from shared.metrics import sample

from .support.kafka import eventually
from .support.services import REGISTRY_CONSOLE

SECRETS = ["cpk_live_0123456789abcdef", "Bearer eyJhbGciOi.J9.sig", "whsec_c2VjcmV0LWZha2U=", "hunter2-pass"]


def _line(message: str, *args: object, exc: BaseException | None = None) -> dict:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, args,
                               (type(exc), exc, exc.__traceback__) if exc else None)
    return json.loads(JsonFormatter("svc").format(record))


def test_known_secret_shapes_are_redacted_everywhere_in_a_line() -> None:
    text = redact(f"key {SECRETS[0]} header {SECRETS[1]} sig {SECRETS[2]} password={SECRETS[3]} "
                  "dsn postgresql://app:s3cret@db/x {\"refresh_token\": \"abc\"}")
    for secret in [*SECRETS, "s3cret", "abc"]:
        assert secret not in text, text
    assert "password=[REDACTED]" in text and "postgresql://app:[REDACTED]@db/x" in text


def test_exceptions_are_redacted_too() -> None:
    try:
        raise RuntimeError(f"Cloud POS refused {SECRETS[0]}")
    except RuntimeError as error:
        line = _line("failed", exc=error)
    assert SECRETS[0] not in json.dumps(line) and "[REDACTED]" in line["exception"]


def test_lines_carry_the_bound_ids_and_drop_them_after() -> None:
    token = bind_ids(merchant_id="m-42", event_id="e-1", store_id=None)
    try:
        line = _line("handled %s", "x")
    finally:
        unbind(token)
    assert line["merchant_id"] == "m-42" and line["event_id"] == "e-1" and "store_id" not in line
    assert line["message"] == "handled x" and line["service"] == "svc" and line["level"] == "info"
    assert "merchant_id" not in _line("later")


@pytest.mark.kafka
@pytest.mark.postgres
async def test_registry_serves_metrics_and_readiness(pg_dsn: str, kafka_bootstrap: str, unique_name) -> None:
    group = unique_name("obs-registry")
    settings = {"api_token": "registry-api-token-for-tests", **REGISTRY_CONSOLE}
    applied_before = sample("registry_events_total", {"type": "KeyValidated", "outcome": "applied"})
    async with temporary_database(pg_dsn, prefix="obs_registry") as dsn:
        app = build_app(RegistrySettings(database={"url": dsn}, kafka={"bootstrap_servers": kafka_bootstrap,
                                                                       "consumer_group": group}, **settings))
        await _exercise(app, kafka_bootstrap, applied_before)


async def _exercise(app, kafka_bootstrap: str, applied_before: float) -> None:  # type: ignore[no-untyped-def]
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        merchant = f"m-{uuid4().hex[:10]}"
        event = CloudEvent(data=examples.key_validated(merchant), source="/tests")
        record = to_kafka(event)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
        finally:
            await producer.stop()

        async def applied() -> bool:
            return await runtime.pool.fetchval("SELECT count(*) FROM merchants WHERE merchant_id=$1", merchant) == 1
        await eventually(applied, what="the event to be applied")

        transport = httpx.ASGITransport(app=app)
        internal = httpx.ASGITransport(app=app.state.internal)   # the internal listener: probes, Prometheus
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as http, \
                httpx.AsyncClient(transport=internal, base_url="http://registry-internal") as inside:
            ready = await inside.get("/health/ready")
            await http.get(f"/v1/merchants/{merchant}/summary")  # unauthorised: still counted, by template
            await http.request("PURGE", "/v1/anything")            # a made-up method: one bounded label
            public = [(await http.get(path)).status_code for path in ("/health/ready", "/metrics")]
            text = (await inside.get("/metrics")).text
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) == {"postgres", "migrations", "kafka", "outbox_relay"}
    # >=: a fresh group also reads the KeyValidated records earlier tests left on the topic
    assert sample("registry_events_total", {"type": "KeyValidated", "outcome": "applied"}) >= applied_before + 1
    assert "faststream_received_messages_total" in text and f'app_name="{runtime.name}"' in text
    assert 'outbox_backlog{service="connection_registry"}' in text
    assert "outbox_oldest_age_seconds" in text and "dead_letters_total" in text
    assert 'route="/v1/merchants/{merchant_id}/summary"' in text and 'method="other"' in text
    assert "PURGE" not in text and 'route="/health/ready"' not in text   # probes are not traffic
    assert public == [404, 404], "health and metrics are not served on the public port"
    assert merchant not in text, "raw paths (with ids) must not become metric labels"

