"""Sign-in with Cloud POS details, as the set-up page does before a key is pasted."""

from sandboxes.cloudpos import demo_data as demo


def sign_in(client, username, password):
    return client.post("/api/v1/sessions", json={"username": username, "password": password})


def test_sign_in_returns_user_and_merchant(cloudpos):
    response = sign_in(cloudpos, demo.STEVE_USERNAME, demo.DEMO_PASSWORD)
    assert response.status_code == 200
    assert response.json() == {
        "user_id": demo.STEVE_USER_ID, "merchant_id": "m-steve-cycles", "merchant_name": "Steve's Cycles",
        "display_name": demo.STEVE_DISPLAY_NAME, "email": "steve@cloudpos-demo.test",
    }


def test_username_is_case_insensitive(cloudpos):
    response = sign_in(cloudpos, "  Basil@CloudPOS-Demo.test", demo.DEMO_PASSWORD)
    assert response.status_code == 200
    assert response.json()["merchant_id"] == "m-basil-bakery"


def test_wrong_password_and_unknown_user_look_the_same(cloudpos):
    wrong = sign_in(cloudpos, demo.STEVE_USERNAME, "not-the-password")
    unknown = sign_in(cloudpos, "nobody@cloudpos-demo.test", demo.DEMO_PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"] == unknown.json()["error"] == "invalid_credentials"
    assert wrong.json()["message"] == unknown.json()["message"]


def test_disabled_user_is_forbidden(cloudpos):
    response = sign_in(cloudpos, demo.DISABLED_USERNAME, demo.DEMO_PASSWORD)
    assert response.status_code == 403
    assert response.json()["error"] == "account_disabled"


def test_user_is_locked_after_repeated_failures(cloudpos, settings):
    for _ in range(settings.lockout_threshold):
        assert sign_in(cloudpos, demo.BASIL_USERNAME, "guess").status_code == 401
    locked = sign_in(cloudpos, demo.BASIL_USERNAME, demo.DEMO_PASSWORD)
    assert locked.status_code == 403
    assert locked.json()["error"] == "account_locked"


def test_overlong_password_is_rejected_not_crashing(cloudpos):
    assert sign_in(cloudpos, demo.STEVE_USERNAME, demo.DEMO_PASSWORD + "x" * 80).status_code == 401


def test_malformed_body_gets_the_platform_error_shape(cloudpos):
    response = cloudpos.post("/api/v1/sessions", json={"username": "steve@cloudpos-demo.test"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert "password" in response.json()["message"]
