"""Sign-in abuse and client addresses over real HTTP: the gateway on real PostgreSQL (two instances sharing it),
the Cloud POS sandbox with its lockout rule (5 failures in a row), and a real reverse proxy in front, with the
merchants' browsers on their own loopback addresses (127.0.0.2, 127.0.0.3; the whole of 127/8 is loopback)."""

import re
from ipaddress import ip_network
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from local_infra.browser import Browser, forms_of
from local_infra.merchant import CLOUDPOS_TOKENS, PASSWORD, seed_merchant
from oauth_gateway.main import build_app
from sandboxes.cloudpos.demo_data import DEMO_PASSWORD, DISABLED_USERNAME

from tests.support.http import bound_socket, serving

from .stack import Stack

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
PROXY_OUT = "127.0.0.5"                     # the address the proxy connects to the gateway from
MERCHANT_A, MERCHANT_B, STRANGER = "127.0.0.2", "127.0.0.3", "127.0.0.4"
_TOKENS = re.compile(rb'name="csrf_token" value="[^"]+"')


def browser_at(stack: Stack, address: str) -> Browser:
    """A browser whose connections come from `address` (closed with the stack)."""
    browser = stack.browser()
    browser.http = httpx.AsyncClient(follow_redirects=False, timeout=30,
                                     transport=httpx.AsyncHTTPTransport(local_address=address))
    return browser


async def attempt(browser: Browser, url: str, username: str, password: str,
                  headers: dict[str, str] | None = None) -> httpx.Response:
    await browser.get(url + "/")
    token = next(f.fields["csrf_token"] for f in forms_of(browser.page.text))
    return await browser.post(url + "/sign-in", {"username": username, "password": password, "csrf_token": token},
                              headers=headers)


async def cloudpos_sign_ins(stack: Stack) -> int:
    async with httpx.AsyncClient(base_url=stack.cloudpos_url,
                                 headers={"x-sandbox-control-token": CLOUDPOS_TOKENS["control"]}) as c:
        return sum(call["path"] == "/api/v1/sessions" for call in (await c.get("/_sandbox/calls")).json()["calls"])


async def at_cloudpos(stack: Stack, username: str, password: str) -> int:
    """A sign-in straight at Cloud POS (not through us): its status."""
    async with httpx.AsyncClient(base_url=stack.cloudpos_url) as c:
        return (await c.post("/api/v1/sessions", json={"username": username, "password": password})).status_code


@asynccontextmanager
async def proxied(upstream: str) -> AsyncIterator[str]:
    """A reverse proxy in front of `upstream`, as an ingress would be: the proxy's URL."""
    async with httpx.AsyncClient(base_url=upstream, transport=httpx.AsyncHTTPTransport(local_address=PROXY_OUT)) \
            as http, serving(reverse_proxy(http), bound_socket()) as url:
        yield url


@asynccontextmanager
async def gateway(stack: Stack, name: str, **changes: object) -> AsyncIterator[str]:
    """Another gateway instance on the same database, serving its pages; `changes` alter its settings."""
    settings = stack.app.state.settings
    app = build_app(settings.model_copy(update={"kafka": settings.kafka.model_copy(
        update={"consumer_group": f"{settings.kafka.consumer_group}-{name}"}), **changes}), clock=stack.clock.now)
    async with app.router.lifespan_context(app), serving(app, bound_socket()) as url:
        yield url


def reverse_proxy(http: httpx.AsyncClient):  # noqa: ANN201 - an ASGI app
    """What an ingress does: pass the request on from its own address, appending the peer to X-Forwarded-For."""

    async def app(scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        chain = [v.decode() for k, v in scope["headers"] if k == b"x-forwarded-for"] + [scope["client"][0]]
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"host", b"content-length", b"x-forwarded-for")]
        query = scope["query_string"].decode()
        answer = await http.request(scope["method"], scope["path"] + (f"?{query}" if query else ""), content=body,
                                    headers=headers + [(b"x-forwarded-for", ", ".join(chain).encode())])
        await send({"type": "http.response.start", "status": answer.status_code, "headers": [
            (k.encode(), v.encode()) for k, v in answer.headers.multi_items()
            if k.lower() not in ("content-length", "transfer-encoding", "content-encoding", "connection")]})
        await send({"type": "http.response.body", "body": answer.content})
    return app


def _same_apart_from_tokens(response: httpx.Response) -> tuple:
    headers = tuple(sorted((k, v) for k, v in response.headers.multi_items() if k not in ("set-cookie", "date")))
    return response.status_code, headers, _TOKENS.sub(b"TOKEN", response.content)


