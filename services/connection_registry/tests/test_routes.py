"""The internal HTTP API over fakes: the contract in docs/internal-apis.md, bearer auth, error shape."""

from uuid import uuid4

import httpx
import pytest

from connection_registry.handlers import RegistryHandlers
from shared.contracts import BreakReason

from .console_fakes import http_over_fakes
from .fakes import API_TOKEN, FakeReads
from .journey import ORG_A, ORG_B, STEVE, Journey

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
async def api(handlers, uow):
    app = http_over_fakes(handlers, FakeReads(uow))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
        yield client


async def journey(handlers: RegistryHandlers) -> Journey:
    j = Journey()
    for event in [*j.connected(), j.key_validated(stores=4), j.org_disconnected(ORG_B)]:
        await handlers.handle(event)
    return j


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-wrong-token"},
                                     {"Authorization": f"Basic {API_TOKEN}"}], ids=["none", "wrong", "not-bearer"])
async def test_every_route_requires_the_bearer_token(api, headers):
    for method, path in [("GET", "/v1/merchants/m-1/summary"), ("GET", "/v1/merchants/m-1/stores/s-1"),
                         ("GET", "/v1/merchants/m-1/timeline"), ("POST", "/v1/merchants/m-1/completion")]:
        response = await api.request(method, path, headers=headers, json={"completed_by": "u-1"})
        assert response.status_code == 401, path
        assert response.json() == {"code": "unauthorized", "message": "A valid bearer token is required.",
                                   "retryable": False}
        assert response.headers["www-authenticate"] == "Bearer"


async def test_summary_groups_connected_stores_by_organisation_and_lists_every_store(api, handlers):
    await journey(handlers)

    response = await api.get("/v1/merchants/m-1/summary", headers=AUTH)

    assert response.status_code == 200
    body = response.json()
    assert (body["merchant_id"], body["merchant_name"], body["completed"]) == ("m-1", "Steve's Cycles", False)
    assert [(o["tenant_id"], o["organisation_name"], [s["store_id"] for s in o["stores"]])
            for o in body["organisations"]] == [(str(ORG_A), "Steve's Cycles Ltd", ["s-1", "s-2"])]
    assert all(s["connected_at"] for o in body["organisations"] for s in o["stores"])
    assert [(s["store_id"], s["state"], s["organisation_name"], s["reason"]) for s in body["stores"]] == [
        ("s-1", "connected", "Steve's Cycles Ltd", None), ("s-2", "connected", "Steve's Cycles Ltd", None),
        ("s-3", "disconnected", "Steve's Rentals Ltd", "removed_in_xero"), ("s-4", "eligible", None, None)]


async def test_store_status_and_unknowns(api, handlers):
    await journey(handlers)

    store = (await api.get("/v1/merchants/m-1/stores/s-3", headers=AUTH)).json()
    unknown_store = await api.get("/v1/merchants/m-1/stores/s-99", headers=AUTH)
    unknown_merchant = await api.get("/v1/merchants/m-404/summary", headers=AUTH)
    garbage = await api.get("/v1/merchants/not%20an%20id/summary", headers=AUTH)

    assert (store["state"], store["tenant_id"], store["reason"], store["grant_id"]) == (
        "disconnected", str(ORG_B), "removed_in_xero", "g-2")
    assert (unknown_store.status_code, unknown_store.json()["code"]) == (404, "unknown_store")
    assert (unknown_merchant.status_code, unknown_merchant.json()["code"]) == (404, "unknown_merchant")
    assert (garbage.status_code, garbage.json()["code"]) == (400, "invalid_format")


async def test_the_timeline_pages_in_order(api, handlers):
    j = await journey(handlers)

    first = (await api.get("/v1/merchants/m-1/timeline", params={"limit": 5}, headers=AUTH)).json()
    rest = (await api.get("/v1/merchants/m-1/timeline", params={"after": first["next_after"]}, headers=AUTH)).json()

    entries = first["entries"] + rest["entries"]
    assert [e["position"] for e in entries] == list(range(1, 10))
    assert rest["next_after"] is None
    assert entries[-1]["what"] == "Store 'Store 3' disconnected from organisation 'Steve's Rentals Ltd'"
    assert entries[-1]["causation_id"] == entries[-2]["event_id"]
    assert {e["correlation_id"] for e in entries} == {str(j.correlation)}


