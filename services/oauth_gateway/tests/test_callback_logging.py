"""A real Xero callback through the gateway's logging (issue #21, item 3): with uvicorn's access log switched on
(as an operator debugging might), the callback's line carries the authorization code and the state; every line
the gateway's JSON formatter writes has them masked, and no JWT either."""

import asyncio
import json
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import uvicorn

from local_infra.merchant import ready, to_xero_consent
from sandboxes.xero import STEVE_TEST_STORE_TENANT_ID
from shared.logs import JsonFormatter
from tests.support.http import bound_socket, url_of

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.")


async def test_the_callbacks_code_and_state_never_reach_a_log_line(stack, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    # as shared.logs.configure_logging does in a service process (the test helpers' servers turned it off)
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "propagate", True)
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    browser = await ready(stack)
    await to_xero_consent(stack, browser, next(iter(stack.merchant.stores)))
    consented = await browser.submit("Allow access", {"tenant_id": STEVE_TEST_STORE_TENANT_ID}, follow=False)
    callback = consented.headers["location"]
    sent = parse_qs(urlsplit(callback).query)
    code, state = sent["code"][0], sent["state"][0]

    sock = bound_socket()   # the same gateway app, on a listener with uvicorn's access log on
    server = uvicorn.Server(uvicorn.Config(stack.app, lifespan="off", access_log=True, log_config=None))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        page = await browser.get(callback.replace(stack.gateway_url, url_of(sock)))
    finally:
        server.should_exit = True
        await serving

    assert page.status_code == 200 and "Select an Organisation" in browser.text(), browser.text()[:500]
    raw = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any(code in line and "/xero/callback" in line for line in raw), "the access line carries the code"
    formatter = JsonFormatter("oauth_gateway")
    lines = [formatter.format(record) for record in caplog.records]
    assert [line for line in lines if code in line or state in line or JWT.search(line)] == []
    access = [json.loads(line)["message"] for line in lines if '"logger": "uvicorn.access"' in line]
    assert any("/xero/callback?code=[REDACTED]" in line or "&code=[REDACTED]" in line for line in access), access
