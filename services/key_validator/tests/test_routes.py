"""POST /v1/validations over ASGI with the real use case on fakes: the caller's token, size and format
checks come before anything else, every outcome maps to its status and stable code, nothing echoes a key."""

import json
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from key_validator.entrypoints.errors import install_error_handlers
from key_validator.entrypoints.routes import MAX_BODY_BYTES, build_router
from key_validator.main import build_app
from key_validator.settings import example_settings

from .fakes import BASIL, BASIL_KEY, BRM_KEY, REVOKED_KEY, STEVE, UNKNOWN_KEY, XERO_KEY

TOKEN = "route-test-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def api(handlers):
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_router(handlers, SecretStr(TOKEN)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://kv") as client:
        yield client


def body(key: str = XERO_KEY, merchant: str = STEVE, **extra) -> dict:
    return {"merchant_id": merchant, "user_id": "u-1", "api_key": key, "client_address": "203.0.113.9"} | extra


def assert_error(response: httpx.Response, status: int, code: str, *, retryable: bool = False) -> dict:
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"code", "message", "retryable"}
    assert (payload["code"], payload["retryable"]) == (code, retryable)
    assert payload["message"]
    return payload


async def test_a_valid_key_answers_200_with_the_stores(api, uow):
    response = await api.post("/v1/validations", json=body(), headers=AUTH)

    assert response.status_code == 200
    payload = response.json()
    assert {k: payload[k] for k in ("merchant_id", "merchant_name", "licence", "key_id", "key_label")} == {
        "merchant_id": STEVE, "merchant_name": "Steve's Cycles", "licence": "pro_plus", "key_id": "k-steve-xero",
        "key_label": "Xero API Client"}
    assert [s["store_id"] for s in payload["stores"]] == [f"{STEVE}-s1", f"{STEVE}-s2", f"{STEVE}-s3"]
    assert UUID(payload["validation_id"]) == uow.committed.outbox[0].id
    assert response.headers["cache-control"] == "no-store"
    assert XERO_KEY not in response.text


@pytest.mark.parametrize(("key", "merchant", "status", "code"), [
    (UNKNOWN_KEY, STEVE, 401, "unknown_key"),
    (REVOKED_KEY, STEVE, 403, "key_revoked"),
    (BRM_KEY, STEVE, 403, "key_for_other_service"),
    (BASIL_KEY, STEVE, 403, "key_of_other_merchant"),
    (BASIL_KEY, BASIL, 403, "licence_not_pro_plus"),
])
async def test_refusals_map_to_their_status_and_code(api, key, merchant, status, code):
    response = await api.post("/v1/validations", json=body(key, merchant), headers=AUTH)
    payload = assert_error(response, status, code)
    assert key not in response.text and "Retry-After" not in response.headers
    if code == "key_for_other_service":
        assert "Bike Rental Manager" in payload["message"]


async def test_cloudpos_down_is_a_retryable_503(api, cloudpos):
    cloudpos.down.add("all")
    assert_error(await api.post("/v1/validations", json=body(), headers=AUTH), 503, "cloudpos_unavailable",
                 retryable=True)


async def test_throttled_attempts_get_429_with_retry_after(api):
    for i in range(5):
        await api.post("/v1/validations", json=body(f"cpk_guess{i:02d}_0123456789abcdef"), headers=AUTH)
    response = await api.post("/v1/validations", json=body(), headers=AUTH)
    assert_error(response, 429, "too_many_attempts", retryable=True)
    assert response.headers["retry-after"] == "900"


async def test_the_callers_correlation_id_reaches_the_event(api, uow):
    journey = uuid4()
    await api.post("/v1/validations", json=body(), headers=AUTH | {"X-Correlation-Id": str(journey)})
    assert uow.committed.outbox[0].correlation_id == journey
    response = await api.post("/v1/validations", json=body(), headers=AUTH | {"X-Correlation-Id": "nope"})
    assert_error(response, 400, "invalid_format")


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer wrong-token", TOKEN, f"Basic {TOKEN}",
                                           f"Bearer {TOKEN}x"])
