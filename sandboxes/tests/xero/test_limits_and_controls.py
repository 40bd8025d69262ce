"""Rate limits (minute, day, concurrent, app minute), injected faults, call log and control-token checks."""

import asyncio

import httpx

from sandboxes.xero import STEVE_PREMIUM_TENANT_ID, STEVE_TEST_STORE_TENANT_ID


def org_headers(token, tenant=STEVE_TEST_STORE_TENANT_ID):
    return {"Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": tenant,
            "Accept": "application/json"}


async def test_minute_limit_429_with_retry_after_then_resets(sandbox):
    sandbox.control("POST", "/_sandbox/clock/set", {"now": "2026-07-01T10:00:00Z"})
    async with sandbox.browser() as browser:
        token = await sandbox.connect(browser=browser)
        token = await sandbox.connect(browser=browser, tenants=[STEVE_PREMIUM_TENANT_ID])
    url = f"{sandbox.base_url}/api.xro/2.0/Organisation"
    async with httpx.AsyncClient() as http:
        for expected in range(59, -1, -1):
            ok = await http.get(url, headers=org_headers(token))
            assert ok.status_code == 200 and ok.headers["x-minlimit-remaining"] == str(expected)
        sandbox.advance(20)
        limited = await http.get(url, headers=org_headers(token))
        assert limited.status_code == 429
        assert limited.headers["x-rate-limit-problem"] == "minute"
        assert 35 <= int(limited.headers["retry-after"]) <= 40  # the clock also moves in real time
        assert limited.text == "Rate limit exceeded"
        other_tenant = await http.get(url, headers=org_headers(token, STEVE_PREMIUM_TENANT_ID))
        assert other_tenant.status_code == 200  # limits are per tenant
        sandbox.advance(int(limited.headers["retry-after"]))
        again = await http.get(url, headers=org_headers(token))
        assert again.status_code == 200 and again.headers["x-daylimit-remaining"] == "4939"


async def test_day_limit(make_sandbox):
    with make_sandbox(tenant_day_limit=3, tenant_minute_limit=100) as sb:
        token = await sb.connect()
        async with httpx.AsyncClient() as http:
            url = f"{sb.base_url}/api.xro/2.0/Organisation"
            for _ in range(3):
                assert (await http.get(url, headers=org_headers(token))).status_code == 200
            sb.advance(1000)
            limited = await http.get(url, headers=org_headers(token))
            assert limited.status_code == 429 and limited.headers["x-rate-limit-problem"] == "day"
            assert 86400 - 1010 <= int(limited.headers["retry-after"]) <= 86400 - 1000
            sb.advance(86400 - 1000)
            async with sb.oauth_client(token=token) as client:
                token = await client.refresh_token(sb.token_url, refresh_token=token["refresh_token"])
            assert (await http.get(url, headers=org_headers(token))).status_code == 200


async def test_app_minute_limit_covers_connections(make_sandbox):
    with make_sandbox(app_minute_limit=2) as sb:
        token = await sb.connect()
        async with httpx.AsyncClient() as http:
            auth = {"Authorization": f"Bearer {token['access_token']}"}
            first = await http.get(f"{sb.base_url}/connections", headers=auth)
            assert first.headers["x-appminlimit-remaining"] == "1"
            await http.get(f"{sb.base_url}/api.xro/2.0/Organisation", headers=org_headers(token))
            limited = await http.get(f"{sb.base_url}/connections", headers=auth)
    assert limited.status_code == 429 and limited.headers["x-rate-limit-problem"] == "appminute"
    assert limited.headers["retry-after"]


