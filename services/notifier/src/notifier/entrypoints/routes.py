"""HTTP entrypoints for operators: see deliveries, re-drive parked ones. Bearer token, constant-time."""

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import SecretStr

from shared.internal_api import ApiError, bearer_auth

from ..domain.delivery import Status
from ..handlers import DeliveryAdmin
from ..views import DeliveryView, RedriveResult


def build_routes(admin: DeliveryAdmin, api_token: SecretStr) -> APIRouter:
    router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"], dependencies=[Depends(bearer_auth(api_token))])

    @router.get("", response_model=list[DeliveryView])
    async def listing(status: Status | Literal["all"] = Status.PARKED,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[DeliveryView]:
        """Parked deliveries by default: what needs someone's attention."""
        return await admin.listing(None if status == "all" else status, limit)

    @router.get("/{delivery_id}", response_model=DeliveryView)
    async def one(delivery_id: str) -> DeliveryView:
        return await admin.get(_id(delivery_id)) or _not_found(delivery_id)

    @router.post("/{delivery_id}/redrive", response_model=RedriveResult)
    async def redrive(delivery_id: str) -> RedriveResult:
        """Send a parked delivery again; a delivered or pending one is left alone (redriven: false)."""
        return await admin.redrive(_id(delivery_id)) or _not_found(delivery_id)

    return router


def _id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise ApiError(400, "invalid_delivery_id", "A delivery id is a UUID.") from None


def _not_found(delivery_id: str):  # noqa: ANN202 - never returns
    raise ApiError(404, "delivery_not_found", f"No delivery {delivery_id}.")
