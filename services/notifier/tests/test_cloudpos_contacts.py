"""The merchant's contact email from Cloud POS: an address, none (not on file, unknown merchant, unusable), or
"unavailable" for anything else, so the email is tried again later and never sent to a wrong address."""

import httpx
import pytest

from notifier.adapters.cloudpos import HttpCloudPos
from notifier.ports import CloudPosUnavailable
from notifier.settings import CloudPosSettings

SETTINGS = CloudPosSettings(base_url="http://cloudpos.test", platform_token="platform-token")


def answering(status: int, body: object = None, seen: list | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json=body) if body is not None else httpx.Response(status)
    return httpx.MockTransport(handle)


async def ask(transport: httpx.MockTransport, merchant: str = "m-1") -> str | None:
    cloudpos = HttpCloudPos(SETTINGS, transport)
    async with cloudpos.connected():
        return await cloudpos.contact_email(merchant)


async def test_the_address_on_file_with_our_platform_token():
    seen: list[httpx.Request] = []
    body = {"merchant_id": "m/1", "name": "Steve's Cycles", "licence": "pro_plus",
            "contact_email": "accounts@steves-cycles.test"}
    assert await ask(answering(200, body, seen), "m/1") == "accounts@steves-cycles.test"
    assert seen[0].url.raw_path == b"/api/v1/merchants/m%2F1"  # an id never becomes a path
    assert seen[0].headers["authorization"] == "Bearer platform-token"


@pytest.mark.parametrize("body", [
    {"merchant_id": "m-1", "name": "S", "licence": "pro_plus", "contact_email": None},
    {"merchant_id": "m-1", "name": "S", "licence": "pro_plus"},
    {"merchant_id": "m-1", "contact_email": "a@x.test, b@x.test"},
    {"merchant_id": "m-1", "contact_email": "a@x.test\r\nBcc: c@x.test"}])
async def test_no_usable_address_is_none(body):
    assert await ask(answering(200, body)) is None


async def test_an_unknown_merchant_has_no_address():
    assert await ask(answering(404, {"error": "not_found"})) is None


@pytest.mark.parametrize(("status", "body"), [
    (503, {"error": "sandbox_fault"}), (500, None), (401, {"error": "unauthorized"}),
    (200, {"merchant_id": "m-2", "contact_email": "someone@else.test"}), (200, ["not", "a", "merchant"]),
    (302, None)])
async def test_anything_else_is_unavailable_and_retried_later(status, body):
    with pytest.raises(CloudPosUnavailable):
        await ask(answering(status, body))


async def test_a_network_failure_is_unavailable():
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)
    with pytest.raises(CloudPosUnavailable, match="ConnectError"):
        await ask(httpx.MockTransport(fail))


async def test_the_merchant_path_comes_from_settings():
    seen: list[httpx.Request] = []
    settings = CloudPosSettings(base_url="http://cloudpos.test/gw", platform_token="platform-token",
                                paths={"merchant": "/v2/accounts/{merchant_id}/contact"})
    cloudpos = HttpCloudPos(settings, answering(200, {"merchant_id": "m/1", "contact_email": "a@m.test"}, seen))
    async with cloudpos.connected():
        assert await cloudpos.contact_email("m/1") == "a@m.test"
    assert [r.url.raw_path for r in seen] == [b"/gw/v2/accounts/m%2F1/contact"]