async def test_unknown_wrong_locked_disabled_and_throttled_answers_are_byte_identical_apart_from_tokens(stack):
    locked, spent = await seed_merchant(stack.cloudpos_url), await seed_merchant(stack.cloudpos_url)
    for _ in range(5):                                   # locked at Cloud POS itself, not through us
        assert await at_cloudpos(stack, locked.username, "wrong-at-cloudpos") == 401
    for n in range(3):                                   # a stranger spends this account's budget with us
        await attempt(browser_at(stack, STRANGER), stack.gateway_url, spent.username, f"guess-{n}")

    answers = {
        "unknown": await attempt(stack.browser(), stack.gateway_url, "nobody-xyz@cloudpos-demo.test", PASSWORD),
        "wrong": await attempt(stack.browser(), stack.gateway_url, stack.merchant.username, "not-the-password"),
        "locked": await attempt(stack.browser(), stack.gateway_url, locked.username, PASSWORD),
        "disabled": await attempt(stack.browser(), stack.gateway_url, DISABLED_USERNAME, DEMO_PASSWORD),
        "throttled": await attempt(stack.browser(), stack.gateway_url, spent.username, PASSWORD),
    }

    shapes = {name: _same_apart_from_tokens(r) for name, r in answers.items()}
    assert len(set(shapes.values())) == 1, {name: shape[:2] for name, shape in shapes.items()}
    page = answers["wrong"]
    assert page.status_code == 401 and "Those sign-in details did not work" in page.text
    assert stack.merchant.username not in page.text and "not-the-password" not in page.text
    assert "Retry-After" not in page.headers              # that alone would tell a throttled account apart
    audit = await stack.pool.fetch("SELECT actor, detail::text AS detail FROM audit_log "
                                   "WHERE action = 'sign_in.refused'")
    assert {r["actor"] for r in audit} == {"anonymous"} and len(audit) == 3 + 5
    assert not any(locked.username in r["detail"] or PASSWORD in r["detail"] or "guess-" in r["detail"]
                   for r in audit)

    async with httpx.AsyncClient(base_url=stack.cloudpos_url,
                                 headers={"x-sandbox-control-token": CLOUDPOS_TOKENS["control"]}) as c:
        await c.post("/_sandbox/faults", json={"count": 1, "status": 503})
    unavailable = await attempt(stack.browser(), stack.gateway_url, stack.merchant.username, PASSWORD)
    assert unavailable.status_code == 503 and "could not check your details with Cloud POS" in unavailable.text
    empty = await attempt(stack.browser(), stack.gateway_url, "", "")
    browser = stack.browser()
    await browser.get(stack.gateway_url + "/")
    absent = await browser.post(stack.gateway_url + "/sign-in", {"csrf_token": forms_of(browser.page.text)[0]
                                                                 .fields["csrf_token"]})     # no fields at all
    for missing in (empty, absent):
        assert missing.status_code == 400 and "Enter the email address and password" in missing.text


async def test_a_stranger_spraying_through_two_instances_never_locks_the_account_and_the_owner_still_signs_in(
        stack):
    owner = stack.browser()
    assert (await attempt(owner, stack.gateway_url, stack.merchant.username, PASSWORD)).status_code == 200
    before = await cloudpos_sign_ins(stack)

    async with gateway(stack, "second") as second:
        for n in range(12):                              # alternating between the instances, one database
            answer = await attempt(browser_at(stack, STRANGER), (stack.gateway_url, second)[n % 2],
                                   stack.merchant.username, f"guess-{n}")
            assert answer.status_code == 401
        new_browser = await attempt(stack.browser(), second, stack.merchant.username, PASSWORD)

    assert await cloudpos_sign_ins(stack) - before == 3  # 3 of Cloud POS's 5: the rest never left the gateway
    assert new_browser.status_code == 401                # a browser never used for this account waits
    signed_in = await attempt(owner, stack.gateway_url, stack.merchant.username, PASSWORD)
    assert signed_in.status_code == 200 and "Log in using your Cloud POS details" not in signed_in.text
    stranger_again = await attempt(browser_at(stack, STRANGER), stack.gateway_url, stack.merchant.username,
                                   "guess-x")
    assert stranger_again.status_code == 401 and await cloudpos_sign_ins(stack) - before == 3 + 1 + 1
    assert await at_cloudpos(stack, stack.merchant.username, PASSWORD) == 200   # never locked at Cloud POS


async def _address_buckets(stack: Stack) -> set[str]:
    rows = await stack.pool.fetch("SELECT DISTINCT bucket FROM rate_limit_hits WHERE bucket LIKE 'sign-in-client:%'")
    return {r["bucket"].removeprefix("sign-in-client:") for r in rows}


async def test_behind_a_trusted_proxy_each_merchant_has_their_own_address_budget(stack):
    small = stack.app.state.settings.sign_in.model_copy(update={"failures_per_address": 2})
    async with gateway(stack, "trusting", sign_in=small, trusted_proxies=(ip_network(PROXY_OUT),)) as upstream, \
            proxied(upstream) as proxy:
        for n in range(2):
            await attempt(browser_at(stack, MERCHANT_A), proxy, f"typo-{n}@cloudpos-demo.test", "pw")
        a_again = await attempt(browser_at(stack, MERCHANT_A), proxy, "typo-x@cloudpos-demo.test", "pw")
        b_first = await attempt(browser_at(stack, MERCHANT_B), proxy, "b-typo@cloudpos-demo.test", "pw")
        forged = await attempt(browser_at(stack, STRANGER), upstream, "forger@cloudpos-demo.test", "pw",
                               headers={"X-Forwarded-For": "198.51.100.77"})    # not from the proxy: ignored

    assert a_again.status_code == 429 and 0 < int(a_again.headers["Retry-After"]) <= 900
    assert "too many failed sign-ins from your network" in a_again.text
    assert b_first.status_code == 401 and forged.status_code == 401
    assert await _address_buckets(stack) == {MERCHANT_A, MERCHANT_B, STRANGER}


async def test_without_trusting_the_proxy_every_merchant_shares_its_address(stack):
    small = stack.app.state.settings.sign_in.model_copy(update={"failures_per_address": 2})
    async with gateway(stack, "untrusting", sign_in=small, trusted_proxies=(ip_network("10.0.0.0/8"),)) as upstream, \
            proxied(upstream) as proxy:
        for n in range(2):
            await attempt(browser_at(stack, MERCHANT_A), proxy, f"typo-{n}@cloudpos-demo.test", "pw",
                          headers={"X-Forwarded-For": "198.51.100.77"})
        b_first = await attempt(browser_at(stack, MERCHANT_B), proxy, "b-typo@cloudpos-demo.test", "pw")

    assert b_first.status_code == 429                   # one bucket: the proxy's
    assert await _address_buckets(stack) == {PROXY_OUT}
