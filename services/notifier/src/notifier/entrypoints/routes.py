"""HTTP entrypoints for operators: see deliveries, re-drive parked ones. Bearer token, constant-time."""

import hmac
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from ..domain.delivery import Status
from ..handlers import DeliveryAdmin
from ..views import DeliveryView, RedriveResult


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def install_error_handlers(app: FastAPI) -> None:
    """Errors as `{"code", "message", "retryable"}` (docs/internal-apis.md)."""

    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse({"code": error.code, "message": error.message, "retryable": False},
                            status_code=error.status, headers=error.headers)

    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        where = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in error.errors())
        return JSONResponse({"code": "invalid_request", "message": where, "retryable": False}, status_code=400)

    app.add_exception_handler(ApiError, api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, invalid)  # type: ignore[arg-type]


def build_routes(admin: DeliveryAdmin, api_token: SecretStr) -> APIRouter:
    expected = f"Bearer {api_token.get_secret_value()}".encode()

    def authorised(request: Request) -> None:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise ApiError(401, "unauthorized", "A valid bearer token is required.", {"WWW-Authenticate": "Bearer"})

    router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"], dependencies=[Depends(authorised)])

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
