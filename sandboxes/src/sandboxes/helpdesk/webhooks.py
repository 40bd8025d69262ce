"""Helpdesk webhook receiver: verifies Standard Webhooks signatures and keeps every delivery.

Rejected deliveries are kept too (with `verified: false` and the status we answered) so a
test can see what a misconfigured sender actually sent.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class DeliveryLog:
    """Deliveries plus the receiver's up/down switch; thread-safe like the mailbox."""

    def __init__(self, clock: Callable[[], datetime]):
        self._clock = clock
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._deliveries: list[dict] = []
        self.down_status: int | None = None

    def add(self, **fields) -> dict:
        record = {"id": next(self._ids), "received_at": self._clock().isoformat(), **fields}
        with self._lock:
            self._deliveries.append(record)
        return record

    def deliveries(self) -> list[dict]:
        with self._lock:
            return list(self._deliveries)

    def clear(self) -> None:
        with self._lock:
            self._deliveries.clear()
        self.down_status = None


class DownRequest(BaseModel):
    status: int = Field(default=503, ge=400, le=599)


def _verify(verifier: Webhook | None, raw: bytes, request: Request) -> bool:
    if verifier is None:
        return False
    try:
        verifier.verify(raw, dict(request.headers), json_parse=False)
    except (WebhookVerificationError, ValueError):  # ValueError covers bad base64 / encoding
        return False
    return True


def _error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status)


def build_webhook_router(log: DeliveryLog, secret: str) -> APIRouter:
    """`secret` empty means no verification: deliveries are accepted and marked unverified."""
    verifier = Webhook(secret) if secret else None
    router = APIRouter()

    @router.post("/webhooks/helpdesk")
    async def receive(request: Request) -> Response:
        raw = await request.body()
        verified = _verify(verifier, raw, request)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if log.down_status is not None:
            response = _error(log.down_status, "receiver_down", "The helpdesk receiver is down (sandbox).")
        elif verifier is not None and not verified:
            response = _error(401, "invalid_signature", "The webhook signature is missing or invalid.")
        elif body is None:
            response = _error(400, "invalid_json", "The webhook body is not JSON.")
        else:
            response = Response(status_code=204)
        log.add(webhook_id=request.headers.get("webhook-id"),
                webhook_timestamp=request.headers.get("webhook-timestamp"),
                body=body, verified=verified, status=response.status_code)
        return response

    @router.post("/_sandbox/receiver/down")
    async def down(body: DownRequest | None = None) -> dict:
        log.down_status = (body or DownRequest()).status
        return {"down": True, "status": log.down_status}

    @router.post("/_sandbox/receiver/up")
    async def up() -> dict:
        log.down_status = None
        return {"down": False}

    return router
