"""Faithful fakes of the two internal HTTP APIs the gateway calls (docs/internal-apis.md), for tests only.

- key_validator `POST /v1/validations`: introspects the key at the Cloud POS sandbox like the real one will,
  and hands the stores to the fake registry (standing in for the KeyValidated event).
- connection_registry `GET /v1/merchants/{id}/summary` and `POST .../completion`: an in-memory projection
  fed by a real Kafka consumer of StoreConnected, OrgSelected, OrgDisconnected and ConsentAbandoned.
"""

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from uuid import uuid4

import httpx
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shared.contracts import (ConsentAbandoned, KeyValidated, Licence, OrgDisconnected, OrgSelected, Store,
                              StoreConnected, topics)
from shared.delivery import CloudEvent, from_kafka, to_kafka


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "retryable": status >= 500}, status_code=status)


def _authorised(request: Request, token: str) -> bool:
    return hmac.compare_digest(request.headers.get("authorization", ""), f"Bearer {token}")


class FakeRegistry:
    def __init__(self, token: str) -> None:
        self.merchants: dict[str, dict] = {}
        self.events: list = []
        self.completions: list[tuple[str, str]] = []
        self.down = False            # True: every call answers 503, as a registry that is away
        self.app = FastAPI()
        app = self.app

        @app.get("/v1/merchants/{merchant_id}/summary")
        async def summary(merchant_id: str, request: Request):
            if not _authorised(request, token):
                return _error(401, "unauthorized", "bearer token required")
            if merchant_id not in self.merchants:
                return _error(404, "unknown_merchant", "No such merchant.")
            return self.summary(merchant_id)

        @app.post("/v1/merchants/{merchant_id}/completion")
        async def completion(merchant_id: str, request: Request):
            if self.down:
                return _error(503, "unavailable", "The registry is not available.")
            if not _authorised(request, token):
                return _error(401, "unauthorized", "bearer token required")
            m = self.merchants.get(merchant_id)
            if m is None or not any(s["state"] == "connected" for s in m["stores"].values()):
                return _error(409, "nothing_connected", "No store is connected to Xero yet.")
            body = await request.json()
            self.completions.append((merchant_id, body["completed_by"]))
            status = 200 if m["completed"] else 202
            m["completed"] = True
            return JSONResponse({"merchant_id": merchant_id, "completed": True}, status_code=status)

    def key_validated(self, merchant_id: str, name: str, stores: list[dict]) -> None:
        m = self.merchants.setdefault(merchant_id, {"name": name, "stores": {}, "completed": False})
        for s in stores:
            m["stores"].setdefault(s["store_id"], {"name": s["name"], "state": "eligible", "tenant_id": None,
                                                   "organisation_name": None, "reason": None})

    async def on_valid(self, result: dict) -> None:
        self.key_validated(result["merchant_id"], result["merchant_name"], result["stores"])

    def apply(self, data) -> None:  # noqa: ANN001 - an event
        self.events.append(data)
        m = self.merchants.get(data.merchant_id)
        if m is None:
            return
        if isinstance(data, StoreConnected) and m["stores"][data.store_id]["state"] != "connected":
            m["stores"][data.store_id]["state"] = "authorised"
        elif isinstance(data, OrgSelected):
            m["stores"][data.store_id].update(state="connected", tenant_id=str(data.tenant_id),
                                              organisation_name=data.organisation_name, reason=None)
        elif isinstance(data, ConsentAbandoned) and not data.still_awaiting \
                and m["stores"][data.store_id]["state"] == "authorised":
            m["stores"][data.store_id].update(state="eligible", reason="consent_abandoned")
        elif isinstance(data, OrgDisconnected):
            for store in m["stores"].values():
                if store["tenant_id"] == str(data.tenant_id) and store["state"] == "connected":
                    store.update(state="disconnected", reason=data.reason.value)

    def summary(self, merchant_id: str) -> dict:
        m = self.merchants[merchant_id]
        orgs: dict[str, dict] = {}
        for store_id, s in m["stores"].items():
            if s["state"] == "connected":
                org = orgs.setdefault(s["tenant_id"], {"tenant_id": s["tenant_id"],
                                                       "organisation_name": s["organisation_name"], "stores": []})
                org["stores"].append({"store_id": store_id, "name": s["name"], "connected_at": "2026-01-01T00:00:00Z"})
        return {"merchant_id": merchant_id, "merchant_name": m["name"], "completed": m["completed"],
                "organisations": list(orgs.values()),
                "stores": [{"store_id": k, **{f: v[f] for f in ("name", "state", "tenant_id", "organisation_name",
                                                                 "reason")}} for k, v in m["stores"].items()]}

    @contextlib.asynccontextmanager
    async def consuming(self, bootstrap: str, group: str) -> AsyncIterator[None]:
        consumer = AIOKafkaConsumer(topics.STORE_CONNECTED, topics.ORG_SELECTED, topics.ORG_DISCONNECTED,
                                    topics.CONSENT_ABANDONED,
                                    bootstrap_servers=bootstrap, group_id=f"{group}-{uuid4().hex[:6]}",
                                    auto_offset_reset="earliest", enable_auto_commit=True)
        await consumer.start()

        async def loop() -> None:
            async for record in consumer:
                headers = {k: v.decode() for k, v in record.headers}
                self.apply(from_kafka(headers, record.value).data)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await consumer.stop()


