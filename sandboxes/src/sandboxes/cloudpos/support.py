"""What the support team does in the Back Office: issue and revoke a merchant's API keys."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandboxes.cloudpos.api import merchant_or_404, state_of
from sandboxes.cloudpos.guards import ApiError, bearer_guard
from sandboxes.cloudpos.settings import CloudPosSandboxSettings
from sandboxes.cloudpos.state import iso


class IssueKeyRequest(BaseModel):
    label: str = Field(min_length=1, max_length=100)
    service: str = Field(pattern=r"^[a-z][a-z0-9_]{1,49}$")


def build_support_router(settings: CloudPosSandboxSettings) -> APIRouter:
    router = APIRouter(prefix="/support/v1", dependencies=[Depends(bearer_guard(settings.support_token, "support"))])

    @router.post("/merchants/{merchant_id}/api-keys", status_code=201)
    async def issue(merchant_id: str, body: IssueKeyRequest, request: Request) -> JSONResponse:
        """The only response that ever carries the plain key."""
        merchant_or_404(request, merchant_id)
        key, plain = state_of(request).issue_key(merchant_id, body.label, body.service)
        payload = {"key_id": key.key_id, "api_key": plain, "label": key.label, "service": key.service,
                   "created_at": iso(key.created_at)}
        return JSONResponse(payload, status_code=201, headers={"Cache-Control": "no-store"})

    @router.post("/api-keys/{key_id}/revoke")
    async def revoke(key_id: str, request: Request) -> dict:
        key = state_of(request).revoke_key(key_id)
        if key is None:
            raise ApiError(404, "not_found", f"No API key {key_id!r}.")
        return key.public()

    @router.get("/merchants/{merchant_id}/api-keys")
    async def list_keys(merchant_id: str, request: Request) -> dict:
        merchant_or_404(request, merchant_id)
        return {"api_keys": [k.public() for k in state_of(request).keys_of(merchant_id)]}

    return router
