"""Sandbox controls (faults, reset, call log, seeding), the Back Office page and the demo constants."""

import re

import pytest
from pydantic import ValidationError

from sandboxes.cloudpos import CloudPosSandboxSettings
from sandboxes.cloudpos import demo_data as demo
from sandboxes.cloudpos.state import hash_key

DEMO_KEYS = [demo.DEMO_XERO_KEY, demo.DEMO_BRM_KEY, demo.DEMO_REVOKED_XERO_KEY, demo.DEMO_BASIL_XERO_KEY]


def test_demo_keys_have_the_real_format_and_are_distinct():
    assert all(re.fullmatch(r"cpk_[A-Za-z0-9_-]{40}", key) for key in DEMO_KEYS)
    assert len(set(DEMO_KEYS)) == len(DEMO_KEYS)


def test_faults_fail_the_next_platform_calls_then_recover(cloudpos, platform, control):
    assert control.post("/_sandbox/faults", json={"count": 2, "status": 503}).status_code == 200
    first = platform.get("/api/v1/merchants/m-steve-cycles")
    second = cloudpos.post("/api/v1/sessions", json={"username": "x", "password": "y"})
    assert (first.status_code, second.status_code) == (503, 503)
    assert first.json()["error"] == "sandbox_fault" and first.headers["retry-after"] == "1"
    assert platform.get("/api/v1/merchants/m-steve-cycles").status_code == 200


def test_faults_hit_before_auth_and_spare_support_and_controls(cloudpos, support, control):
    control.post("/_sandbox/faults", json={"count": 1, "status": 500})
    assert support.get("/support/v1/merchants/m-steve-cycles/api-keys").status_code == 200
    assert control.get("/_sandbox/calls").status_code == 200
    assert cloudpos.get("/api/v1/merchants/m-steve-cycles").status_code == 500


@pytest.mark.parametrize("headers", [{}, {"x-sandbox-control-token": "nope"},
                                     {"Authorization": "Bearer platform-test-token"}])
def test_controls_need_the_control_token(cloudpos, headers):
    assert cloudpos.post("/_sandbox/reset", headers=headers).status_code == 401
    assert cloudpos.get("/_sandbox/calls", headers=headers).status_code == 401


def test_call_log_keeps_method_path_status_but_no_secrets(cloudpos, platform, control):
    platform.post("/api/v1/api-keys/introspect", json={"api_key": demo.DEMO_XERO_KEY})
    cloudpos.post("/api/v1/sessions", json={"username": demo.STEVE_USERNAME, "password": "wrong"})
    calls = control.get("/_sandbox/calls").json()["calls"]
    assert [(c["method"], c["path"], c["status"]) for c in calls] == [
        ("POST", "/api/v1/api-keys/introspect", 200), ("POST", "/api/v1/sessions", 401)]
    text = str(calls)
    assert demo.DEMO_XERO_KEY not in text and "platform-test-token" not in text and "wrong" not in text


def test_reset_restores_demo_data_and_clears_faults(platform, support, control):
    support.post("/support/v1/api-keys/k-steve-xero/revoke")
    control.post("/_sandbox/faults", json={"count": 5})
    assert control.post("/_sandbox/reset").status_code == 200
    body = platform.post("/api/v1/api-keys/introspect", json={"api_key": demo.DEMO_XERO_KEY})
    assert body.json()["active"] is True
    assert control.get("/_sandbox/calls").json()["calls"][0]["status"] == 200


def test_seed_a_merchant_with_another_licence(cloudpos, platform, control):
    seed = {"merchant_id": "m-lite", "name": "Lite Ltd", "licence": "lite",
            "stores": [{"store_id": "s-lite-1", "name": "Lite Shop"}],
            "users": [{"user_id": "u-lite", "username": "lite@example.test", "password": "pw-123456",
                       "display_name": "Lee Lite"}]}
    assert control.post("/_sandbox/merchants", json=seed).status_code == 201
    assert control.post("/_sandbox/merchants", json=seed).status_code == 409
    assert platform.get("/api/v1/merchants/m-lite").json()["licence"] == "lite"
    assert platform.get("/api/v1/merchants/m-lite").json()["contact_email"] is None  # none on file
    session = cloudpos.post("/api/v1/sessions", json={"username": "lite@example.test", "password": "pw-123456"})
    assert session.json()["merchant_name"] == "Lite Ltd"


def test_seed_a_merchant_with_a_contact_email(platform, control):
    seed = {"merchant_id": "m-mail", "name": "Mail Ltd", "licence": "pro_plus", "contact_email": "owner@mail.test"}
    assert control.post("/_sandbox/merchants", json=seed).status_code == 201
    assert platform.get("/api/v1/merchants/m-mail").json()["contact_email"] == "owner@mail.test"


@pytest.mark.parametrize("address", ["not-an-address", "a@b.test\r\nBcc: c@d.test", "x" * 320 + "@long.test"])
def test_a_seeded_contact_email_must_be_one_address(platform, control, address):
    seed = {"merchant_id": "m-bad-mail", "name": "Bad", "licence": "pro_plus", "contact_email": address}
    response = control.post("/_sandbox/merchants", json=seed)
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
    assert "contact_email" in response.json()["message"]
    assert platform.get("/api/v1/merchants/m-bad-mail").status_code == 404  # nothing half-seeded


def test_back_office_page_lists_keys_but_never_shows_one(cloudpos, support):
    issued = support.post("/support/v1/merchants/m-steve-cycles/api-keys",
                          json={"label": "Xero API Client", "service": "xero"}).json()
    page = cloudpos.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    for text in ("Steve&#39;s Cycles", "Steve Outlet Store", "Bike Rental Manager API Client",
                 "External Access To The Cloud POS API", issued["key_id"], "2026-01-12T16:00:00Z"):
        assert text in html
    for secret in [*DEMO_KEYS, issued["api_key"]]:
        assert secret not in html and hash_key(secret) not in html
    assert "cpk_" not in html


def test_settings_require_every_token_and_never_echo_them():
    with pytest.raises(ValidationError) as caught:
        CloudPosSandboxSettings(platform_token="p-secret-value", support_token="s-secret-value")
    assert "control_token" in str(caught.value) and "secret-value" not in str(caught.value)
