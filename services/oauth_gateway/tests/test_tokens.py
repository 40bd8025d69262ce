"""Token refresh against the Xero sandbox over real HTTP: single flight, grace, invalid_grant, keep-alive."""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from local_infra.merchant import connect, ready
from oauth_gateway.adapters.pg_xero import PgGrants
from oauth_gateway.xero_client import GrantBroken
from sandboxes.xero import STEVE_TEST_STORE_TENANT_ID

from .stack import CLIENT_ID, CLIENT_SECRET, another_gateway

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _connected_grant(stack) -> str:
    browser = await ready(stack)
    await connect(stack, browser, next(iter(stack.merchant.stores)), STEVE_TEST_STORE_TENANT_ID)
    return await stack.pool.fetchval("SELECT grant_id FROM grants")


async def _advance(stack, seconds: float) -> None:
    await stack.xero("POST", "/_sandbox/clock/advance", json={"seconds": seconds})


async def test_twenty_concurrent_refreshes_on_two_instances_make_exactly_one_token_call(stack):
    grant = await _connected_grant(stack)
    await _advance(stack, 31 * 60)                      # the access token has expired
    before = len(await stack.token_calls())
    async with another_gateway(stack) as other:             # separate in-process locks, one database
        instances = [stack.xero_client.tokens, other.state.xero.tokens]
        tokens = await asyncio.gather(*(instances[i % 2].access_token(grant) for i in range(20)))

    assert len(set(tokens)) == 1
    calls = await stack.token_calls()
    assert len(calls) - before == 1 and calls[-1]["status"] == 200
    assert await stack.pool.fetchval("SELECT version FROM grants") == 2


async def test_a_lost_refresh_response_is_retried_with_the_same_token_inside_the_grace_period(stack):
    grant = await _connected_grant(stack)
    await _advance(stack, 31 * 60)
    await stack.xero("POST", "/_sandbox/faults", json={"count": 1, "status": 503, "paths": "/connect/token"})

    token = await stack.xero_client.tokens.access_token(grant)

    assert token
    assert [c["status"] for c in await stack.token_calls()][-2:] == [503, 200]


async def test_the_old_refresh_token_still_works_after_a_lost_rotation(stack):
    """Xero rotated but we never saw the answer: the stored (old) token is honoured for 30 minutes."""
    grant = await _connected_grant(stack)
    row = await stack.pool.fetchrow("SELECT refresh_token FROM grants")
    old = stack.app.state.sealer.open(row["refresh_token"], f"grant:{grant}:refresh")
    rotated = await _rotate_directly(stack, old)     # the response "lost" on the way to us
    assert rotated == 200

    token = await stack.xero_client.tokens.access_token(grant, force=True)

    assert token and (await stack.token_calls())[-1]["status"] == 200


async def test_invalid_grant_marks_the_grant_broken_and_asks_for_a_reconnect(stack):
    grant = await _connected_grant(stack)
    await stack.xero("POST", "/_sandbox/refresh-tokens/expire", json={})

    with pytest.raises(GrantBroken):
        await stack.xero_client.tokens.access_token(grant, force=True)

    assert await stack.pool.fetchval("SELECT status FROM grants") == "broken"
    assert await stack.pool.fetchval("SELECT status || ':' || reason FROM connections") == \
        "broken:authorisation_expired"
    rows = await stack.pool.fetch("SELECT value FROM delivery_outbox WHERE topic = 'ConnectionBroken'")
    assert len(rows) == 1 and b'"reason":"authorisation_expired"' in rows[0]["value"]
    assert await stack.pool.fetchval("SELECT count(*) FROM delivery_outbox WHERE topic = 'OrgDisconnected'") == 0
    with pytest.raises(GrantBroken):                  # no retry storm: broken stays broken, no token call
        await stack.xero_client.tokens.access_token(grant)
    assert [c["status"] for c in await stack.token_calls()][-1] == 400


