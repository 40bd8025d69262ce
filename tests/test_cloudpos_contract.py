"""docs/cloudpos-api.md, the Cloud POS sandbox and the clients' default paths (shared.settings.CloudPosPaths) say
the same thing: every default path is in the document with its settings, and the sandbox answers it."""

from pathlib import Path

import httpx
import pytest

from sandboxes.cloudpos import CloudPosSandboxSettings
from sandboxes.cloudpos import build_app as build_cloudpos
from sandboxes.cloudpos import demo_data as demo
from shared.settings import CloudPosPaths

DOC = (Path(__file__).resolve().parents[1] / "docs" / "cloudpos-api.md").read_text()
PATHS = CloudPosPaths()
# path name -> (method, ids, JSON body, bearer token?) of a call the sandbox's demo data answers with 200
CALLS = {
    "sign_in": ("POST", {}, {"username": demo.STEVE_USERNAME, "password": demo.DEMO_PASSWORD}, False),
    "key_introspection": ("POST", {}, {"api_key": demo.DEMO_XERO_KEY}, True),
    "merchant": ("GET", {"merchant_id": demo.STEVE_MERCHANT_ID}, None, True),
    "merchant_stores": ("GET", {"merchant_id": demo.STEVE_MERCHANT_ID}, None, True),
    "store_sales": ("GET", {"store_id": "s-steve-1"}, None, True),
}


def test_every_path_is_called_here():
    assert set(CALLS) == set(CloudPosPaths.model_fields)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_the_document_names_each_default_path_and_its_setting(name: str):
    assert getattr(PATHS, name) in DOC
    assert f"_CLOUDPOS__PATHS__{name.upper()}" in DOC


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_the_sandbox_serves_each_default_path(name: str):
    token = "platform-token"
    app = build_cloudpos(CloudPosSandboxSettings(platform_token=token, support_token="s", control_token="c"))
    method, ids, body, bearer = CALLS[name]
    headers = {"Authorization": f"Bearer {token}"} if bearer else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://cloudpos.test") as client:
        path = PATHS.fill(getattr(PATHS, name), **ids)
        response = await client.request(method, path, json=body, headers=headers, params={"date": "2026-03-02"})
        assert response.status_code == 200, response.text
        if bearer:
            refused = await client.request(method, path, json=body, params={"date": "2026-03-02"})
            assert refused.status_code == 401, "the platform token is required, as the document says"
