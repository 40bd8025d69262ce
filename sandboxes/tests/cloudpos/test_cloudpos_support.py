"""Support issuing and revoking keys, as the help article's Support Team does in the Back Office."""

import re

from sandboxes.cloudpos.state import hash_key


def issue(client, merchant_id="m-steve-cycles", label="Xero API Client", service="xero"):
    return client.post(f"/support/v1/merchants/{merchant_id}/api-keys", json={"label": label, "service": service})


def introspect(client, api_key):
    return client.post("/api/v1/api-keys/introspect", json={"api_key": api_key}).json()


def test_issue_returns_the_plain_key_once(support, platform):
    response = issue(support)
    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"cpk_[A-Za-z0-9_-]{40}", body["api_key"])
    assert body["label"] == "Xero API Client" and body["service"] == "xero"
    assert body["created_at"] == "2026-03-02T10:00:00Z"
    assert response.headers["cache-control"] == "no-store"
    assert introspect(platform, body["api_key"])["active"] is True

    listed = support.get("/support/v1/merchants/m-steve-cycles/api-keys").json()["api_keys"]
    mine = [k for k in listed if k["key_id"] == body["key_id"]]
    assert mine and "api_key" not in mine[0]
    assert body["api_key"] not in str(listed) and hash_key(body["api_key"]) not in str(listed)


def test_revoke_deactivates_and_is_idempotent(support, platform, clock):
    body = issue(support).json()
    clock.advance(hours=2)
    revoked = support.post(f"/support/v1/api-keys/{body['key_id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] == "2026-03-02T12:00:00Z"
    seen = introspect(platform, body["api_key"])
    assert seen["active"] is False and seen["revoked_at"] == "2026-03-02T12:00:00Z"
    clock.advance(hours=1)
    again = support.post(f"/support/v1/api-keys/{body['key_id']}/revoke").json()
    assert again["revoked_at"] == "2026-03-02T12:00:00Z"


def test_unknown_targets_are_404(support):
    assert issue(support, merchant_id="m-nobody").status_code == 404
    assert support.post("/support/v1/api-keys/k-nope/revoke").status_code == 404
    assert support.get("/support/v1/merchants/m-nobody/api-keys").status_code == 404


def test_invalid_issue_request_is_422(support):
    assert issue(support, label="").json()["error"] == "invalid_request"
    assert issue(support, service="Xero API").status_code == 422


def test_support_token_is_required_and_platform_token_is_not_enough(cloudpos, platform):
    for client in (cloudpos, platform):
        response = issue(client)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
    assert platform.post("/support/v1/api-keys/k-steve-xero/revoke").status_code == 401
