"""Sessions, cookies, CSRF on sign-in, key validation and ownership over real HTTP."""

from dataclasses import replace

import pytest

from local_infra.browser import Browser, forms_of
from local_infra.merchant import PASSWORD, ready, seed_merchant, sign_in
from sandboxes.cloudpos.demo_data import DEMO_BRM_KEY, DEMO_REVOKED_XERO_KEY, DEMO_XERO_KEY

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _cookie(browser: Browser) -> str | None:
    return browser.http.cookies.get("cpx_setup")


async def test_the_session_cookie_is_httponly_lax_host_only_and_rotates_at_sign_in(stack):
    browser = stack.browser()
    first = await browser.get(stack.gateway_url + "/")
    anonymous = _cookie(browser)
    header = first.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header
    assert "domain=" not in header and "secure" not in header          # plain-http localhost

    await browser.submit("Log in", {"username": stack.merchant.username, "password": PASSWORD})
    signed_in = _cookie(browser)
    assert signed_in and signed_in != anonymous
    token = next(f.fields["csrf_token"] for f in forms_of(browser.page.text))
    await browser.post(stack.gateway_url + "/sign-in", {"username": stack.merchant.username, "password": PASSWORD,
                                                        "csrf_token": token})
    assert _cookie(browser) not in (signed_in, None)                    # signing in again: another new id

    stale = Browser()
    stale.http.cookies.set("cpx_setup", signed_in)
    await stale.get(stack.gateway_url + "/")
    await stale.close()
    assert "Log in using your Cloud POS details" in stale.text()


async def test_signing_out_ends_the_session_on_the_server(stack):
    browser = await sign_in(stack)
    old = _cookie(browser)
    await browser.submit("Sign out")

    replay = Browser()
    replay.http.cookies.set("cpx_setup", old)
    page = await replay.post(stack.gateway_url + "/key", {"api_key": "x", "csrf_token": "y"})
    await replay.close()
    assert page.status_code in (401, 403)
    assert await stack.pool.fetchval("SELECT count(*) FROM web_sessions") == 0


async def test_an_idle_session_expires(stack):
    browser = await sign_in(stack)
    await stack.xero("POST", "/_sandbox/clock/advance", json={"seconds": 31 * 60})
    await browser.get(stack.gateway_url + "/")
    assert "Log in using your Cloud POS details" in browser.text()


async def test_sign_in_needs_the_csrf_token_and_wrong_details_get_a_readable_answer(stack):
    browser = stack.browser()
    await browser.get(stack.gateway_url + "/")
    forged = await browser.post(stack.gateway_url + "/sign-in", {"username": stack.merchant.username,
                                                                 "password": PASSWORD})
    assert forged.status_code == 403

    await browser.get(stack.gateway_url + "/")
    wrong = await browser.submit("Log in", {"username": stack.merchant.username, "password": "nope-nope"})
    assert wrong.status_code == 401 and "Those sign-in details did not work" in browser.text()
    assert "nope-nope" not in wrong.text


def _key_field_refused(browser: Browser, code: str) -> None:
    """The stores page itself, the refusal next to the key field (which points at it), ready to try again."""
    html = browser.page.text
    assert "Link your Cloud POS stores to Xero" in browser.text()
    assert f'id="api_key-error" role="alert" data-code="{code}"' in html
    assert 'aria-describedby="api_key-hint api_key-error" aria-invalid="true" autofocus' in html


@pytest.mark.parametrize(("key", "code", "words"), [
    (DEMO_BRM_KEY, "key_for_other_service", "another service"),
    (DEMO_XERO_KEY, "key_of_other_merchant", "another Cloud POS account"),
    (DEMO_REVOKED_XERO_KEY, "key_revoked", "has been revoked"),
    ("cpk_not_a_real_key_000000000000000000000000", "unknown_key", "do not recognise")])
async def test_a_refused_key_is_explained_at_the_field_never_echoed_and_the_right_one_then_accepted(
        stack, key, code, words):
    browser = await sign_in(stack)
    assert 'type="password"' in browser.page.text and 'name="api_key"' in browser.page.text

    page = await browser.submit("Validate Cloud POS API Key", {"api_key": key})

    assert page.status_code == 403 or page.status_code == 401
    assert words in browser.text() and key not in page.text
    _key_field_refused(browser, code)
    await browser.submit("Validate Cloud POS API Key", {"api_key": stack.merchant.api_key})
    assert "has been validated" in browser.text() and "api_key-error" not in browser.page.text


async def test_a_key_of_a_merchant_without_pro_plus_is_refused_at_the_field(stack):
    pro = replace(stack, merchant=await seed_merchant(stack.cloudpos_url, licence="pro"))
    browser = await sign_in(pro)

    page = await browser.submit("Validate Cloud POS API Key", {"api_key": pro.merchant.api_key})

    assert page.status_code == 403 and "Pro Plus" in browser.text()
    _key_field_refused(browser, "licence_not_pro_plus")


async def test_the_stores_are_listed_individually_each_with_connect_to_xero(stack):
    browser = await ready(stack)
    text = browser.text()
    assert "Steve Test Store" in text and "Steve Test Store 2" in text
    assert text.count("Connect to Xero") == 2
    for store in stack.merchant.stores.values():
        assert f'aria-label="Connect to Xero for {store}"' in browser.page.text
    assert stack.merchant.api_key not in browser.page.text


async def test_a_merchant_cannot_act_on_stores_or_organisations_that_are_not_theirs(stack):
    browser = await ready(stack)
    form = {"csrf_token": next(f.fields["csrf_token"] for f in forms_of(browser.page.text))}

    store = await browser.post(stack.gateway_url + "/stores/s-steve-1/connect", form)
    org = await browser.post(stack.gateway_url + "/organisations/3f5c1b2a-8d4e-4c6f-9a1b-2c3d4e5f6a06/disconnect",
                             form)

    assert store.status_code == 403 and "Store not available" in store.text
    assert org.status_code == 404


async def test_i_have_finished_is_not_offered_with_nothing_connected_and_is_refused_if_sent(stack):
    browser = await ready(stack)
    assert all(text != "I have finished connecting stores"
               for form in forms_of(browser.page.text) for _, _, text in form.buttons)
    token = next(f.fields["csrf_token"] for f in forms_of(browser.page.text))

    page = await browser.post(stack.gateway_url + "/finished", {"csrf_token": token})

    assert page.status_code == 409 and "No stores are connected yet" in browser.text()


async def test_pages_need_a_session_and_say_how_to_get_one(stack):
    browser = stack.browser()
    page = await browser.get(stack.gateway_url + "/connect/6a7f1a2e-8d3c-4a4f-9f10-2b5e6c7d8e9f")
    assert page.status_code == 401 and "Please sign in" in browser.text()
