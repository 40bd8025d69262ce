"""§B32/§B40 for oauth_gateway's HTML pages: hostile values in every form field, path segment and callback
query parameter of a signed-in session (valid CSRF token, so the value reaches the handlers). Never a 5xx,
never reflected unescaped, never a stray cookie, and the session still works afterwards."""

import pytest

from local_infra.browser import forms_of
from local_infra.merchant import PASSWORD, ready
from services.oauth_gateway.tests.stack import stack  # noqa: F401 - fixture

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.security]
HOSTILE = ["", "\x00", "' OR '1'='1' --", "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>",
           "{{7*7}}", "../../etc/passwd", "\r\nSet-Cookie: pwned=1", "💥" * 40, "A" * 10_000,
           "00000000-0000-0000-0000-000000000000", "//evil.example/", "javascript:alert(1)"]
MARKUP = ("<script>", "<img src=x")


def _csrf(page: str) -> str:
    return next(f.fields["csrf_token"] for f in forms_of(page) if "csrf_token" in f.fields)


async def test_hostile_values_in_every_form_field_and_path_never_break_the_gateway(stack):
    browser = await ready(stack)
    home = (await browser.get(stack.gateway_url + "/")).text
    store = next(iter(stack.merchant.stores))
    failures: list[str] = []

    async def check(what: str, response) -> None:  # noqa: ANN001
        text = response.text
        if response.status_code >= 500:
            failures.append(f"{what} -> {response.status_code}: {text[:200]}")
        if any(m in text for m in MARKUP):
            failures.append(f"{what} reflected markup unescaped")
        if "pwned" in response.headers.get("set-cookie", ""):
            failures.append(f"{what} injected a cookie")
        location = response.headers.get("location", "")
        if location.startswith(("//", "http://evil", "https://evil", "javascript:")):
            failures.append(f"{what} redirected off-site to {location}")

    gw, sent = stack.gateway_url, 0
    for value in HOSTILE:
        token = _csrf(home)
        posts = {
            "/key api_key": ("/key", {"api_key": value}),
            "/sign-in username": ("/sign-in", {"username": value, "password": PASSWORD}),
            "/sign-in password": ("/sign-in", {"username": stack.merchant.username, "password": value}),
            "/stores/{hostile}/connect": (f"/stores/{_seg(value)}/connect", {}),
            "/connect/{hostile} tenant_id": (f"/connect/{_seg(value)}", {"tenant_id": value}),
            "/organisations/{hostile}/disconnect": (f"/organisations/{_seg(value)}/disconnect", {}),
            "/finished extra field": ("/finished", {"store_id": value, "merchant_id": value}),
            "csrf_token itself": ("/key", {"api_key": "x", "csrf_token": value}),
        }
        for what, (path, data) in posts.items():
            response = await browser.http.post(gw + path, data={"csrf_token": token} | data)
            await check(f"POST {what}={value[:20]!r}", response)
            sent += 1
        for what, path in {"GET /connect/{hostile}": f"/connect/{_seg(value)}",
                           "GET /stores/{hostile}": f"/stores/{_seg(value)}"}.items():
            await check(f"{what}={value[:20]!r}", await browser.http.get(gw + path))
        for name in ("code", "state", "error", "iss", "scope", "session_state"):
            response = await browser.http.get(gw + "/xero/callback", params={name: value, "state": value})
            await check(f"GET /xero/callback {name}={value[:20]!r}", response)
        if "Log in" in (await browser.get(gw + "/")).text:  # a hostile sign-in replaced the session: sign in again
            browser = await ready(stack)
        home = (await browser.get(gw + "/")).text

    assert not failures, f"{len(failures)} failure(s):\n" + "\n".join(failures[:15])
    assert sent == len(HOSTILE) * 8
    assert store in (await browser.get(gw + "/")).text  # still usable


def _seg(value: str) -> str:
    from urllib.parse import quote
    return quote(value, safe="") or "%20"
