"""Test controls under /_sandbox: inject platform faults, reset, read or seed the state, read the call log,
add sales to a store's day or empty it."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, field_validator

from sandboxes.cloudpos import demo_data
from sandboxes.cloudpos.api import parse_day, store_or_404
from sandboxes.cloudpos.guards import ApiError, header_guard
from sandboxes.cloudpos.sales import VAT_RATES, Line, sale_json
from sandboxes.cloudpos.settings import CloudPosSandboxSettings
from sandboxes.cloudpos.state import LICENCES, CloudPosState


@dataclass
class Controls:
    """Pending faults and the call log (method, path, status only: bodies and headers hold secrets)."""

    remaining_faults: int = 0
    fault_status: int = 503
    calls: deque = field(default_factory=lambda: deque(maxlen=1000))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self) -> int | None:
        with self._lock:
            if self.remaining_faults <= 0:
                return None
            self.remaining_faults -= 1
            return self.fault_status

    def record(self, at: str | None, method: str, path: str, status: int) -> None:
        self.calls.append({"at": at, "method": method, "path": path, "status": status})


class FaultRequest(BaseModel):
    count: int = Field(ge=0, le=10_000)
    status: int = Field(default=503, ge=400, le=599)


class StoreSeed(BaseModel):
    store_id: str
    name: str
    closed_weekdays: frozenset[int] = Field(default=frozenset(), description="0 = Monday … 6 = Sunday")


class LineSeed(BaseModel):
    description: str = Field(min_length=1, max_length=200)
    quantity: int = Field(default=1, ge=1, le=9999)
    unit_price: Decimal = Field(ge=0, le=100_000, decimal_places=2)
    price_includes_vat: bool = True
    vat_rate: Decimal = Field(default=Decimal("20"), description="percent: 20, 5 or 0")

    @field_validator("vat_rate")
    @classmethod
    def _uk_rate(cls, value: Decimal) -> Decimal:
        if value not in VAT_RATES:
            raise ValueError("a UK VAT rate: 20, 5 or 0")
        return value

    def line(self) -> Line:
        return Line(self.description, self.quantity, self.unit_price, self.price_includes_vat, self.vat_rate)


class SaleSeed(BaseModel):
    date: str
    payment_method: Literal["card", "cash"] = "card"
    time: str = Field(default="12:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    lines: list[LineSeed] = Field(min_length=1, max_length=50)


class UserSeed(BaseModel):
    user_id: str
    username: str
    password: str = Field(max_length=72)
    display_name: str
    disabled: bool = False


class MerchantSeed(BaseModel):
    merchant_id: str
    name: str
    licence: str = Field(pattern="^(" + "|".join(LICENCES) + ")$")
    contact_email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$",
                                      description="omitted: the merchant has no contact email on file")
    stores: list[StoreSeed] = []
    users: list[UserSeed] = []


def seed(state: CloudPosState, settings: CloudPosSandboxSettings) -> None:
    state.clear()
    if settings.demo_data:
        demo_data.load(state)


def build_control_router(settings: CloudPosSandboxSettings) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", dependencies=[Depends(header_guard("x-sandbox-control-token",
                                                                              settings.control_token))])

    def parts(request: Request) -> tuple[CloudPosState, Controls]:
        return request.app.state.cloudpos, request.app.state.controls

    @router.post("/faults")
    async def faults(body: FaultRequest, request: Request) -> dict:
        """Fail the next `count` /api/v1 calls with `status`, before authentication, like an outage."""
        _, controls = parts(request)
        controls.remaining_faults, controls.fault_status = body.count, body.status
        return {"remaining": body.count, "status": body.status}

    @router.post("/reset")
    def reset(request: Request) -> dict:
        state, controls = parts(request)
        seed(state, settings)
        controls.remaining_faults = 0
        controls.calls.clear()
        return {"reset": True}

    @router.get("/calls")
    async def calls(request: Request) -> dict:
        return {"calls": list(parts(request)[1].calls)}

    @router.post("/merchants", status_code=201)
    def add_merchant(body: MerchantSeed, request: Request) -> dict:
        """Add an organisation with its stores and users, for scenarios the demo data does not cover."""
        state, _ = parts(request)
        if body.merchant_id in state.merchants:
            raise ApiError(409, "conflict", f"Merchant {body.merchant_id!r} already exists.")
        state.add_merchant(body.merchant_id, body.name, body.licence, body.contact_email)
        for store in body.stores:
            state.add_store(store.store_id, body.merchant_id, store.name, store.closed_weekdays)
        for user in body.users:
            state.add_user(user.user_id, body.merchant_id, user.username, user.display_name, user.password,
                           disabled=user.disabled)
        return {"merchant_id": body.merchant_id}

    @router.post("/stores/{store_id}/sales", status_code=201)
    async def add_sale(store_id: str, body: SaleSeed, request: Request) -> dict:
        """Ring up a sale on the store's day, after that day's seeded sales."""
        store, day = store_or_404(request, store_id), parse_day(body.date)
        sale = parts(request)[0].add_sale(store.store_id, day, body.payment_method, body.time,
                                          tuple(line.line() for line in body.lines))
        return sale_json(sale)

    @router.delete("/stores/{store_id}/sales")
    async def clear_sales(store_id: str, request: Request, date: str | None = None) -> dict:
        """Empty the store's day (its seeded sales too): a day with nothing sold, or a blank page for a test."""
        store, day = store_or_404(request, store_id), parse_day(date)
        parts(request)[0].clear_sales(store.store_id, day)
        return {"store_id": store.store_id, "date": day.isoformat(), "sales_count": 0}

    return router
