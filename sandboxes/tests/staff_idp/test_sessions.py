"""The IdP's own sign-in: a cookie that lets a second authorize skip the password, and RP-initiated logout that
ends it (and the access tokens issued under it)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from sandboxes.staff_idp import BOB_EMAIL, LENA_EMAIL

from .conftest import CLIENT_ID, REDIRECT_URI, SIGNED_OUT_URI, query_of

COOKIE = "staff_idp_session"


async def test_the_session_cookie_lets_a_second_authorize_skip_the_password(idp, browser):
    await idp.sign_in(browser, LENA_EMAIL)
    cookie = next(c for c in browser.cookies.jar if c.name == COOKIE)
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/"
    response, attempt = await idp.authorize(browser)
    assert response.status_code == 302 and response.headers["location"].startswith(REDIRECT_URI + "?")
    callback = query_of(response.headers["location"])
    tokens = await idp.rp.exchange_code(callback["code"], attempt.verifier, REDIRECT_URI)
    claims = await idp.rp.verify_id_token(tokens["id_token"], nonce=attempt.nonce,
                                          access_token=tokens["access_token"], now=datetime.now(UTC))
    assert claims["email"] == LENA_EMAIL


async def test_prompt_login_and_max_age_ask_for_the_password_again(idp, browser):
    await idp.sign_in(browser)
    forced, _ = await idp.authorize(browser, prompt="login")
    assert forced.headers["location"].startswith("/login?txn=")
    idp.clock.advance(120)
    stale, _ = await idp.authorize(browser, max_age="60")
    assert stale.headers["location"].startswith("/login?txn=")
    fresh, _ = await idp.authorize(browser, max_age="600")
    assert fresh.headers["location"].startswith(REDIRECT_URI + "?")


async def test_signing_in_as_someone_else_replaces_the_session(idp, browser):
    await idp.sign_in(browser)
    callback, attempt = await idp.sign_in(browser, BOB_EMAIL, prompt="login")
    tokens = await idp.rp.exchange_code(callback["code"], attempt.verifier, REDIRECT_URI)
    claims = await idp.rp.verify_id_token(tokens["id_token"], nonce=attempt.nonce,
                                          access_token=tokens["access_token"], now=datetime.now(UTC))
    assert claims["email"] == BOB_EMAIL
    assert len([c for c in browser.cookies.jar if c.name == COOKIE]) == 1


@pytest.mark.parametrize("identify", ["client_id", "id_token_hint"])
async def test_end_session_clears_the_sign_in_and_returns_to_the_registered_uri(idp, browser, identify):
    callback, attempt = await idp.sign_in(browser)
    tokens = await idp.rp.exchange_code(callback["code"], attempt.verifier, REDIRECT_URI)
    who = {"client_id": CLIENT_ID} if identify == "client_id" else {"id_token_hint": tokens["id_token"]}
    idp.clock.advance(600)  # the hint may have expired: logout still works
    ended = await browser.get("/end_session", params={**who, "post_logout_redirect_uri": SIGNED_OUT_URI,
                                                      "state": "bye-1"})
    assert ended.status_code == 302 and ended.headers["location"] == f"{SIGNED_OUT_URI}?state=bye-1"
    assert COOKIE in ended.headers["set-cookie"] and "Max-Age=0" in ended.headers["set-cookie"]
    assert [c for c in browser.cookies.jar if c.name == COOKIE] == []
    again, _ = await idp.authorize(browser)
    assert again.headers["location"].startswith("/login?txn=")
    info = httpx.get(f"{idp.base_url}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401


async def test_the_old_cookie_is_refused_after_logout_even_if_replayed(idp, browser):
    await idp.sign_in(browser)
    stolen = next(c.value for c in browser.cookies.jar if c.name == COOKIE)
    ended = await browser.post("/end_session", data={"client_id": CLIENT_ID,
                                                      "post_logout_redirect_uri": SIGNED_OUT_URI})
    assert ended.headers["location"] == SIGNED_OUT_URI  # no state sent, none added
    async with httpx.AsyncClient(base_url=idp.base_url, cookies={COOKIE: stolen}) as replay:
        response, _ = await idp.authorize(replay)
    assert response.headers["location"].startswith("/login?txn=")


async def test_end_session_without_a_redirect_shows_a_signed_out_page(idp, browser):
    await idp.sign_in(browser)
    ended = await browser.get("/end_session")
    assert ended.status_code == 200 and "You have signed out" in ended.text
    assert (await idp.authorize(browser))[0].headers["location"].startswith("/login?txn=")


@pytest.mark.parametrize("params", [
    {"client_id": CLIENT_ID, "post_logout_redirect_uri": "http://evil.test/signed-out"},
    {"post_logout_redirect_uri": SIGNED_OUT_URI},
    {"client_id": "someone-else", "post_logout_redirect_uri": SIGNED_OUT_URI},
    {"id_token_hint": "not-a-jwt", "post_logout_redirect_uri": SIGNED_OUT_URI},
])
async def test_end_session_never_redirects_to_an_unregistered_uri_and_keeps_the_session(idp, browser, params):
    await idp.sign_in(browser)
    refused = await browser.get("/end_session", params=params)
    assert refused.status_code == 400 and "location" not in refused.headers
    assert (await idp.authorize(browser))[0].headers["location"].startswith(REDIRECT_URI + "?")
