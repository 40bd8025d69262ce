"""The httpx Cloud POS client against the real sandbox over real HTTP; transport-level faults (timeouts,
nonsense answers) through httpx.MockTransport. Every failure is CloudPosUnavailable, naming no secret."""

import logging
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from key_validator.adapters.cloudpos import HttpCloudPos
from key_validator.domain import ApiKey, KeyFacts, MerchantFacts
from key_validator.ports import CloudPosUnavailable
from key_validator.settings import CloudPosSettings, KeyValidatorSettings
from sandboxes.cloudpos import demo_data as demo
from shared.contracts import Store


def client(url: str, token: str, transport: httpx.AsyncBaseTransport | None = None, timeout: float = 5) -> HttpCloudPos:
    return HttpCloudPos(CloudPosSettings(base_url=url, platform_token=SecretStr(token), timeout_seconds=timeout),
                        transport=transport)


async def test_introspection_merchants_and_stores(sandbox):
    cloudpos = client(sandbox.url, sandbox.platform_token)
    async with cloudpos.connected():
        assert await cloudpos.introspect(ApiKey(demo.DEMO_XERO_KEY)) == KeyFacts(
            True, demo.DEMO_XERO_KEY_ID, "Xero API Client", "xero", demo.STEVE_MERCHANT_ID, None)
        revoked = await cloudpos.introspect(ApiKey(demo.DEMO_REVOKED_XERO_KEY))
        assert (revoked.active, revoked.revoked_at) == (False, datetime(2026, 1, 12, 16, tzinfo=UTC))
        assert (await cloudpos.introspect(ApiKey(demo.DEMO_BRM_KEY))).service == "bike_rental_manager"
        assert await cloudpos.introspect(ApiKey("cpk_" + "z" * 40)) == KeyFacts(active=False)
        assert await cloudpos.merchant(demo.BASIL_MERCHANT_ID) == MerchantFacts(demo.BASIL_MERCHANT_ID,
                                                                                "Basil's Bakery", "pro")
        stores = await cloudpos.stores(demo.STEVE_MERCHANT_ID)
        assert {s.store_id: s.name for s in stores} == demo.STEVE_STORES


async def test_outages_and_refusals_of_our_token_are_unavailable(sandbox, caplog):
    cloudpos = client(sandbox.url, sandbox.platform_token)
    async with cloudpos.connected():
        sandbox.fail_next(2, 503)
        with pytest.raises(CloudPosUnavailable, match="HTTP 503"):
            await cloudpos.introspect(ApiKey(demo.DEMO_XERO_KEY))
        with pytest.raises(CloudPosUnavailable, match="HTTP 503"):
            await cloudpos.stores(demo.STEVE_MERCHANT_ID)
        with pytest.raises(CloudPosUnavailable, match="HTTP 404"):
            await cloudpos.merchant("m-nobody")
    wrong = client(sandbox.url, "not-the-platform-token")
    async with wrong.connected():
        with caplog.at_level(logging.ERROR), pytest.raises(CloudPosUnavailable, match="HTTP 401"):
            await wrong.introspect(ApiKey(demo.DEMO_XERO_KEY))
    assert "KEY_VALIDATOR_CLOUDPOS__PLATFORM_TOKEN" in caplog.text


async def test_an_unreachable_platform_is_unavailable():
    cloudpos = client("http://127.0.0.1:9", "t", timeout=2)  # the discard port: nothing listens
    async with cloudpos.connected():
        with pytest.raises(CloudPosUnavailable, match="ConnectError"):
            await cloudpos.introspect(ApiKey(demo.DEMO_XERO_KEY))


