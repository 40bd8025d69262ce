"""Production export: `python -m key_validator`, started as its own process with `OTEL_EXPORTER_OTLP_ENDPOINT`
(or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) pointing at a tiny OTLP/HTTP receiver, sends its spans there as
protobuf `ExportTraceServiceRequest`s: resource `service.name=key_validator`, the caller's trace continued, the
query string scrubbed before export. Without the variables (or with `OTEL_SDK_DISABLED=true`) nothing is installed.
"""

import os

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from shared.tracing import configure_tracing

from .support.kafka import eventually
from .support.otlp import Receiver, ReceivedSpan, otlp_receiver
from local_infra.processes import service_process

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SECRET = "cpk_query_secret_that_must_not_leave_0001"


@pytest.mark.parametrize(("variable", "path"), [("OTEL_EXPORTER_OTLP_ENDPOINT", "/v1/traces"),
                                                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "/collector/traces")])
async def test_a_service_process_exports_its_spans_over_otlp(variable: str, path: str, fresh_database: str,
                                                             kafka_bootstrap: str, unique_name, tmp_path) -> None:
    trace_id, caller = os.urandom(16).hex(), os.urandom(8).hex()
    with otlp_receiver() as receiver:
        endpoint = receiver.url if variable == "OTEL_EXPORTER_OTLP_ENDPOINT" else receiver.url + path
        env = {**_key_validator(fresh_database, kafka_bootstrap, unique_name("otlp-kv")),
               variable: endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        with service_process("key_validator", env, tmp_path) as process:
            response = httpx.get(f"{process.internal_url}/health/live", params={"access_token": SECRET},
                                 headers={"traceparent": f"00-{trace_id}-{caller}-01"}, timeout=5)
            assert response.status_code == 200

            async def arrived() -> bool:
                return bool(_server_spans(receiver, trace_id))
            await eventually(arrived, timeout=20, what="the key_validator's span at the OTLP receiver")

    (received,) = _server_spans(receiver, trace_id)
    assert received.resource["service.name"] == "key_validator"
    assert received.scope == "fastapi"
    assert received.span.parent_span_id.hex() == caller, "the caller's traceparent is continued"
    assert received.attributes["http.route"] == "/health/live"
    assert received.attributes["url.query"] == "[REDACTED]", "scrubbed before the exporter sees it"
    assert SECRET.encode() not in b"".join(receiver.bodies)
    assert {s.resource["service.name"] for s in receiver.spans} == {"key_validator"}
    assert set(receiver.paths) == {path}


def test_nothing_is_installed_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert configure_tracing("key_validator") is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert configure_tracing("key_validator") is None


def _server_spans(receiver: Receiver, trace_id: str) -> list[ReceivedSpan]:
    return [s for s in list(receiver.spans)
            if s.span.trace_id.hex() == trace_id and s.span.kind == Span.SpanKind.SPAN_KIND_SERVER]


def _key_validator(dsn: str, kafka: str, group: str) -> dict[str, str]:
    return {"KEY_VALIDATOR_DATABASE__URL": dsn, "KEY_VALIDATOR_KAFKA__BOOTSTRAP_SERVERS": kafka,
            "KEY_VALIDATOR_KAFKA__CONSUMER_GROUP": group,
            "KEY_VALIDATOR_CLOUDPOS__BASE_URL": "http://127.0.0.1:9",
            "KEY_VALIDATOR_CLOUDPOS__PLATFORM_TOKEN": "unused-platform-token",
            "KEY_VALIDATOR_API_TOKEN": "unused-api-token-0123456789",
            "KEY_VALIDATOR_KEY_FINGERPRINT_SECRET": "unused-fingerprint-secret-0123456789abcdef"}
