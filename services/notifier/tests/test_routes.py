"""The operators' API on fakes, over ASGI: bearer token, parked list, re-drive exactly once, clear errors."""

from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from notifier.dispatcher import Dispatcher
from notifier.domain.delivery import AttemptResult, Channel, Outcome, RetryPolicy
from notifier.entrypoints.routes import build_routes
from shared.internal_api import install_error_handlers
from notifier.handlers import DeliveryAdmin, NotifierHandlers
from shared.contracts.examples import ALL
from shared.contracts import CloudEvent

from .fakes import FakeClock, FakeStore, ScriptedSender, permanent

TOKEN = "operator-token-0123456789"
SETUP = next(e for e in ALL if e.type.endswith("SetupCompleted.v1"))


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
    for method, path in (("GET", "/v1/deliveries"), ("POST", f"/v1/deliveries/{uuid4()}/redrive")):
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