def build_key_validator(token: str, cloudpos_url: str, platform_token: str,
                        on_valid: Callable[[dict], Awaitable[None]]) -> FastAPI:
    """`on_valid(response)` stands in for the KeyValidated event (fake registry, or a real Kafka record)."""
    app = FastAPI()
    platform = {"Authorization": f"Bearer {platform_token}"}

    @app.post("/v1/validations")
    async def validate(request: Request):
        if not _authorised(request, token):
            return _error(401, "unauthorized", "bearer token required")
        body = await request.json()
        async with httpx.AsyncClient(base_url=cloudpos_url, headers=platform) as c:
            key = (await c.post("/api/v1/api-keys/introspect", json={"api_key": body["api_key"]})).json()
            if not key.get("key_id"):
                return _error(401, "unknown_key", "We do not recognise that Cloud POS API Key. Check you copied "
                                                  "all of it.")
            if not key["active"]:
                return _error(403, "key_revoked", "That Cloud POS API Key has been revoked.")
            if key["service"] != "xero":
                return _error(403, "key_for_other_service", "That API key is for another service.")
            if key["merchant_id"] != body["merchant_id"]:
                return _error(403, "key_of_other_merchant", "That API key belongs to another Cloud POS account.")
            merchant = (await c.get(f"/api/v1/merchants/{body['merchant_id']}")).json()
            if merchant["licence"] != "pro_plus":
                return _error(403, "licence_not_pro_plus", "You MUST have a Cloud POS Pro Plus licence.")
            stores = (await c.get(f"/api/v1/merchants/{body['merchant_id']}/stores")).json()["stores"]
        result = {"merchant_id": body["merchant_id"], "merchant_name": merchant["name"], "licence": "pro_plus",
                  "key_id": key["key_id"], "key_label": key["label"], "stores": stores,
                  "validation_id": str(uuid4()), "user_id": body["user_id"]}
        await on_valid(result)
        return result

    return app


def publish_key_validated(bootstrap: str) -> Callable[[dict], Awaitable[None]]:
    """What the real key_validator does after a validation: a KeyValidated record on Kafka."""
    from aiokafka import AIOKafkaProducer

    async def send(result: dict) -> None:
        event = KeyValidated(merchant_id=result["merchant_id"], merchant_name=result["merchant_name"],
                             key_id=result["key_id"], key_label=result["key_label"], licence=Licence.PRO_PLUS,
                             validated_by=result["user_id"],
                             stores=tuple(Store(store_id=s["store_id"], name=s["name"]) for s in result["stores"]))
        record = to_kafka(CloudEvent(data=event, source="/cloudpos-xero/key_validator"))
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            await producer.send_and_wait(record.topic, value=record.value, key=record.key, headers=record.headers)
        finally:
            await producer.stop()

    return send
