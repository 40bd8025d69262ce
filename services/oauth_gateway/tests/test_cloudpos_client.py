"""The gateway's Cloud POS client (the merchant's sign-in) against the Cloud POS sandbox, and on a path the
settings moved: the contract is docs/cloudpos-api.md."""

import json

import httpx
import pytest

from oauth_gateway.adapters.services import CloudPosClient
from oauth_gateway.ports import ServiceRefusal, ServiceUnavailable, SignedIn
from oauth_gateway.settings import CloudPosSettings
from sandboxes.cloudpos import CloudPosSandboxSettings
from sandboxes.cloudpos import build_app as build_cloudpos
from sandboxes.cloudpos import demo_data as demo

SANDBOX = CloudPosSandboxSettings(platform_token="platform-token", support_token="s", control_token="c")


def client(http: httpx.AsyncClient, **paths: str) -> CloudPosClient:
    return CloudPosClient(http, CloudPosSettings(base_url="http://cloudpos.test", paths=paths))


async def test_sign_in_and_its_refusals_at_the_sandbox():
    app = build_cloudpos(SANDBOX)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app)) as http:
        cloudpos = client(http)
        assert await cloudpos.sign_in(demo.STEVE_USERNAME, demo.DEMO_PASSWORD) == SignedIn(
            demo.STEVE_USER_ID, demo.STEVE_MERCHANT_ID, demo.STEVE_MERCHANT_NAME, demo.STEVE_DISPLAY_NAME)
        with pytest.raises(ServiceRefusal) as wrong:
            await cloudpos.sign_in(demo.STEVE_USERNAME, "not the password")
        assert (wrong.value.status, wrong.value.code) == (401, "invalid_credentials")
        with pytest.raises(ServiceRefusal) as disabled:
            await cloudpos.sign_in(demo.DISABLED_USERNAME, demo.DEMO_PASSWORD)
        assert (disabled.value.status, disabled.value.code) == (403, "account_disabled")
        app.state.controls.remaining_faults, app.state.controls.fault_status = 1, 503
        with pytest.raises(ServiceUnavailable):
            await cloudpos.sign_in(demo.STEVE_USERNAME, demo.DEMO_PASSWORD)


async def test_the_sign_in_path_comes_from_settings():
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"user_id": "u-1", "merchant_id": "m-1", "merchant_name": "M",
                                         "display_name": "Dee"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        signed_in = await client(http, sign_in="/identity/v2/sign-ins").sign_in("dee@m.test", "pw")
    assert signed_in == SignedIn("u-1", "m-1", "M", "Dee")
    (request,) = seen
    assert (request.method, request.url.path) == ("POST", "/identity/v2/sign-ins")
    assert json.loads(request.content) == {"username": "dee@m.test", "password": "pw"}
    assert "authorization" not in request.headers, "sign-in is the merchant's own details, not our token"
