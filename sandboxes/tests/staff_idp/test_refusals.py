"""What the provider refuses, and how: an error page where it must not redirect, OAuth errors at the redirect URI
otherwise (RFC 6749 §4.1.2.1), and RFC 6749 §5.2 JSON from the token endpoint."""

from __future__ import annotations

import base64

import httpx
import pytest

from shared.oidc import OidcClient, ProviderRefused

from .conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, s256


def token_call(idp, data: dict, auth: tuple[str, str] | None = (CLIENT_ID, CLIENT_SECRET)) -> httpx.Response:
    return httpx.post(f"{idp.base_url}/token", data=data, auth=auth)


def userinfo(idp, access_token: str) -> httpx.Response:
    return httpx.get(f"{idp.base_url}/userinfo", headers={"Authorization": f"Bearer {access_token}"})


async def test_a_wrong_code_verifier_is_invalid_grant_and_burns_the_code(idp, browser):
    callback, attempt = await idp.sign_in(browser)
    with pytest.raises(ProviderRefused) as refused:
        await idp.rp.exchange_code(callback["code"], "x" * 64, REDIRECT_URI)
    assert refused.value.error == "invalid_grant"
    with pytest.raises(ProviderRefused):  # the right verifier is too late now
        await idp.rp.exchange_code(callback["code"], attempt.verifier, REDIRECT_URI)


async def test_a_missing_code_verifier_is_invalid_grant(idp, browser):
    callback, _ = await idp.sign_in(browser)
    answer = token_call(idp, {"grant_type": "authorization_code", "code": callback["code"],
                              "redirect_uri": REDIRECT_URI})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


async def test_a_reused_code_is_refused_and_revokes_what_it_gave(idp, browser):
    callback, attempt = await idp.sign_in(browser)
    tokens = await idp.rp.exchange_code(callback["code"], attempt.verifier, REDIRECT_URI)
    assert userinfo(idp, tokens["access_token"]).status_code == 200
    with pytest.raises(ProviderRefused) as refused:
        await idp.rp.exchange_code(callback["code"], attempt.verifier, REDIRECT_URI)
    assert refused.value.error == "invalid_grant"
    revoked = userinfo(idp, tokens["access_token"])
    assert revoked.status_code == 401 and 'error="invalid_token"' in revoked.headers["www-authenticate"]


async def test_a_code_is_short_lived(idp, browser):
    callback, attempt = await idp.sign_in(browser)
    idp.clock.advance(61)
    with pytest.raises(ProviderRefused) as refused:
        await idp.rp.exchange_code(callback["code"], attempt.verifier, REDIRECT_URI)
    assert refused.value.error == "invalid_grant"


async def test_a_code_is_bound_to_its_redirect_uri(idp, browser):
    callback, attempt = await idp.sign_in(browser)
    with pytest.raises(ProviderRefused) as refused:
        await idp.rp.exchange_code(callback["code"], attempt.verifier, "http://127.0.0.1:8103/elsewhere")
    assert refused.value.error == "invalid_grant"


async def test_a_wrong_client_secret_is_invalid_client(idp, browser):
    callback, attempt = await idp.sign_in(browser)
    async with httpx.AsyncClient() as http:
        impostor = OidcClient(idp.base_url, CLIENT_ID, "not-the-secret", http)
        with pytest.raises(ProviderRefused) as refused:
            await impostor.exchange_code(callback["code"], attempt.verifier, REDIRECT_URI)
    assert refused.value.error == "invalid_client"
    answer = token_call(idp, {"grant_type": "authorization_code", "code": "whatever", "code_verifier": "v" * 43,
                              "redirect_uri": REDIRECT_URI}, auth=(CLIENT_ID, "not-the-secret"))
    assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Basic")
    assert answer.json()["error"] == "invalid_client" and answer.headers["cache-control"] == "no-store"
    for sent in ({}, {"client_id": CLIENT_ID}, {"client_id": "someone-else", "client_secret": CLIENT_SECRET}):
        form = token_call(idp, {"grant_type": "authorization_code", "code": "c", **sent}, auth=None)
        assert (form.status_code, form.json()["error"]) == (401, "invalid_client"), sent


