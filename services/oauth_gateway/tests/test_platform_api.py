"""The platform's internal API over real HTTP: a connected store's info, tokens and Xero proxy, with real
PostgreSQL and Kafka, the Xero sandbox counting what reaches it, and two gateway instances sharing one budget."""

import asyncio
from datetime import datetime

import pytest

from local_infra.merchant import connect, ready
from sandboxes.xero import STEVE_TEST_STORE_TENANT_ID
from oauth_gateway.domain.platform import Operation, PlatformClient
from oauth_gateway.main import platform_clients
from oauth_gateway.settings import SALES_POSTER_SCOPES
from shared.metrics import REGISTRY

from .stack import Stack, gateway_stack, second_platform_api

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
ORGANISATION = "api.xro/2.0/Organisation"
NARROW = ("openid", "profile", "email", "offline_access", "accounting.settings.read")


async def _connected(stack: Stack) -> str:
    store = next(iter(stack.merchant.stores))
    browser = await ready(stack)
    await connect(stack, browser, store, STEVE_TEST_STORE_TENANT_ID)
    assert "is now connected" in browser.text(), browser.text()
    return store


def _proxy_calls(outcome: str) -> float:
    return REGISTRY.get_sample_value("platform_api_calls_total", {"operation": "proxy", "outcome": outcome}) or 0


def _tenant_calls(state: dict, since: int) -> list[dict]:
    return [c for c in state["calls"][since:] if c["tenant_id"] == STEVE_TEST_STORE_TENANT_ID]


