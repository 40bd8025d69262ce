"""Platform endpoints our services call: key introspection, merchants and their stores."""

import pytest

from sandboxes.cloudpos import demo_data as demo


def introspect(client, api_key):
    return client.post("/api/v1/api-keys/introspect", json={"api_key": api_key})


def test_introspect_valid_xero_key(platform):
    response = introspect(platform, demo.DEMO_XERO_KEY)
    assert response.status_code == 200
    assert response.json() == {
        "active": True, "key_id": demo.DEMO_XERO_KEY_ID, "label": "Xero API Client", "service": "xero",
        "merchant_id": "m-steve-cycles", "created_at": "2026-01-12T16:00:00Z", "revoked_at": None,
    }


def test_introspect_revoked_key_is_inactive_but_described(platform):
    body = introspect(platform, demo.DEMO_REVOKED_XERO_KEY).json()
    assert body["active"] is False
    assert body["key_id"] == demo.DEMO_REVOKED_XERO_KEY_ID
    assert body["revoked_at"] == "2026-01-12T16:00:00Z"


def test_introspect_bike_rental_manager_key_reports_its_service(platform):
    body = introspect(platform, demo.DEMO_BRM_KEY).json()
    assert (body["active"], body["service"], body["label"]) == (True, "bike_rental_manager",
                                                                "Bike Rental Manager API Client")


@pytest.mark.parametrize("key", ["", "cpk_" + "x" * 40, demo.DEMO_XERO_KEY.upper()])
def test_introspect_unknown_key_reveals_nothing(platform, key):
    response = introspect(platform, key)
    assert response.status_code == 200
    assert response.json() == {"active": False}


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "platform-test-token", "Bearer support-test-token"])
def test_platform_token_is_required(cloudpos, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    for response in (cloudpos.post("/api/v1/api-keys/introspect", json={"api_key": demo.DEMO_XERO_KEY},
                                   headers=headers),
                     cloudpos.get("/api/v1/merchants/m-steve-cycles", headers=headers),
                     cloudpos.get("/api/v1/merchants/m-steve-cycles/stores", headers=headers)):
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_merchant_licences(platform):
    steve = platform.get("/api/v1/merchants/m-steve-cycles").json()
    basil = platform.get("/api/v1/merchants/m-basil-bakery").json()
    assert steve == {"merchant_id": "m-steve-cycles", "name": "Steve's Cycles", "licence": "pro_plus",
                     "contact_email": "accounts@steves-cycles.test"}
    assert basil["licence"] == "pro"


def test_merchants_carry_the_contact_email_the_platform_writes_to(platform):
    """The notifier emails a merchant whose Xero connection broke at this address."""
    basil = platform.get("/api/v1/merchants/m-basil-bakery").json()
    assert basil["contact_email"] == demo.BASIL_CONTACT_EMAIL == "hello@basils-bakery.test"
    assert demo.STEVE_CONTACT_EMAIL == "accounts@steves-cycles.test"


def test_unknown_merchant_is_404(platform):
    for path in ("/api/v1/merchants/m-nobody", "/api/v1/merchants/m-nobody/stores"):
        response = platform.get(path)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


def test_stores_listing(platform):
    response = platform.get("/api/v1/merchants/m-steve-cycles/stores")
    assert response.status_code == 200
    assert response.json() == {"stores": [
        {"store_id": "s-steve-1", "name": "Steve Test Store"},
        {"store_id": "s-steve-2", "name": "Steve Test Store 2"},
        {"store_id": "s-steve-3", "name": "Steve Outlet Store"},
    ]}
    basil = platform.get("/api/v1/merchants/m-basil-bakery/stores").json()
    assert [s["store_id"] for s in basil["stores"]] == list(demo.BASIL_STORES)
