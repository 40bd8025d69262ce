"""Who may call what: scopes per resource (401 insufficient_scope), tenant checks (403), limit headers on every
tenant-scoped answer, calls in flight counted per tenant, and an injected 429 storm shaped like Xero's."""

import asyncio

import httpx
import pytest

from sandboxes.xero import STEVE_PREMIUM_TENANT_ID, STEVE_TEST_STORE_TENANT_ID

from .conftest import ACCOUNTING_SCOPES

SALE = {"Type": "ACCREC", "Contact": {"Name": "Daily Sales"}, "Status": "AUTHORISED",
        "LineItems": [{"Description": "Takings", "Quantity": 1, "UnitAmount": "10.00", "AccountCode": "200"}]}
PAYMENT = {"Invoice": {"InvoiceNumber": "INV-0404"}, "Account": {"Code": "090"}, "Amount": 1}
CALLS = {  # name -> (method, path, body); a refused write body still proves the scope let it through
    "read invoices": ("GET", "/api.xro/2.0/Invoices", None),
    "write invoices": ("PUT", "/api.xro/2.0/Invoices", SALE),
    "read payments": ("GET", "/api.xro/2.0/Payments", None),
    "write payments": ("PUT", "/api.xro/2.0/Payments", PAYMENT),
    "read contacts": ("GET", "/api.xro/2.0/Contacts", None),
    "write contacts": ("PUT", "/api.xro/2.0/Contacts", {"Name": "Walk-in"}),
    "read accounts": ("GET", "/api.xro/2.0/Accounts", None),
    "read tax rates": ("GET", "/api.xro/2.0/TaxRates", None),
    "read organisation": ("GET", "/api.xro/2.0/Organisation", None),
}
SETTINGS = {"read accounts", "read tax rates", "read organisation"}


@pytest.mark.parametrize("scope, allowed", [
    ("accounting.invoices.read", {"read invoices"}),
    ("accounting.invoices", {"read invoices", "write invoices"}),
    ("accounting.transactions.read", {"read invoices", "read payments"}),
    ("accounting.transactions", {"read invoices", "write invoices", "read payments", "write payments"}),
    ("accounting.payments", {"read payments", "write payments"}),
    ("accounting.contacts.read", {"read contacts"}),
    ("accounting.contacts", {"read contacts", "write contacts"}),
    ("accounting.settings.read", SETTINGS),
])
async def test_scopes_per_resource(sandbox, scope, allowed):
    token = await sandbox.connect(scope=f"openid offline_access {scope}")
    for name, (method, path, body) in CALLS.items():
        response = await sandbox.api(token, method, path, json=body)
        if name in allowed:
            assert response.status_code in (200, 400), (name, response.status_code, response.text)
        else:
            assert response.status_code == 401, (name, response.status_code)
            assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'
            problem = response.json()
            assert (problem["Title"], problem["Status"]) == ("Unauthorized", 401)
            assert "x-minlimit-remaining" not in response.headers  # refused before the limiter


async def test_tenant_not_connected_is_403_on_accounting_routes(sandbox):
    token = await sandbox.connect(scope=ACCOUNTING_SCOPES)
    for tenant in (STEVE_PREMIUM_TENANT_ID, None):
        response = await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json=SALE, tenant=tenant)
        assert response.status_code == 403 and response.json()["Detail"] == "AuthenticationUnsuccessful"


async def test_limit_headers_on_success_400_and_404(sandbox):
    token = await sandbox.connect(scope=ACCOUNTING_SCOPES)
    answers = [await sandbox.api(token, "GET", "/api.xro/2.0/Invoices"),
               await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json={"Type": "ACCREC"}),
               await sandbox.api(token, "GET", "/api.xro/2.0/Invoices/INV-9999"),
               await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json=SALE)]
    assert [a.status_code for a in answers] == [200, 400, 404, 200]
    assert [a.headers["x-minlimit-remaining"] for a in answers] == ["59", "58", "57", "56"]
    assert [a.headers["x-daylimit-remaining"] for a in answers] == ["4999", "4998", "4997", "4996"]
    assert all(int(a.headers["x-appminlimit-remaining"]) > 9000 for a in answers)


async def test_calls_in_flight_are_counted_per_tenant(sandbox):
    token = await sandbox.connect(scope=ACCOUNTING_SCOPES)
    sandbox.control("POST", "/_sandbox/latency", {"seconds": 0.4})
    await asyncio.gather(*[sandbox.api(token, "GET", "/api.xro/2.0/Invoices") for _ in range(3)])
    assert sandbox.state()["limits"][STEVE_TEST_STORE_TENANT_ID] == {
        "calls": 3, "peak_in_flight": 3, "in_flight": 0, "minute_remaining": 57, "day_remaining": 4997}
    answers = await asyncio.gather(*[sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json=SALE) for _ in range(7)])
    assert sorted(a.status_code for a in answers) == [200] * 5 + [429] * 2
    limits = sandbox.state()["limits"][STEVE_TEST_STORE_TENANT_ID]
    assert (limits["calls"], limits["peak_in_flight"], limits["in_flight"]) == (8, 5, 0)
    sandbox.control("POST", "/_sandbox/latency", {"seconds": 0})
    sandbox.control("POST", "/_sandbox/reset")
    assert sandbox.state()["limits"] == {}


async def test_injected_429_storm_looks_like_xeros(sandbox):
    token = await sandbox.connect(scope=ACCOUNTING_SCOPES)
    sandbox.control("POST", "/_sandbox/faults", {"count": 3, "status": 429, "paths": "/api.xro/2.0/Invoices",
                                                 "retry_after": 7})
    answers = [await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json=SALE) for _ in range(4)]
    assert [a.status_code for a in answers] == [429, 429, 429, 200]
    for limited in answers[:3]:
        assert limited.text == "Rate limit exceeded" and limited.headers["content-type"].startswith("text/plain")
        assert limited.headers["retry-after"] == "7" and limited.headers["x-rate-limit-problem"] == "minute"
    assert sandbox.control("GET", f"/_sandbox/tenants/{STEVE_TEST_STORE_TENANT_ID}/invoices")["creates"] == 1
    sandbox.control("POST", "/_sandbox/faults", {"count": 1, "status": 429, "paths": "/api.xro/"})
    default = await sandbox.api(token, "GET", "/api.xro/2.0/Organisation")
    assert (default.status_code, default.headers["retry-after"]) == (429, "1")


async def test_control_reads_need_the_control_token_and_a_known_tenant(sandbox):
    async with httpx.AsyncClient() as http:
        missing = await http.get(f"{sandbox.base_url}/_sandbox/tenants/{STEVE_TEST_STORE_TENANT_ID}/invoices")
        unknown = await http.get(f"{sandbox.base_url}/_sandbox/tenants/0b7e1c9a-1111-4222-8333-944455556666/invoices",
                                 headers={"x-sandbox-control-token": sandbox.control_token})
    assert (missing.status_code, unknown.status_code) == (401, 404)