async def test_completion_is_202_then_200_and_409_with_nothing_connected(api, handlers):
    await handlers.handle(Journey().key_validated())
    nothing = await api.post("/v1/merchants/m-1/completion", json={"completed_by": "u-1"}, headers=AUTH)
    for event in Journey().connected():
        await handlers.handle(event)

    first = await api.post("/v1/merchants/m-1/completion", json={"completed_by": "u-1"}, headers=AUTH)
    second = await api.post("/v1/merchants/m-1/completion", json={"completed_by": "u-2"}, headers=AUTH)

    assert (nothing.status_code, nothing.json()["code"]) == (409, "nothing_connected")
    assert (first.status_code, first.json()["already_completed"]) == (202, False)
    assert (second.status_code, second.json()["already_completed"]) == (200, True)
    assert second.json()["event_id"] == first.json()["event_id"] and second.json()["completed_by"] == "u-1"
    assert (await api.get("/v1/merchants/m-1/summary", headers=AUTH)).json()["completed"] is True


async def test_a_malformed_completion_is_refused_without_echoing_it(api, handlers):
    for event in Journey().connected():
        await handlers.handle(event)

    response = await api.post("/v1/merchants/m-1/completion", json={"completed_by": "<script>", "x": 1}, headers=AUTH)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_format" and "<script>" not in response.text


async def test_the_openapi_document_describes_the_api_and_its_bearer_scheme(api):
    doc = (await api.get("/openapi.json")).json()

    assert set(doc["paths"]) >= {"/v1/merchants/{merchant_id}/summary", "/v1/merchants/{merchant_id}/stores/{store_id}",
                                 "/v1/merchants/{merchant_id}/timeline", "/v1/merchants/{merchant_id}/completion"}
    assert not any(p.startswith("/helpdesk") for p in doc["paths"])
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    completion = doc["paths"]["/v1/merchants/{merchant_id}/completion"]["post"]
    assert {"202", "200", "400", "401", "404", "409"} <= set(completion["responses"])


async def test_summary_adds_status_reason_since_per_store_and_who_authorised_each_organisation(api, handlers):
    j = Journey()
    kv, sc1, _, os2, sc3, os3 = j.connected()
    for event in [kv, sc1, j.org_selected("s-1", ORG_A, "g-1", authorised_by=STEVE), os2, sc3, os3,
                  j.key_validated(stores=4), j.org_disconnected(ORG_B)]:
        await handlers.handle(event)
    broken = j.broken("s-2", ORG_A, uuid4(), BreakReason.SUBSCRIPTION_DOWNGRADED)
    await handlers.handle(broken)

    body = (await api.get("/v1/merchants/m-1/summary", headers=AUTH)).json()

    assert [(s["store_id"], s["state"], s["status"], s["reason"], s["since"]) for s in body["stores"]] == [
        ("s-1", "connected", "connected", None, None),
        ("s-2", "connected", "reconnect_needed", "subscription_downgraded", "2026-03-01T08:10:00Z"),
        ("s-3", "disconnected", "disconnected", "removed_in_xero", None),
        ("s-4", "eligible", "eligible", None, None)]
    (org,) = body["organisations"]  # a broken store keeps its line in the map
    assert [s["store_id"] for s in org["stores"]] == ["s-1", "s-2"]
    assert org["authorised_by"] == {"xero_userid": str(STEVE.xero_userid), "name": "Steve Tester",
                                    "email": "steve@xero-demo.test"}
    one = (await api.get("/v1/merchants/m-1/stores/s-2", headers=AUTH)).json()
    assert (one["state"], one["status"], one["reason"]) == ("connected", "reconnect_needed", "subscription_downgraded")


async def test_an_organisation_nobody_is_known_to_have_authorised_says_null(api, handlers):
    await journey(handlers)

    body = (await api.get("/v1/merchants/m-1/summary", headers=AUTH)).json()

    assert [o["authorised_by"] for o in body["organisations"]] == [None]
