"""The HTTP adapters: the platform API client against the stand-in (with a scripted Xero behind it), and the
Cloud POS client against the real Cloud POS sandbox, both in process through ASGI transports."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from daily_sales.adapters.cloudpos import HttpCloudPosSales
from daily_sales.adapters.platform_api import HttpPlatformXero, retry_after_seconds
from daily_sales.domain import Connection, Invoice, InvoiceLine, ProxyAnswer
from daily_sales.ports import CloudPosUnavailable, PlatformUnavailable
from daily_sales.settings import CloudPosSettings, PlatformApiSettings
from sandboxes.cloudpos import CloudPosSandboxSettings
from sandboxes.cloudpos import build_app as build_cloudpos

from .platform_standin import PlatformStandin, StandinConnection

TOKEN = "daily-sales-platform-token-1"
TENANT = UUID("3f5c1b2a-8d4e-4c6f-9a1b-2c3d4e5f6a01")
INVOICE = Invoice("s-1", "Steve Test Store", date(2026, 3, 1), "GBP", "200",
                  (InvoiceLine("Sales at 20% VAT, 01 Mar 2026", Decimal("100.00"), Decimal("20.00"), "OUTPUT2"),))


class ScriptedXero:
    """Answers each call with the next scripted response and records what reached Xero."""

    def __init__(self) -> None:
        self.responses: list[Response] = []
        self.seen: list[dict] = []
        self.app = FastAPI()

        @self.app.api_route("/{path:path}", methods=["GET", "PUT"])
        async def any_call(path: str, request: Request) -> Response:
            self.seen.append({"method": request.method, "path": path, "headers": dict(request.headers),
                              "query": dict(request.query_params), "body": await request.body()})
            return self.responses.pop(0)


@pytest.fixture
async def xero_and_standin():
    xero = ScriptedXero()
    standin = PlatformStandin(TOKEN, "http://xero.test", httpx.ASGITransport(xero.app))
    standin.connections["s-1"] = StandinConnection("m-1", TENANT, "Steve Test Store", "xero-access-token")
    yield xero, standin
    await standin.aclose()


def platform_client(standin: PlatformStandin, token: str = TOKEN) -> HttpPlatformXero:
    return HttpPlatformXero(PlatformApiSettings(base_url="http://gateway.test", token=token),
                            transport=httpx.ASGITransport(standin.app))


async def test_the_connection_is_read(xero_and_standin):
    _, standin = xero_and_standin
    standin.connections["s-2"] = StandinConnection("m-1", TENANT, "Org", "t", "reconnect_needed",
                                                   ("accounting.invoices",))
    client = platform_client(standin)
    async with client.connected():
        assert await client.connection("s-1") == Connection("s-1", TENANT, "Steve Test Store", "active")
        assert (await client.connection("s-2")).missing_scopes == ("accounting.invoices",)
        assert await client.connection("s-nobody") is None


async def test_our_token_refused_or_an_unknown_route_is_unavailable_not_not_connected(xero_and_standin):
    _, standin = xero_and_standin
    client = platform_client(standin, token="wrong-token-0123456789")
    async with client.connected():
        with pytest.raises(PlatformUnavailable, match="unauthorized"):
            await client.connection("s-1")
    other = HttpPlatformXero(PlatformApiSettings(base_url="http://gateway.test", token=TOKEN),
                             transport=httpx.ASGITransport(FastAPI()))
    async with other.connected():
        with pytest.raises(PlatformUnavailable, match="HTTP 404"):
            await other.connection("s-1")


async def test_the_invoice_reaches_xero_with_the_gateways_token_the_tenant_and_our_key(xero_and_standin):
    xero, standin = xero_and_standin
    xero.responses = [JSONResponse({"Invoices": [{"InvoiceID": "i-1", "InvoiceNumber": "INV-0001"}]})]
    client = platform_client(standin)
    async with client.connected():
        answer = await client.create_invoice("s-1", INVOICE, "daily-sales:s-1:2026-03-01")
    assert answer == ProxyAnswer(200, body={"Invoices": [{"InvoiceID": "i-1", "InvoiceNumber": "INV-0001"}]})
    [seen] = xero.seen
    assert (seen["method"], seen["path"]) == ("PUT", "api.xro/2.0/Invoices")
    assert seen["headers"]["authorization"] == "Bearer xero-access-token"  # never ours
    assert seen["headers"]["xero-tenant-id"] == str(TENANT)
    assert seen["headers"]["idempotency-key"] == "daily-sales:s-1:2026-03-01"
    assert httpx.Response(200, content=seen["body"]).json() == INVOICE.xero_body()
    assert TOKEN not in str(seen["headers"])


async def test_a_search_sends_the_where_filter(xero_and_standin):
    xero, standin = xero_and_standin
    xero.responses = [JSONResponse({"Invoices": []})]
    client = platform_client(standin)
    async with client.connected():
        await client.find_invoices("s-1", "s-1 2026-03-01")
    assert xero.seen[0]["method"] == "GET" and xero.seen[0]["query"] == {"where": 'Reference=="s-1 2026-03-01"'}


@pytest.mark.parametrize(("response", "expected"), [
    (JSONResponse({"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
                   "Elements": []}, status_code=400),
     ProxyAnswer(400, body={"ErrorNumber": 10, "Type": "ValidationException",
                            "Message": "A validation exception occurred", "Elements": []})),
    (PlainTextResponse("rate limited", status_code=429, headers={"Retry-After": "37",
                                                                 "X-Rate-Limit-Problem": "minute"}),
     ProxyAnswer(429, text="rate limited", retry_after=37.0)),
    (PlainTextResponse("The Xero API is currently offline for maintenance", status_code=503),
     ProxyAnswer(503, text="The Xero API is currently offline for maintenance")),
])
async def test_xeros_answers_come_back_unchanged(xero_and_standin, response, expected):
    xero, standin = xero_and_standin
    xero.responses = [response]
    client = platform_client(standin)
    async with client.connected():
        assert await client.create_invoice("s-1", INVOICE, "k") == expected


async def test_the_proxys_own_problems_are_read_as_problems(xero_and_standin):
    xero, standin = xero_and_standin
    standin.fail_next(429, "rate_limited", {"Retry-After": "12"}, limit="blocked")
    standin.connections["s-1"].status = "broken"
    client = platform_client(standin)
    async with client.connected():
        limited = await client.create_invoice("s-1", INVOICE, "k")
        broken = await client.create_invoice("s-1", INVOICE, "k")
    assert (limited.status, limited.problem["code"], limited.retry_after) == (429, "rate_limited", 12.0)
    assert (broken.status, broken.problem["code"], broken.problem["reason"]) == (409, "connection_broken",
                                                                                 "invalid_grant")
    assert xero.seen == []


async def test_no_answer_at_all_is_unavailable():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = HttpPlatformXero(PlatformApiSettings(base_url="http://gateway.test", token=TOKEN),
                              transport=httpx.MockTransport(refuse))
    async with client.connected():
        with pytest.raises(PlatformUnavailable, match="ConnectError"):
            await client.create_invoice("s-1", INVOICE, "k")
        with pytest.raises(PlatformUnavailable):
            await client.connection("s-1")
    with pytest.raises(PlatformUnavailable, match="not started"):
        await client.connection("s-1")


def test_retry_after_in_seconds_or_as_a_date():
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0.0
    assert [retry_after_seconds(v) for v in (None, "", "soon", "-5")] == [None, None, None, None]


# --- Cloud POS ----------------------------------------------------------------------------------------------
SANDBOX = CloudPosSandboxSettings(platform_token="cloudpos-platform-token", support_token="s", control_token="c")


def cloudpos(token: str = "cloudpos-platform-token", app=None) -> HttpCloudPosSales:
    return HttpCloudPosSales(CloudPosSettings(base_url="http://cloudpos.test", platform_token=token),
                             transport=httpx.ASGITransport(app or build_cloudpos(SANDBOX)))


async def test_a_day_of_sales_from_the_cloud_pos_sandbox():
    app = build_cloudpos(SANDBOX)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://cloudpos.test",
                                 headers={"Authorization": "Bearer cloudpos-platform-token"}) as plain:
        summary = (await plain.get("/api/v1/stores/s-steve-1/sales", params={"date": "2026-03-02"})).json()["summary"]
    client = cloudpos(app=app)
    async with client.connected():
        day = await client.day_of_sales("s-steve-1", date(2026, 3, 2))
    assert (day.store_id, day.day, day.currency, day.sales_count) == ("s-steve-1", date(2026, 3, 2), "GBP",
                                                                      summary["sales_count"])
    assert [(t.rate, t.net, t.tax) for t in day.by_vat_rate] == [
        (Decimal(r["vat_rate"]), Decimal(r["net"]), Decimal(r["tax"])) for r in summary["by_vat_rate"]]


async def test_a_closed_day_has_no_sales_and_an_unknown_store_is_none():
    client = cloudpos()
    async with client.connected():
        closed = await client.day_of_sales("s-steve-3", date(2026, 3, 1))  # the outlet, on a Sunday
        assert (closed.sales_count, closed.by_vat_rate) == (0, ())
        assert await client.day_of_sales("s-nobody", date(2026, 3, 1)) is None


async def test_a_refused_token_or_an_outage_is_cloud_pos_unavailable():
    client = cloudpos(token="wrong")
    async with client.connected():
        with pytest.raises(CloudPosUnavailable, match="HTTP 401"):
            await client.day_of_sales("s-steve-1", date(2026, 3, 1))
    app = build_cloudpos(SANDBOX)
    app.state.controls.remaining_faults, app.state.controls.fault_status = 1, 503
    client = cloudpos(app=app)
    async with client.connected():
        with pytest.raises(CloudPosUnavailable, match="HTTP 503"):
            await client.day_of_sales("s-steve-1", date(2026, 3, 1))


async def test_an_answer_that_is_not_a_day_of_sales_is_unavailable():
    nonsense = FastAPI()

    @nonsense.get("/api/v1/stores/{store_id}/sales")
    async def sales(store_id: str) -> dict:
        return {"store_id": "s-other", "date": "2026-03-01", "currency": "GBP",
                "summary": {"sales_count": 1, "by_vat_rate": []}}

    client = cloudpos(app=nonsense)
    async with client.connected():
        with pytest.raises(CloudPosUnavailable, match="another store"):
            await client.day_of_sales("s-1", date(2026, 3, 1))


async def test_the_sales_path_comes_from_settings():
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"store_id": "s/1", "date": "2026-03-02", "currency": "GBP",
                                         "summary": {"sales_count": 0, "by_vat_rate": []}})

    settings = CloudPosSettings(base_url="http://cloudpos.test/gw", platform_token="t",
                                paths={"store_sales": "/reporting/v2/shops/{store_id}/takings"})
    client = HttpCloudPosSales(settings, transport=httpx.MockTransport(handle))
    async with client.connected():
        day = await client.day_of_sales("s/1", date(2026, 3, 2))
    assert (day.store_id, day.sales_count) == ("s/1", 0)
    (request,) = seen
    assert request.url.raw_path == b"/gw/reporting/v2/shops/s%2F1/takings?date=2026-03-02"
