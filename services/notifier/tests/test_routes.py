"""The operators' API on fakes, over ASGI: bearer token, parked list, re-drive exactly once, clear errors; the
console's reads: pages of deliveries per merchant in either order, counts, what each merchant was sent."""

from datetime import timedelta
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from notifier.adapters.merchant_mail import MerchantMailer
from notifier.dispatcher import Dispatcher
from notifier.domain.delivery import AttemptResult, Channel, Outcome, RetryPolicy
from notifier.entrypoints.routes import build_routes
from shared.internal_api import install_error_handlers
from notifier.handlers import DeliveryAdmin, NotifierHandlers
from notifier.settings import MerchantEmailSettings
from shared.contracts.examples import ALL
from shared.contracts import CloudEvent, SetupReminderRequested

from .fakes import START, FakeClock, FakeContacts, FakeStore, ScriptedSender, SentMail, permanent

TOKEN = "operator-token-0123456789"
SETUP = next(e for e in ALL if e.type.endswith("SetupCompleted.v1"))
REMIND = next(e for e in ALL if isinstance(e, SetupReminderRequested))


@pytest.fixture
async def world():
    store, clock, webhook = FakeStore(), FakeClock(), ScriptedSender(permanent())
    await NotifierHandlers(store, (Channel.WEBHOOK,), clock).notify(CloudEvent(data=SETUP, source="/t"))
    dispatcher = Dispatcher(store, {Channel.WEBHOOK: webhook}, clock, RetryPolicy())
    await dispatcher.run_once()
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_routes(DeliveryAdmin(store, clock), SecretStr(TOKEN)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notifier",
                                 headers={"authorization": f"Bearer {TOKEN}"}) as client:
        yield client, dispatcher, webhook


@pytest.mark.parametrize("auth", [None, "Bearer wrong", f"bearer{TOKEN}", TOKEN])
async def test_every_route_needs_the_bearer_token(world, auth):
    client, *_ = world
    headers = {"authorization": auth} if auth else {}
    client.headers.pop("authorization")
    for method, path in (("GET", "/v1/deliveries"), ("POST", f"/v1/deliveries/{uuid4()}/redrive"),
                         ("GET", "/v1/deliveries/count"), ("GET", "/v1/merchants/notices?merchant_id=m-1")):
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"code": "unauthorized", "message": "A valid bearer token is required.",
                                   "retryable": False}


async def test_parked_deliveries_are_listed_and_redriven_once(world):
    client, dispatcher, webhook = world
    [parked] = (await client.get("/v1/deliveries")).json()
    assert parked["status"] == "parked" and "HTTP 410" in parked["last_error"]
    detail = (await client.get(f"/v1/deliveries/{parked['delivery_id']}")).json()
    assert [a["outcome"] for a in detail["history"]] == ["permanent"]

    webhook.answers = [AttemptResult(Outcome.DELIVERED, "HTTP 204", 204)]
    first = (await client.post(f"/v1/deliveries/{parked['delivery_id']}/redrive")).json()
    assert first["redriven"] and first["delivery"]["status"] == "pending"
    assert await dispatcher.run_once() == 1
    second = (await client.post(f"/v1/deliveries/{parked['delivery_id']}/redrive")).json()
    assert not second["redriven"] and second["delivery"]["status"] == "delivered"
    assert await dispatcher.run_once() == 0 and len(webhook.sent) == 2
    assert (await client.get("/v1/deliveries")).json() == []
    assert len((await client.get("/v1/deliveries", params={"status": "all"})).json()) == 1


async def test_unknown_and_malformed_ids_get_clear_errors(world):
    client, *_ = world
    missing = await client.post(f"/v1/deliveries/{uuid4()}/redrive")
    assert missing.status_code == 404 and missing.json()["code"] == "delivery_not_found"
    malformed = await client.get("/v1/deliveries/not-a-uuid")
    assert malformed.status_code == 400 and malformed.json()["code"] == "invalid_delivery_id"
    bad_filter = await client.get("/v1/deliveries", params={"status": "lost"})
    assert bad_filter.status_code == 400 and bad_filter.json()["code"] == "invalid_format"  # as every internal API