def _answering(status: int = 200, content: bytes = b"{}", error: Exception | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if error:
            raise error
        return httpx.Response(status, content=content)
    return httpx.MockTransport(handle)


@pytest.mark.parametrize(("transport", "reason"), [
    (_answering(error=httpx.ReadTimeout("slow")), "ReadTimeout"),
    (_answering(content=b"<html>maintenance</html>"), "unexpected answer"),
    (_answering(content=b'{"active": true, "key_id": "k-1"}'), "unexpected answer"),  # a known key, undescribed
    (_answering(content=b'{"active": true, "key_id": "k 1; drop", "label": "x", "service": "xero",'
                        b' "merchant_id": "m-1"}'), "unexpected answer"),
    (_answering(status=302), "HTTP 302"),
    (_answering(status=429), "HTTP 429"),
])
async def test_nonsense_and_timeouts_are_unavailable_and_never_name_the_key(transport, reason):
    cloudpos = client("http://cloudpos.invalid", "t", transport)
    async with cloudpos.connected():
        with pytest.raises(CloudPosUnavailable, match=reason) as failure:
            await cloudpos.introspect(ApiKey(demo.DEMO_XERO_KEY))
    assert demo.DEMO_XERO_KEY not in str(failure.value) and failure.value.__cause__ is None


async def test_too_many_or_malformed_stores_are_unavailable():
    stores = b'{"stores": [' + b",".join(b'{"store_id": "s-%d", "name": "S"}' % i for i in range(501)) + b"]}"
    for content in (stores, b'{"stores": [{"store_id": "", "name": "S"}]}'):
        cloudpos = client("http://cloudpos.invalid", "t", _answering(content=content))
        async with cloudpos.connected():
            with pytest.raises(CloudPosUnavailable, match="unexpected answer"):
                await cloudpos.stores("m-1")


async def test_calls_before_start_are_unavailable_not_crashes():
    with pytest.raises(CloudPosUnavailable, match="not started"):
        await client("http://cloudpos.invalid", "t").merchant("m-1")


async def test_calls_carry_the_current_trace_context():
    """Cloud POS is the platform's own: its spans join the validation's trace (W3C traceparent)."""
    from opentelemetry.sdk.trace import TracerProvider

    seen: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("traceparent"))
        return httpx.Response(200, content=b'{"active": false}')

    cloudpos = client("http://cloudpos.invalid", "t", httpx.MockTransport(handle))
    async with cloudpos.connected():
        await cloudpos.introspect(ApiKey(demo.DEMO_XERO_KEY))  # no span: nothing to carry
        with TracerProvider().get_tracer("test").start_as_current_span("validate") as span:
            await cloudpos.introspect(ApiKey(demo.DEMO_XERO_KEY))
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert seen[0] is None
    assert seen[1] is not None and seen[1].split("-")[1] == trace_id


async def test_every_path_comes_from_settings(monkeypatch):
    """The platform team moves its endpoints (docs/cloudpos-api.md): configuration alone follows them, under a
    base URL with its own prefix, and an id stays one percent-encoded segment."""
    answers = {"/gw/v2/keys/introspection": {"active": False},
               "/gw/v2/accounts/m%3A1": {"merchant_id": "m:1", "name": "M", "licence": "pro_plus"},
               "/gw/v2/accounts/m%3A1/shops": {"stores": [{"store_id": "s-1", "name": "S"}]}}
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.raw_path.decode()}")
        return httpx.Response(200, json=answers[request.url.raw_path.decode()])

    for name, path in {"KEY_INTROSPECTION": "/v2/keys/introspection", "MERCHANT": "/v2/accounts/{merchant_id}",
                       "MERCHANT_STORES": "/v2/accounts/{merchant_id}/shops"}.items():
        monkeypatch.setenv(f"KEY_VALIDATOR_CLOUDPOS__PATHS__{name}", path)
    monkeypatch.setenv("KEY_VALIDATOR_CLOUDPOS__BASE_URL", "http://cloudpos.test/gw")
    monkeypatch.setenv("KEY_VALIDATOR_CLOUDPOS__PLATFORM_TOKEN", "t")
    settings = KeyValidatorSettings(_env_file=None, database={"url": "postgresql://kv@db/kv"},
                                    kafka={"bootstrap_servers": "kafka:9092"}, api_token="a" * 16,
                                    key_fingerprint_secret="f" * 32)
    cloudpos = HttpCloudPos(settings.cloudpos, transport=httpx.MockTransport(handle))
    async with cloudpos.connected():
        assert await cloudpos.introspect(ApiKey(demo.DEMO_XERO_KEY)) == KeyFacts(active=False)
        assert await cloudpos.merchant("m:1") == MerchantFacts("m:1", "M", "pro_plus")
        assert [s.store_id for s in await cloudpos.stores("m:1")] == ["s-1"]
    assert seen == ["POST /gw/v2/keys/introspection", "GET /gw/v2/accounts/m%3A1", "GET /gw/v2/accounts/m%3A1/shops"]


async def test_fields_the_platform_adds_to_its_answers_are_ignored():
    """docs/cloudpos-api.md promises additive changes are safe: a new field in any answer changes nothing."""
    answers = {"/api/v1/api-keys/introspect": {"active": False, "token_type": "api_key"},
               "/api/v1/merchants/m-1": {"merchant_id": "m-1", "name": "M", "licence": "pro_plus", "vat_number": "1"},
               "/api/v1/merchants/m-1/stores": {"stores": [{"store_id": "s-1", "name": "S", "address": "1 High St"}],
                                                "next_page": None}}

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers[request.url.path])

    cloudpos = client("http://cloudpos.invalid", "t", httpx.MockTransport(handle))
    async with cloudpos.connected():
        assert await cloudpos.introspect(ApiKey(demo.DEMO_XERO_KEY)) == KeyFacts(active=False)
        assert await cloudpos.merchant("m-1") == MerchantFacts("m-1", "M", "pro_plus")
        assert await cloudpos.stores("m-1") == (Store(store_id="s-1", name="S"),)