async def test_keep_alive_refreshes_idle_grants_well_before_sixty_days(stack):
    await _connected_grant(stack)
    await stack.pool.execute("UPDATE grants SET next_check_at = 'infinity'")     # keep-alive alone
    assert await stack.xero_client.upkeep.tend_due() == 1          # new: scheduled 7 days after its refresh
    calls = len(await stack.token_calls())
    await _advance(stack, 6 * 86400)
    assert await stack.xero_client.upkeep.tend_due() == 0
    await _advance(stack, 86400 + 1)                  # 7 days idle: well before Xero's 60

    assert await stack.xero_client.upkeep.tend_due() == 1
    assert await stack.xero_client.upkeep.tend_due() == 0
    assert [c["status"] for c in (await stack.token_calls())[calls:]] == [200]
    assert await stack.pool.fetchval("SELECT next_keepalive_at - refreshed_at FROM grants") <= timedelta(days=7)


async def test_instances_share_the_upkeep_queue_without_taking_a_grant_twice(stack):
    """Two instances claim due grants at once (SKIP LOCKED under a lease): no grant is taken twice."""
    await _connected_grant(stack)
    await stack.pool.execute(
        "INSERT INTO grants (grant_id, xero_sub, scopes, refreshed_at, status, created_at, updated_at)"
        " SELECT 'g-bulk-' || n, 'sub-bulk-' || n, '{}', now(), 'active', now(), now() FROM generate_series(1, 60) n")
    now = datetime.now(UTC)

    async def claim() -> list[str]:
        async with stack.pool.acquire() as conn, conn.transaction():
            rows = PgGrants(conn, stack.app.state.sealer)
            taken = await rows.claim_upkeep(now, 25, now + timedelta(minutes=3))
            await asyncio.sleep(0.05)                      # both hold their batch at once
            return [g.grant_id for g in taken]

    batches = await asyncio.gather(claim(), claim(), claim())
    while batch := await claim():                      # what is left; leased grants are not taken again
        batches.append(batch)

    taken = [grant for batch in batches for grant in batch]
    assert all(0 < len(batch) <= 25 for batch in batches[:3])
    assert len(taken) == len(set(taken)) == 61


async def test_tokens_are_re_sealed_under_a_new_active_key(stack):
    await _connected_grant(stack)
    assert (await stack.pool.fetchval("SELECT refresh_token FROM grants")).startswith("v1.k1.")
    stack.app.state.sealer.active_key_id = "k2"          # operators switched the active key

    assert await stack.xero_client.upkeep.rewrap() == 1

    assert (await stack.pool.fetchval("SELECT refresh_token FROM grants")).startswith("v1.k2.")
    assert await stack.xero_client.upkeep.rewrap() == 0


async def _rotate_directly(stack, refresh_token: str) -> int:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{stack.xero_url}/connect/token", auth=(CLIENT_ID, CLIENT_SECRET),
                                     data={"grant_type": "refresh_token", "refresh_token": refresh_token})
    return response.status_code


async def test_refresh_answers_lost_at_xero_are_retried_within_seconds_and_the_grant_survives(stack):
    """Xero rotates the refresh token but its answers never reach us (three in a row, one upkeep pass): the
    grant is retried 5 s later with the token we still hold, inside Xero's 30-minute grace, and lives on."""
    grant = await _connected_grant(stack)
    await stack.pool.execute("UPDATE grants SET next_check_at = 'infinity', next_keepalive_at = '-infinity',"
                             " refreshed_at = refreshed_at - interval '8 days'")
    await stack.xero("POST", "/_sandbox/refresh-drops", json={"fraction": 1.0, "mode": "abort"})
    calls = len(await stack.token_calls())

    assert await stack.xero_client.upkeep.tend_due() == 1
    row = await stack.pool.fetchrow("SELECT status, upkeep_failures, next_keepalive_at FROM grants")
    assert (row["status"], row["upkeep_failures"]) == ("active", 1)
    assert row["next_keepalive_at"] <= stack.clock.now() + timedelta(seconds=5)
    await stack.xero("POST", "/_sandbox/refresh-drops", json={"fraction": 0.0})
    await _advance(stack, 5)

    assert await stack.xero_client.upkeep.tend_due() == 1

    assert [c["status"] for c in (await stack.token_calls())[calls:]][-1] == 200
    assert len(await stack.token_calls()) - calls == 4
    assert await stack.pool.fetchval("SELECT status || ':' || upkeep_failures FROM grants") == "active:0"
    assert await stack.xero_client.tokens.access_token(grant, force=True)     # the token we hold now works