async def test_callers_without_the_api_token_are_refused_before_anything_else(api, uow, cloudpos, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await api.post("/v1/validations", json=body(), headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert (uow.transactions, cloudpos.calls) == (0, [])


def _garbage() -> list[tuple[str, bytes]]:
    raw = [("empty body", b""), ("not JSON", b"{nope"), ("non-UTF-8", b"\xff\xfe{\"api_key\": 1}"),
           ("a JSON array", b"[]"), ("deep nesting", b"[" * 600 + b"]" * 600), ("NUL", b"\x00")]
    keys = ["", "   ", "\x00", "cpk_", "cpk_short", "CPK_" + "a" * 30, "sk_live_" + "a" * 30, "cpk_" + "a" * 200,
            "cpk_aaaaaaaaaaaaaaaa'; DROP TABLE validation_attempts;--", "cpk_aaaaaaaa aaaaaaaaaaaa",
            "cpk_ääääääääääääääääää", "$(curl evil.example)", XERO_KEY.upper().replace("CPK_", "Cpk_")]
    raw += [(f"key {k[:12]!r}", json.dumps(body(k)).encode()) for k in keys]
    raw += [("key not a string", json.dumps(body() | {"api_key": 12345}).encode()),
            ("extra field", json.dumps(body(is_admin=True)).encode()),
            ("extra field named like a key", json.dumps(body() | {XERO_KEY: 1}).encode()),
            ("missing field", json.dumps({k: v for k, v in body().items() if k != "user_id"}).encode()),
            ("bad merchant id", json.dumps(body(merchant="m 1/../x")).encode()),
            ("bad client address", json.dumps(body(client_address="not-an-ip")).encode())]
    return raw


@pytest.mark.parametrize(("what", "raw"), _garbage(), ids=[w for w, _ in _garbage()])
async def test_malformed_input_is_a_400_with_no_database_or_cloudpos_work(api, uow, cloudpos, what, raw):
    response = await api.post("/v1/validations", content=raw, headers=AUTH | {"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_format")
    assert (uow.transactions, cloudpos.calls) == (0, [])
    assert XERO_KEY not in response.text and "cpk_aaaa" not in response.text and "DROP" not in response.text


async def test_a_bad_key_gets_the_merchant_friendly_message(api):
    response = await api.post("/v1/validations", json=body("cpk_short"), headers=AUTH)
    assert "start with 'cpk_'" in response.json()["message"]


async def test_a_pasted_key_with_surrounding_whitespace_is_accepted(api):
    response = await api.post("/v1/validations", json=body(f"  {XERO_KEY}\n"), headers=AUTH)
    assert response.status_code == 200


async def test_a_key_in_the_query_string_is_refused(api, uow):
    response = await api.post(f"/v1/validations?api_key={XERO_KEY}", json=body(), headers=AUTH)
    assert_error(response, 400, "invalid_format")
    assert uow.transactions == 0 and XERO_KEY not in response.text


async def test_oversized_bodies_are_refused_before_parsing(api, uow):
    big = json.dumps(body(user_id="u-" + "x" * MAX_BODY_BYTES)).encode()
    assert_error(await api.post("/v1/validations", content=big, headers=AUTH), 413, "payload_too_large")

    async def chunks():  # no Content-Length: the limit applies while streaming
        for _ in range(10):
            yield b" " * 1024

    assert_error(await api.post("/v1/validations", content=chunks(), headers=AUTH), 413, "payload_too_large")
    assert uow.transactions == 0


async def test_errors_elsewhere_keep_the_error_shape(api):
    assert_error(await api.get("/v1/nothing-here"), 404, "not_found")
    assert_error(await api.get("/v1/validations", headers=AUTH), 405, "method_not_allowed")


def test_the_openapi_document_describes_the_endpoint():
    spec = build_app(example_settings()).openapi()
    operation = spec["paths"]["/v1/validations"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"merchant_id", "user_id", "api_key", "client_address"}
    assert {"200", "400", "401", "403", "413", "429", "503"} <= set(operation["responses"])
