"""`POST /v1/validations` (docs/internal-apis.md): check the caller, then the size and format of the input
before anything else (no database, no Cloud POS for garbage), call the use case and map its outcome."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress, SecretStr, StringConstraints, ValidationError

from shared.contracts.events import Identifier

from ..domain import (
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    ApiKey,
    Code,
    InvalidKeyFormat,
    Refusal,
    Validated,
    Validation,
    refusals,
    same,
)
from ..handlers import KeyValidatorHandlers
from .errors import ErrorBody, error_response

MAX_BODY_BYTES = 2048  # a real request is under 400 bytes
STATUS = {Code.INVALID_FORMAT: 400, Code.UNKNOWN_KEY: 401, Code.KEY_REVOKED: 403, Code.KEY_FOR_OTHER_SERVICE: 403,
          Code.KEY_OF_OTHER_MERCHANT: 403, Code.LICENCE_NOT_PRO_PLUS: 403, Code.TOO_MANY_ATTEMPTS: 429,
          Code.CLOUDPOS_UNAVAILABLE: 503}
_NO_STORE = {"Cache-Control": "no-store"}


class ValidationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, str_strip_whitespace=True)

    merchant_id: Identifier = Field(description="the signed-in merchant")
    user_id: Identifier = Field(description="the signed-in user")
    api_key: Annotated[str, StringConstraints(max_length=MAX_KEY_LENGTH, pattern=KEY_PATTERN)] = Field(repr=False)
    client_address: IPvAnyAddress = Field(description="the merchant's browser's address, for rate limiting")


class StoreOut(BaseModel):
    store_id: str
    name: str


class ValidationResponse(BaseModel):
    merchant_id: str
    merchant_name: str
    licence: str
    key_id: str
    key_label: str
    stores: list[StoreOut]
    validation_id: UUID


_REQUEST_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": ValidationRequest.model_json_schema()}}}}
_RESPONSES = {status: {"model": ErrorBody, "description": ", ".join(c.value for c, s in STATUS.items() if s == status)}
              for status in sorted(set(STATUS.values()))}
_RESPONSES[413] = {"model": ErrorBody, "description": "payload_too_large"}


def build_router(handlers: KeyValidatorHandlers, api_token: SecretStr) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["validations"])

    @router.post("/validations", response_model=ValidationResponse, responses=_RESPONSES, openapi_extra=_REQUEST_BODY,
                 summary="Validate a merchant's Cloud POS API key for the Xero service")
    async def validate(request: Request) -> JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not same(token.strip(), api_token.get_secret_value()):
            return error_response(401, "unauthorized", "A valid bearer token is required.", False,
                                  {"WWW-Authenticate": "Bearer"})
        if request.url.query:
            return _refusal(refusals.invalid_format("query parameters are not accepted (send the JSON body only)"))
        raw = await _read_body(request, MAX_BODY_BYTES)
        if raw is None:
            return error_response(413, "payload_too_large",
                                  f"The request body is larger than {MAX_BODY_BYTES} bytes.", False)
        command = _command(raw, request.headers.get("x-correlation-id"))
        if isinstance(command, Refusal):
            return _refusal(command)
        outcome = await handlers.validate(command)
        return _refusal(outcome) if isinstance(outcome, Refusal) else _validated(outcome)

    return router


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it exceeds `limit` (declared or streamed): never buffers more than that."""
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _command(raw: bytes, correlation: str | None) -> Validation | Refusal:
    """Parse without ever echoing the input: pydantic's messages quote it, ours name only our own fields."""
    try:
        correlation_id = UUID(correlation) if correlation else None
    except ValueError:
        return refusals.invalid_format("X-Correlation-Id must be a UUID")
    try:
        body = ValidationRequest.model_validate_json(raw)
        key = ApiKey(body.api_key)
    except ValidationError as error:
        return refusals.invalid_format(_what_is_wrong(error))
    except InvalidKeyFormat:
        return refusals.invalid_format("api_key")
    return Validation(body.merchant_id, body.user_id, key, body.client_address, correlation_id)


def _what_is_wrong(error: ValidationError) -> str:
    problems = error.errors(include_input=False, include_url=False, include_context=False)
    fields = {str(p["loc"][0]) for p in problems if p["loc"] and p["type"] != "extra_forbidden"}
    fields &= set(ValidationRequest.model_fields)
    if "api_key" in fields:
        return "api_key"
    if fields:
        return "invalid or missing " + ", ".join(sorted(fields))
    if any(p["type"] == "extra_forbidden" for p in problems):
        return "unexpected field(s); send only merchant_id, user_id, api_key and client_address"
    return "the body must be a JSON object with merchant_id, user_id, api_key and client_address"


def _refusal(refusal: Refusal) -> JSONResponse:
    headers = dict(_NO_STORE)
    if refusal.retry_after_seconds is not None:
        headers["Retry-After"] = str(refusal.retry_after_seconds)
    return error_response(STATUS[refusal.code], refusal.code.value, refusal.message, refusal.retryable, headers)


def _validated(outcome: Validated) -> JSONResponse:
    body = ValidationResponse(
        merchant_id=outcome.merchant_id, merchant_name=outcome.merchant_name, licence=outcome.licence.value,
        key_id=outcome.key_id, key_label=outcome.key_label, validation_id=outcome.validation_id,
        stores=[StoreOut(store_id=s.store_id, name=s.name) for s in outcome.stores])
    return JSONResponse(body.model_dump(mode="json"), headers=_NO_STORE)
