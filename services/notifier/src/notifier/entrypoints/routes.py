"""HTTP entrypoints for operators and the helpdesk console: see deliveries (page by page, per merchant), count
them, what each merchant was sent, re-drive parked ones. Bearer token, constant-time."""

import re
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import SecretStr

from shared.internal_api import ApiError, bearer_auth

from ..domain.delivery import Status
from ..handlers import DeliveryAdmin
from ..views import DeliveryCount, DeliveryView, MerchantNotices, Order, RedriveResult

ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,64}$"   # the contracts' Identifier
MerchantId = Annotated[str | None, Query(pattern=ID_PATTERN, description="only this merchant's")]
MAX_MERCHANTS = 100


def build_routes(admin: DeliveryAdmin, api_token: SecretStr) -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[Depends(bearer_auth(api_token))])
    router.include_router(_deliveries(admin))
    router.include_router(_merchants(admin))
    return router


def _deliveries(admin: DeliveryAdmin) -> APIRouter:
    router = APIRouter(prefix="/deliveries", tags=["deliveries"])

    @router.get("", response_model=list[DeliveryView])
    async def listing(status: Status | Literal["all"] = Status.PARKED,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                      offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                      merchant_id: MerchantId = None, order: Order = Order.OLDEST) -> list[DeliveryView]:
        """Parked deliveries by default: what needs someone's attention. Parked ones are ordered by when they were
        parked, any other status (or `all`) by when they were recorded; oldest first unless `order=newest`."""
        return await admin.listing(None if status == "all" else status, limit, offset=offset,
                                   merchant_id=merchant_id, order=order)

    @router.get("/count", response_model=DeliveryCount)
    async def count(status: Status | Literal["all"] = Status.PARKED, merchant_id: MerchantId = None) -> DeliveryCount:
        """How many deliveries `GET /v1/deliveries` would list with these filters and no limit."""
        found = await admin.count(None if status == "all" else status, merchant_id)
        return DeliveryCount(status=status, merchant_id=merchant_id, count=found)

    @router.get("/{delivery_id}", response_model=DeliveryView)
    async def one(delivery_id: str) -> DeliveryView:
        return await admin.get(_id(delivery_id)) or _not_found(delivery_id)

    @router.post("/{delivery_id}/redrive", response_model=RedriveResult)
    async def redrive(delivery_id: str) -> RedriveResult:
        """Send a parked delivery again; a delivered or pending one is left alone (redriven: false)."""
        return await admin.redrive(_id(delivery_id)) or _not_found(delivery_id)

    return router


def _merchants(admin: DeliveryAdmin) -> APIRouter:
    router = APIRouter(prefix="/merchants", tags=["merchants"])

    @router.get("/notices", response_model=list[MerchantNotices])
    async def notices(merchant_id: Annotated[list[str], Query(
            description=f"repeat for each merchant, 1 to {MAX_MERCHANTS}")]) -> list[MerchantNotices]:
        """What each merchant was sent, by merchant id; a merchant the notifier recorded nothing for is absent."""
        if not 1 <= len(merchant_id) <= MAX_MERCHANTS or not all(re.fullmatch(ID_PATTERN, m) for m in merchant_id):
            raise ApiError(400, "invalid_format", f"Give 1 to {MAX_MERCHANTS} merchant ids.")
        return await admin.notices(merchant_id)

    return router


def _id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise ApiError(400, "invalid_delivery_id", "A delivery id is a UUID.") from None


def _not_found(delivery_id: str):  # noqa: ANN202 - never returns
    raise ApiError(404, "delivery_not_found", f"No delivery {delivery_id}.")