async def test_client_secret_post_works_and_two_methods_at_once_do_not(idp, browser):
    callback, attempt = await idp.sign_in(browser)
    form = {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI,
            "code_verifier": attempt.verifier, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    both = token_call(idp, form)
    assert (both.status_code, both.json()["error"]) == (400, "invalid_request")
    posted = token_call(idp, form, auth=None)
    assert posted.status_code == 200, posted.text
    assert set(posted.json()) == {"access_token", "token_type", "expires_in", "id_token", "scope"}


async def test_basic_credentials_are_form_urlencoded_as_rfc_6749_says(idp, browser):
    callback, attempt = await idp.sign_in(browser)
    encoded = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET.replace('-', '%2D')}".encode()).decode()
    answer = httpx.post(f"{idp.base_url}/token", headers={"Authorization": f"Basic {encoded}"}, data={
        "grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI,
        "code_verifier": attempt.verifier})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(("data", "error"), [
    ({"grant_type": "refresh_token", "refresh_token": "r"}, "unsupported_grant_type"),
    ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
    ({"code": "c"}, "invalid_request"),
    ({"grant_type": "authorization_code"}, "invalid_request"),
])
def test_other_token_requests_get_rfc_6749_errors(idp, data, error):
    answer = token_call(idp, data)
    assert (answer.status_code, answer.json()["error"]) == (400, error)
    assert answer.json()["error_description"]


@pytest.mark.parametrize("change", [{"redirect_uri": "http://127.0.0.1:8103/helpdesk/callback/../evil"},
                                    {"redirect_uri": "http://evil.test/helpdesk/callback"},
                                    {"redirect_uri": None}, {"client_id": "someone-else"}, {"client_id": None}])
def test_an_unknown_client_or_unregistered_redirect_gets_an_error_page_never_a_redirect(idp, change):
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code", "scope": "openid",
              "state": "s", "code_challenge": s256("v" * 43), "code_challenge_method": "S256", **change}
    answer = httpx.get(f"{idp.base_url}/authorize", params={k: v for k, v in params.items() if v is not None})
    assert answer.status_code == 400 and "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html") and "Sign-in cannot continue" in answer.text


@pytest.mark.parametrize(("change", "error"), [
    ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": "too-short"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": None}, "invalid_request"),
    ({"scope": "profile email"}, "invalid_scope"),
    ({"scope": "openid offline_access"}, "invalid_scope"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"prompt": "none"}, "login_required"),
    ({"request": "eyJ..."}, "request_not_supported"),
])
def test_other_authorize_problems_go_back_to_the_client_with_its_state(idp, change, error):
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code",
              "scope": "openid profile email", "state": "st-1", "nonce": "n", "code_challenge": s256("v" * 43),
              "code_challenge_method": "S256", **change}
    answer = httpx.get(f"{idp.base_url}/authorize", params={k: v for k, v in params.items() if v is not None})
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    query = dict(httpx.URL(location).params)
    assert (query["error"], query["state"], query["iss"]) == (error, "st-1", idp.base_url)
    assert "code" not in query


def test_a_repeated_parameter_is_refused(idp):
    url = (f"{idp.base_url}/authorize?client_id={CLIENT_ID}&redirect_uri={REDIRECT_URI}&response_type=code"
           f"&scope=openid&state=a&state=b&code_challenge={s256('v' * 43)}&code_challenge_method=S256")
    answer = httpx.get(url)
    assert answer.status_code == 302 and dict(httpx.URL(answer.headers["location"]).params)["error"] == (
        "invalid_request")


def test_userinfo_wants_a_valid_bearer_token(idp):
    missing = httpx.get(f"{idp.base_url}/userinfo")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    wrong = userinfo(idp, "not-a-token")
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
