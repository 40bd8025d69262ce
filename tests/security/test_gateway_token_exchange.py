"""§B13 at the callback itself: Xero's token endpoint answers 5xx, or does not answer in time, while the gateway
exchanges the authorization code. The merchant gets a readable page with a way forward; nothing is stored or
published (no grant, no connection, no StoreConnected, the flow is spent); neither the page nor any log line
carries the code, the state, the client secret or a token; and connecting the store again works.

The timeout case is the nasty one: the Xero sandbox handles the exchange after the gateway gave up (the
sandbox's `/_sandbox/latency` on `/connect/token`), so Xero HAS issued tokens that nobody will ever hold."""

import asyncio
import logging
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from local_infra.browser import text_of
from local_infra.merchant import connect, ready, to_xero_consent
from sandboxes.xero import STEVE_TEST_STORE_TENANT_ID
from services.oauth_gateway.tests.stack import CLIENT_SECRET, stack  # noqa: F401 - fixture

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.security]
XERO_TIMEOUT = 10  # the gateway's xero.timeout_seconds (default) in the test stack


async def _stored(stack) -> dict[str, int]:
    counts = {}
    for name, query in {"grants": "SELECT count(*) FROM grants",
                        "connections": "SELECT count(*) FROM connections",
                        "StoreConnected": "SELECT count(*) FROM delivery_outbox WHERE topic = 'StoreConnected'",
                        "live flows": "SELECT count(*) FROM oauth_flows WHERE status IN ('pending', 'exchanging',"
                                      " 'authorised', 'selected')"}.items():
        counts[name] = await stack.pool.fetchval(query)
    return counts


@pytest.mark.parametrize("fault", ["502", "503", "timeout"])
async def test_xero_failing_the_code_exchange_is_a_clear_page_stores_nothing_leaks_nothing_and_a_retry_works(
        stack, caplog, fault):
    caplog.set_level(logging.INFO)
    browser = await ready(stack)
    store = next(iter(stack.merchant.stores))
    await to_xero_consent(stack, browser, store)
    consented = await browser.submit("Allow access", {"tenant_id": STEVE_TEST_STORE_TENANT_ID}, follow=False)
    callback = consented.headers["location"]
    sent = parse_qs(urlsplit(callback).query)
    code, state = sent["code"][0], sent["state"][0]
    if fault == "timeout":
        await stack.xero("POST", "/_sandbox/latency", json={"seconds": XERO_TIMEOUT + 1.5, "paths": "/connect/token"})
    else:
        await stack.xero("POST", "/_sandbox/faults", json={"count": 1, "status": int(fault), "paths": "/connect/token"})

    started = time.monotonic()
    page = await browser.get(callback)
    waited = time.monotonic() - started

    text = text_of(page.text)
    assert page.status_code == 503, text
    assert "Xero is not responding" in text and "nothing was changed" in text, text
    assert "Back to your stores" in text
    assert waited < XERO_TIMEOUT + 1 if fault == "timeout" else waited < 2  # one try, no retry loop
    assert await _stored(stack) == {"grants": 0, "connections": 0, "StoreConnected": 0, "live flows": 0}
    assert await stack.pool.fetchval("SELECT outcome FROM oauth_flows") == "xero_unavailable"
    if fault == "timeout":  # let Xero finish the exchange the gateway gave up on: those tokens exist at Xero now
        await stack.xero("POST", "/_sandbox/latency", json={"seconds": 0, "paths": "/connect/token"})
        for _ in range(100):
            if stack.xero_app.state.xero.refresh_tokens:
                break
            await asyncio.sleep(0.1)
        assert stack.xero_app.state.xero.refresh_tokens, "the sandbox never completed the late exchange"
    exchanges = await stack.token_calls()
    assert len(exchanges) == 1 and exchanges[0]["method"] == "POST"  # tried once: a code is single-use
    secrets = {"authorization code": code, "state": state, "client secret": CLIENT_SECRET,
               **{f"refresh token {i}": t for i, t in enumerate(stack.xero_app.state.xero.refresh_tokens)}}
    # The test's browser logs the URLs it visits (httpx INFO; the authorize and callback URLs carry the state
    # and the code): that is the browser's log, not the gateway's, which never calls these pages itself.
    visited = (f"HTTP Request: GET {stack.gateway_url}/", f"HTTP Request: GET {stack.xero_url}/identity/")
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                       if not (r.name == "httpx" and r.getMessage().startswith(visited)))
    assert [name for name, value in secrets.items() if value in page.text] == []
    assert [name for name, value in secrets.items() if value in logged] == []
    dump = "\n".join(str(dict(r)) for r in await stack.pool.fetch("SELECT * FROM oauth_flows"))
    assert [name for name, value in secrets.items() if value in dump] == []

    replayed = await browser.get(callback)  # the same callback again: the flow is spent
    assert replayed.status_code == 400 and len(await stack.token_calls()) == 1

    await browser.get(stack.gateway_url + "/")  # the way forward: connect the store again
    await connect(stack, browser, store, STEVE_TEST_STORE_TENANT_ID)
    assert "is now connected" in browser.text(), browser.text()
    assert (await _stored(stack))["grants"] == 1 and (await _stored(stack))["StoreConnected"] == 1