async def test_five_concurrent_calls_per_tenant(sandbox):
    token = await sandbox.connect()
    sandbox.control("POST", "/_sandbox/latency", {"seconds": 0.5})
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as http:
        url = f"{sandbox.base_url}/api.xro/2.0/Organisation"
        responses = await asyncio.gather(*[http.get(url, headers=org_headers(token)) for _ in range(7)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 5 + [429] * 2
    assert {r.headers["x-rate-limit-problem"] for r in responses if r.status_code == 429} == {"concurrent"}


async def test_fail_next_n_calls_with_503_on_a_path_prefix(sandbox):
    token = await sandbox.connect()
    sandbox.control("POST", "/_sandbox/faults", {"count": 2, "status": 503, "paths": "/api.xro/"})
    async with httpx.AsyncClient() as http:
        listed = await http.get(f"{sandbox.base_url}/connections",
                                headers={"Authorization": f"Bearer {token['access_token']}"})
        url = f"{sandbox.base_url}/api.xro/2.0/Organisation"
        results = [await http.get(url, headers=org_headers(token)) for _ in range(3)]
    assert listed.status_code == 200
    assert [r.status_code for r in results] == [503, 503, 200]
    assert "offline" in results[0].text


async def test_fault_on_token_endpoint_and_call_log_counts(sandbox):
    token = await sandbox.connect()
    sandbox.control("POST", "/_sandbox/faults", {"count": 1, "status": 500, "paths": "/connect/token"})
    async with httpx.AsyncClient() as http:
        data = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
        auth = (sandbox.client_id, sandbox.client_secret)
        failed = await http.post(sandbox.token_url, data=data, auth=auth)
        ok = await http.post(sandbox.token_url, data=data, auth=auth)
    assert failed.status_code == 500 and failed.json()["title"] == "Internal Server Error"
    assert ok.status_code == 200
    token_calls = [c for c in sandbox.state()["calls"] if c["path"] == "/connect/token"]
    assert [c["status"] for c in token_calls] == [200, 500, 200]
    assert all(c["method"] == "POST" for c in token_calls)


async def test_latency_on_a_path_loses_the_answer_but_not_its_effect(sandbox):
    """A slow token endpoint: the client gives up, yet Xero goes on and rotates the token (a lost answer)."""
    token = await sandbox.connect()
    sandbox.control("POST", "/_sandbox/latency", {"seconds": 0.6, "paths": "/connect/token"})
    async with httpx.AsyncClient(timeout=0.2) as http:
        data = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
        try:
            await http.post(sandbox.token_url, data=data, auth=(sandbox.client_id, sandbox.client_secret))
            raise AssertionError("the slow token endpoint answered within the client's timeout")
        except httpx.ReadTimeout:
            pass
    await asyncio.sleep(0.8)
    state = sandbox.state()
    assert [c["status"] for c in state["calls"] if c["path"] == "/connect/token"] == [200, 200]
    assert [g["rotated_at"] is not None for g in state["grants"]].count(True) == 1
    sandbox.control("POST", "/_sandbox/latency", {"seconds": 0, "paths": "/connect/token"})


async def test_state_shows_grants_without_raw_tokens(sandbox):
    token = await sandbox.connect()
    state = sandbox.state()
    assert len(state["grants"]) == 1 and state["grants"][0]["usable"] is True
    assert token["refresh_token"] not in str(state)
    assert state["connections"][0]["tenantId"] == STEVE_TEST_STORE_TENANT_ID


async def test_controls_need_the_control_token(sandbox):
    async with httpx.AsyncClient() as http:
        missing = await http.get(f"{sandbox.base_url}/_sandbox/state")
        wrong = await http.post(f"{sandbox.base_url}/_sandbox/reset", headers={"x-sandbox-control-token": "nope"})
    assert missing.status_code == 401 and wrong.status_code == 401


async def test_reset_clears_connections_and_clock(sandbox):
    await sandbox.connect()
    sandbox.advance(86400 * 10)
    result = sandbox.control("POST", "/_sandbox/reset")
    state = sandbox.state()
    assert state["connections"] == [] and state["grants"] == [] and state["calls"] == []
    assert result["now"][:4] == state["now"][:4]
