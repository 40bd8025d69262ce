"""The webhook receiver verifies Standard Webhooks signatures and can be told to be down."""

from datetime import UTC, datetime, timedelta

import pydantic
import pytest

from sandboxes.helpdesk import HelpdeskSandboxSettings

PATH = "/webhooks/helpdesk"
PAYLOAD = {"type": "integration.ready_to_finalise", "data": {"merchant_id": "m-steve-cycles"}}
OTHER_SECRET = "whsec_QWxzbyBhIHZhbGlkIGJ1dCBkaWZmZXJlbnQ="


def test_signed_delivery_is_verified_and_recorded(helpdesk, signed):
    body, headers = signed(PAYLOAD, msg_id="msg_1")
    assert helpdesk.post(PATH, content=body, headers=headers).status_code == 204
    [delivery] = helpdesk.get("/webhooks").json()
    assert delivery["webhook_id"] == "msg_1"
    assert delivery["webhook_timestamp"] == headers["webhook-timestamp"]
    assert delivery["body"] == PAYLOAD
    assert delivery["verified"] is True and delivery["status"] == 204


def test_bad_signatures_are_rejected_but_recorded(helpdesk, signed):
    wrong_secret = signed(PAYLOAD, secret=OTHER_SECRET)
    stale = signed(PAYLOAD, at=datetime.now(UTC) - timedelta(minutes=10))
    body, headers = signed(PAYLOAD)
    tampered = (body.replace(b"m-steve-cycles", b"m-basil-bakery"), headers)
    garbage = (body, {**headers, "webhook-signature": "v1"})
    unsigned = (body, {"content-type": "application/json"})
    for content, hdrs in (wrong_secret, stale, tampered, garbage, unsigned):
        response = helpdesk.post(PATH, content=content, headers=hdrs)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_signature"
    deliveries = helpdesk.get("/webhooks").json()
    assert len(deliveries) == 5 and not any(d["verified"] for d in deliveries)


def test_signed_non_json_is_400(helpdesk, signed):
    body, headers = signed("not json")
    assert helpdesk.post(PATH, content=body, headers=headers).status_code == 400


def test_receiver_down_then_up(helpdesk, signed):
    assert helpdesk.post("/_sandbox/receiver/down", json={"status": 503}).status_code == 200
    body, headers = signed(PAYLOAD)
    down = helpdesk.post(PATH, content=body, headers=headers)
    assert down.status_code == 503 and down.json()["error"] == "receiver_down"
    assert helpdesk.post("/_sandbox/receiver/up").status_code == 200
    assert helpdesk.post(PATH, content=body, headers=headers).status_code == 204
    assert [d["status"] for d in helpdesk.get("/webhooks").json()] == [503, 204]


def test_down_defaults_to_503(helpdesk, signed):
    helpdesk.post("/_sandbox/receiver/down")
    body, headers = signed(PAYLOAD)
    assert helpdesk.post(PATH, content=body, headers=headers).status_code == 503


def test_without_a_secret_deliveries_are_accepted_unverified(unsigned_helpdesk):
    response = unsigned_helpdesk.post(PATH, json=PAYLOAD, headers={"webhook-id": "msg_x"})
    assert response.status_code == 204
    [delivery] = unsigned_helpdesk.get("/webhooks").json()
    assert delivery["verified"] is False and delivery["body"] == PAYLOAD


def test_inbox_page_lists_webhooks_newest_first(helpdesk, signed):
    for msg_id in ("msg_old", "msg_new"):
        body, headers = signed(PAYLOAD, msg_id=msg_id)
        helpdesk.post(PATH, content=body, headers=headers)
    html = helpdesk.get("/").text
    assert html.index("msg_new") < html.index("msg_old")
    assert "integration.ready_to_finalise" in html


def test_malformed_secret_fails_at_start_without_echoing_it():
    with pytest.raises(pydantic.ValidationError) as caught:
        HelpdeskSandboxSettings(webhook_secret="whsec_not*base64")
    assert "not*base64" not in str(caught.value)
