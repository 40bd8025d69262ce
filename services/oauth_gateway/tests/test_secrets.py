"""No token, key, secret or password in any log line, nor in plain text anywhere in the gateway's database."""

import logging

import asyncpg
import pytest

from local_infra.merchant import PASSWORD, connect, disconnect, ready
from sandboxes.xero import STEVE_PREMIUM_TENANT_ID, STEVE_TEST_STORE_TENANT_ID

from .stack import CLIENT_SECRET, KEY_1, KEY_2

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _database_dump(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        tables = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        rows = [await conn.fetchval(f'SELECT coalesce(string_agg(t::text, chr(10)), \'\') FROM "{t}" t')
                for t in tables]
        blobs = await conn.fetch("SELECT encode(value, 'escape') AS v FROM delivery_outbox")
    finally:
        await conn.close()
    return "\n".join(rows + [b["v"] for b in blobs])


async def test_no_secret_in_logs_or_in_the_database_after_a_full_journey(stack, caplog):
    caplog.set_level(logging.DEBUG)
    # httpcore's DEBUG trace prints response headers as the TEST's browser receives them (its own Set-Cookie);
    # that is the browser's log, not the gateway's, and the gateway runs at INFO. Everything else stays DEBUG.
    caplog.set_level(logging.INFO, logger="httpcore")
    store_1, store_2 = stack.merchant.stores
    browser = await ready(stack)
    await connect(stack, browser, store_1, STEVE_TEST_STORE_TENANT_ID)
    await connect(stack, browser, store_2, STEVE_PREMIUM_TENANT_ID)
    await disconnect(browser, STEVE_TEST_STORE_TENANT_ID)
    assert "being disconnected" in browser.text()
    await stack.xero("POST", "/_sandbox/clock/advance", json={"seconds": 31 * 60})
    grant = await stack.pool.fetchval("SELECT grant_id FROM grants")
    access = await stack.xero_client.tokens.access_token(grant)                       # a refresh happened

    refresh_tokens = list(stack.xero_app.state.xero.refresh_tokens)
    secrets = {"access token": access, "merchant password": PASSWORD, "api key": stack.merchant.api_key,
               "client secret": CLIENT_SECRET, "token key 1": KEY_1, "token key 2": KEY_2,
               "session secret": "test-session-secret-0123456789-abcdef",
               "session cookie": browser.http.cookies.get("cpx_setup"),
               **{f"refresh token {i}": t for i, t in enumerate(refresh_tokens)}}
    assert len(refresh_tokens) >= 3

    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    dump = await _database_dump(stack.dsn)
    leaks = [r.name + ": " + r.getMessage()[:300] for r in caplog.records
             if any(v in r.getMessage() for v in secrets.values())]
    assert [name for name, value in secrets.items() if value in logged] == [], leaks
    assert [name for name, value in secrets.items() if value in dump] == []
    assert "v1.k1." in dump                                          # the tokens are there, sealed
