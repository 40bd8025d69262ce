"""The platform API our services call: sign-in with Cloud POS details, key introspection, merchants, and a
store's day of sales."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from sandboxes.cloudpos.guards import ApiError, bearer_guard
from sandboxes.cloudpos.sales import day_json
from sandboxes.cloudpos.settings import CloudPosSandboxSettings
from sandboxes.cloudpos.state import CloudPosState, Merchant, SignInError, Store

_SIGN_IN_ERRORS = {
    "invalid_credentials": (401, "The username or password is incorrect."),
    "account_locked": (403, "This account is locked after too many failed sign-ins; contact support."),
    "account_disabled": (403, "This account has been disabled by the organisation's administrator."),
}


class SessionRequest(BaseModel):
    username: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class IntrospectRequest(BaseModel):
    api_key: str = Field(max_length=1024)


def state_of(request: Request) -> CloudPosState:
    return request.app.state.cloudpos


def build_api_router(settings: CloudPosSandboxSettings) -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    platform = APIRouter(dependencies=[Depends(bearer_guard(settings.platform_token, "platform"))])

    @router.post("/sessions")
    def sign_in(body: SessionRequest, request: Request) -> dict:
        """Plain def: bcrypt is CPU-bound, so this runs in the thread pool, not on the event loop."""
        state = state_of(request)
        try:
            user = state.sign_in(body.username, body.password)
        except SignInError as exc:
            status, message = _SIGN_IN_ERRORS[exc.code]
            raise ApiError(status, exc.code, message) from None
        merchant = state.merchants[user.merchant_id]
        return {
            "user_id": user.user_id,
            "merchant_id": merchant.merchant_id,
            "merchant_name": merchant.name,
            "display_name": user.display_name,
            "email": user.username,
        }

    @platform.post("/api-keys/introspect")
    async def introspect(body: IntrospectRequest, request: Request) -> dict:
        """RFC 7662 style: an unknown key reveals nothing but `active: false`."""
        key = state_of(request).find_key(body.api_key)
        if key is None:
            return {"active": False}
        return {"active": key.revoked_at is None, **key.public()}

    @platform.get("/merchants/{merchant_id}")
    async def merchant(merchant_id: str, request: Request) -> dict:
        found = merchant_or_404(request, merchant_id)
        return {"merchant_id": found.merchant_id, "name": found.name, "licence": found.licence,
                "contact_email": found.contact_email}

    @platform.get("/merchants/{merchant_id}/stores")
    async def stores(merchant_id: str, request: Request) -> dict:
        merchant_or_404(request, merchant_id)
        found = state_of(request).stores_of(merchant_id)
        return {"stores": [{"store_id": s.store_id, "name": s.name} for s in found]}

    @platform.get("/stores/{store_id}/sales")
    async def sales(store_id: str, request: Request, date: str | None = None) -> dict:
        """The store's sales on `date` (its local trading day) with the day's summary; amounts are strings."""
        store = store_or_404(request, store_id)
        day = parse_day(date)
        return day_json(store.store_id, store.merchant_id, day, state_of(request).sales_of(store.store_id, day))

    router.include_router(platform)
    return router


def store_or_404(request: Request, store_id: str) -> Store:
    found = state_of(request).stores.get(store_id)
    if found is None:
        raise ApiError(404, "not_found", f"No store {store_id!r}.")
    return found


def parse_day(text: str | None) -> date:
    """`YYYY-MM-DD` only (400 `invalid_date` otherwise), as the platform's reporting endpoints take it."""
    try:
        if text is None or len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, "invalid_date", "The date query parameter must be a calendar date, YYYY-MM-DD.") from None


def merchant_or_404(request: Request, merchant_id: str) -> Merchant:
    found = state_of(request).merchants.get(merchant_id)
    if found is None:
        raise ApiError(404, "not_found", f"No merchant {merchant_id!r}.")
    return found