@pytest.fixture
async def console():
    """m-a: ready to finalise (webhook parked, re-driven, parked again later) and reminded to finish (delivered);
    m-b: ready to finalise, parked in between."""
    store, clock, webhook = FakeStore(), FakeClock(), ScriptedSender(permanent())
    handlers = NotifierHandlers(store, (Channel.WEBHOOK,), clock)
    mailer = MerchantMailer(FakeContacts({"m-a": "a@shop.test"}), MerchantEmailSettings(
        host="smtp.test", from_address="noreply@cloudpos.test"), "https://n.test/", b"k" * 32, clock,
        deliver_mail=SentMail())
    dispatcher = Dispatcher(store, {Channel.WEBHOOK: webhook, Channel.MERCHANT_EMAIL: mailer}, clock, RetryPolicy())
    for minute, merchant in ((0, "m-a"), (1, "m-b")):
        clock.at = START + timedelta(minutes=minute)
        await handlers.notify(CloudEvent(data=SETUP.model_copy(update={"merchant_id": merchant}), source="/t"))
        await dispatcher.run_once()
    clock.at = START + timedelta(minutes=2)
    await handlers.remind(CloudEvent(data=REMIND.model_copy(update={"merchant_id": "m-a"}), source="/t"))
    await dispatcher.run_once()
    [first, *_] = await store.listing(None, 10)
    clock.at = START + timedelta(minutes=3)
    await store.redrive(first.delivery_id, clock())
    await dispatcher.run_once()
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_routes(DeliveryAdmin(store, clock), SecretStr(TOKEN)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifier",
                                 headers={"authorization": f"Bearer {TOKEN}"}) as client:
        yield client


async def _listed(client, **params) -> list[tuple[str, str]]:
    response = await client.get("/v1/deliveries", params=params)
    assert response.status_code == 200, response.text
    return [(d["merchant_id"], d["channel"]) for d in response.json()]


async def test_parked_ones_page_by_when_they_were_parked_others_by_when_recorded(console):
    client = console
    assert await _listed(client) == [("m-b", "webhook"), ("m-a", "webhook")]          # m-a parked again last
    assert await _listed(client, order="newest") == [("m-a", "webhook"), ("m-b", "webhook")]
    assert await _listed(client, limit=1, offset=1) == [("m-a", "webhook")]
    assert await _listed(client, limit=1, offset=2) == []
    assert await _listed(client, status="all") == [("m-a", "webhook"), ("m-b", "webhook"), ("m-a", "merchant_email")]
    assert await _listed(client, status="all", merchant_id="m-a", order="newest") == [
        ("m-a", "merchant_email"), ("m-a", "webhook")]
    assert await _listed(client, status="delivered", merchant_id="m-b") == []


async def test_counts_follow_the_same_filters(console):
    client = console
    assert (await client.get("/v1/deliveries/count")).json() == {"status": "parked", "merchant_id": None, "count": 2}
    assert (await client.get("/v1/deliveries/count", params={"status": "all", "merchant_id": "m-a"})).json()[
        "count"] == 2
    assert (await client.get("/v1/deliveries/count", params={"status": "delivered"})).json()["count"] == 1


async def test_what_each_merchant_was_sent_and_merchants_with_nothing_are_left_out(console):
    client = console
    response = await client.get("/v1/merchants/notices", params={"merchant_id": ["m-b", "m-a", "m-none", "m-a"]})
    assert response.status_code == 200
    assert response.json() == [
        {"merchant_id": "m-a", "emails_sent": 1, "reminders_sent": 0, "setup_reminders_sent": 1,
         "last_sent_at": (START + timedelta(minutes=2)).isoformat().replace("+00:00", "Z"), "parked": 1},
        {"merchant_id": "m-b", "emails_sent": 0, "reminders_sent": 0, "setup_reminders_sent": 0,
         "last_sent_at": None, "parked": 1}]


@pytest.mark.parametrize("params", [{}, {"merchant_id": [f"m-{i}" for i in range(101)]}, {"merchant_id": "x" * 65},
                                    {"merchant_id": ["m-1", "m-\x00"]}])
async def test_notices_need_one_to_a_hundred_merchant_ids(console, params):
    client = console
    response = await client.get("/v1/merchants/notices", params=params)
    assert response.status_code == 400 and response.json()["code"] == "invalid_format"


@pytest.mark.parametrize("params", [{"order": "sideways"}, {"offset": -1}, {"merchant_id": ""},
                                    {"merchant_id": "m-\x00"}])
async def test_bad_listing_parameters_are_refused(console, params):
    client = console
    response = await client.get("/v1/deliveries", params=params)
    assert response.status_code == 400 and response.json()["code"] == "invalid_format"