async def test_a_connected_store_has_info_a_token_and_a_proxy(stack):
    store = await _connected(stack)
    async with stack.platform() as platform:
        info = (await platform.get(f"/internal/v1/stores/{store}/xero")).json()
        assert {k: info[k] for k in ("store_id", "merchant_id", "tenant_id", "organisation_name", "status")} == {
            "store_id": store, "merchant_id": stack.merchant.merchant_id, "tenant_id": STEVE_TEST_STORE_TENANT_ID,
            "organisation_name": "Steve Test Store", "status": "active"}
        assert set(SALES_POSTER_SCOPES) <= set(info["scopes"]) and info["missing_scopes"] == []
        assert info["authorised_by"] == f"u-{stack.merchant.merchant_id}" and datetime.fromisoformat(info["connected_at"])

        issued = await platform.post(f"/internal/v1/stores/{store}/xero/access-token")
        assert issued.status_code == 200 and issued.headers["cache-control"] == "no-store"
        body = issued.json()
        assert body["tenant_id"] == STEVE_TEST_STORE_TENANT_ID and body["access_token"].count(".") == 2

        answer = await platform.get(f"/internal/v1/stores/{store}/xero/proxy/{ORGANISATION}",
                                    headers={"Accept": "application/json", "xero-tenant-id": "someone-else"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["Organisations"][0]["Name"] == "Steve Test Store"
        assert {"x-minlimit-remaining", "x-daylimit-remaining", "x-appminlimit-remaining"} <= set(answer.headers)
    calls = _tenant_calls(await stack.xero_state(), 0)
    assert calls[-1]["path"].lower() == "/api.xro/2.0/organisation"       # the store's tenant, not the caller's
    async with stack.pool.acquire() as conn:
        audit = await conn.fetch("SELECT actor, detail FROM audit_log WHERE action = 'platform.token_issued'")
    assert [(a["actor"], store in a["detail"]) for a in audit] == [("platform:platform", True)]


async def test_unknown_clients_other_merchants_and_unknown_stores_are_refused(stack):
    store = await _connected(stack)
    async with platform_clients(stack.dsn) as clients:
        await clients.register(PlatformClient("other-team", frozenset(Operation), frozenset({"m-other"})), "o" * 40)
        await clients.register(PlatformClient("reader", frozenset({Operation.READ})), "r" * 40)
    async with stack.platform("not-a-client-token-0123456789-abcdef") as stranger:
        refused = await stranger.get(f"/internal/v1/stores/{store}/xero")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "unauthorized"
    async with stack.platform("o" * 40) as other, stack.platform("r" * 40) as reader:
        for path in ("", "/proxy/" + ORGANISATION):
            answer = await other.get(f"/internal/v1/stores/{store}/xero{path}")
            assert (answer.status_code, answer.json()["code"]) == (404, "store_not_connected")
        answer = await reader.post(f"/internal/v1/stores/{store}/xero/access-token")
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    async with stack.platform() as platform:
        answer = await platform.get("/internal/v1/stores/s-nobody/xero")
        assert (answer.status_code, answer.json()["status"]) == (404, 404)
        answer = await platform.get(f"/internal/v1/stores/{store}/xero/proxy/connections")
        assert (answer.status_code, answer.json()["code"]) == (400, "path_not_allowed")
        answer = await platform.put(f"/internal/v1/stores/{store}/xero/proxy/api.xro/2.0/Invoices",
                                    content=b"x" * 3_500_001)
        assert (answer.status_code, answer.json()["code"]) == (413, "body_too_large")


async def test_twenty_concurrent_token_requests_through_two_instances_make_one_refresh(stack):
    store = await _connected(stack)
    await stack.xero("POST", "/_sandbox/clock/advance", json={"seconds": 26 * 60})   # < 5 minutes left
    stack.clock.advance(26 * 60)
    before = len(await stack.token_calls())
    async with second_platform_api(stack) as other_url, stack.platform() as first:
        async with stack.platform() as second:
            second.base_url = other_url
            path = f"/internal/v1/stores/{store}/xero/access-token"
            answers = await asyncio.gather(*(c.post(path) for c in [first, second] * 10))
    assert [a.status_code for a in answers] == [200] * 20
    assert len({a.json()["access_token"] for a in answers}) == 1
    assert len(await stack.token_calls()) - before == 1


async def test_a_burst_through_two_instances_stays_within_xeros_limits(stack):
    store = await _connected(stack)
    await stack.xero("POST", "/_sandbox/latency", json={"seconds": 0.05})
    since = len((await stack.xero_state())["calls"])
    path = f"/internal/v1/stores/{store}/xero/proxy/{ORGANISATION}"
    gate = asyncio.Semaphore(40)
    refused_before = _proxy_calls("rate_limited")

    async def one(client) -> int:  # noqa: ANN001
        async with gate:
            return (await client.get(path, headers={"Accept": "application/json"})).status_code

    async with second_platform_api(stack) as other_url, stack.platform() as first, stack.platform() as second:
        second.base_url = other_url
        statuses = await asyncio.gather(*(one(c) for c in [first, second] * 150))
    state = await stack.xero_state()
    reached = _tenant_calls(state, since)
    earlier = len(_tenant_calls(state, 0)) - len(reached)      # the selection's Organisation read, same minute
    assert len(reached) + earlier <= 60, (len(reached), earlier)
    assert all(c["status"] == 200 for c in reached)                       # Xero never had to say 429
    assert statuses.count(200) == len(reached) and statuses.count(429) == 300 - len(reached)
    assert _proxy_calls("rate_limited") - refused_before == statuses.count(429)            # the metrics say so
    assert state["limits"][STEVE_TEST_STORE_TENANT_ID]["peak_in_flight"] <= 5


async def test_a_429_storm_is_waited_out_by_every_instance(stack):
    store = await _connected(stack)
    await stack.xero("POST", "/_sandbox/faults", json={"count": 50, "status": 429, "paths": "/api.xro",
                                                        "retry_after": 5})   # longer than the proxy waits
    since = len((await stack.xero_state())["calls"])
    path = f"/internal/v1/stores/{store}/xero/proxy/{ORGANISATION}"
    async with second_platform_api(stack) as other_url, stack.platform() as first, stack.platform() as second:
        second.base_url = other_url
        passed_on = await first.get(path)
        assert passed_on.status_code == 429 and passed_on.headers["retry-after"] == "5"   # Xero's own answer
        assert passed_on.headers["content-type"].startswith("text/plain")
        held = [await c.get(path) for c in (first, second, first, second)]
        assert {(a.status_code, a.json()["code"], a.json()["limit"]) for a in held} == {(429, "rate_limited",
                                                                                        "blocked")}
        assert all(1 <= int(a.headers["retry-after"]) <= 5 for a in held)
    assert len([c for c in (await stack.xero_state())["calls"][since:]]) == 1         # only the first reached Xero


@pytest.fixture
async def narrow_stack(pg_dsn, kafka_bootstrap, unique_name):
    """A gateway that asked only for the old, narrow scopes (settings read), as before issue 16."""
    async with gateway_stack(pg_dsn, kafka_bootstrap, unique_name("narrow"), xero_scopes=NARROW) as running:
        yield running


async def test_a_missing_scope_is_a_clear_problem_and_grown_scopes_ask_for_a_reconnect(narrow_stack):
    stack = narrow_stack
    store = await _connected(stack)
    async with stack.platform() as platform:
        assert (await platform.get(f"/internal/v1/stores/{store}/xero")).json()["status"] == "active"
        refused = await platform.get(f"/internal/v1/stores/{store}/xero/proxy/api.xro/2.0/Invoices")
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert (problem["code"], problem["missing_scopes"]) == ("missing_scope", [])
        assert "needs a scope this app does not request" in problem["detail"]
    settings = stack.app.state.settings
    grown = settings.xero.model_copy(update={"scopes": SALES_POSTER_SCOPES})
    async with second_platform_api(stack, xero=grown) as url, stack.platform() as platform:
        platform.base_url = url
        info = (await platform.get(f"/internal/v1/stores/{store}/xero")).json()
        assert info["status"] == "reconnect_needed"
        assert info["missing_scopes"] == ["accounting.contacts", "accounting.invoices", "accounting.payments"]
        refused = (await platform.get(f"/internal/v1/stores/{store}/xero/proxy/api.xro/2.0/Invoices")).json()
        assert refused["code"] == "missing_scope" and "accounting.invoices" in refused["missing_scopes"]


async def test_an_invoice_goes_through_once_per_idempotency_key_and_xeros_validation_error_comes_back(stack):
    store = await _connected(stack)
    path = f"/internal/v1/stores/{store}/xero/proxy/api.xro/2.0/Invoices"
    invoice = {"Type": "ACCREC", "Contact": {"Name": "Cloud POS sales"}, "Date": "2026-03-02",
               "LineAmountTypes": "Exclusive", "Status": "AUTHORISED",
               "LineItems": [{"Description": "Sales", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200",
                              "TaxType": "OUTPUT2"}]}
    key = {"Idempotency-Key": f"daily-sales:{store}:2026-03-02", "Accept": "application/json"}
    async with stack.platform() as platform:
        first = await platform.put(path, json={"Invoices": [invoice]}, headers=key)
        again = await platform.put(path, json={"Invoices": [invoice]}, headers=key)
        refused = await platform.put(path, json={"Invoices": [invoice | {"LineItems": [
            invoice["LineItems"][0] | {"AccountCode": "999"}]}]}, headers={"Accept": "application/json"})
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["Invoices"][0]["InvoiceID"] == again.json()["Invoices"][0]["InvoiceID"]
    assert first.json()["Invoices"][0]["Total"] == 120.0
    control = (await stack.xero("GET", f"/_sandbox/tenants/{STEVE_TEST_STORE_TENANT_ID}/invoices")).json()
    assert len(control["invoices"]) == 1                                    # the repeat created nothing
    assert refused.status_code == 400 and refused.headers["content-type"].startswith("application/json")
    body = refused.json()
    assert (body["Type"], body["ErrorNumber"]) == ("ValidationException", 10)     # Xero's body, unchanged
    assert "999" in body["Elements"][0]["ValidationErrors"][0]["Message"]
    assert "x-minlimit-remaining" in refused.headers
