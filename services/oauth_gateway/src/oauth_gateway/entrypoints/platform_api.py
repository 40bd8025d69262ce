"""The platform's internal API (docs/platform-api.md), served on its own listener, never the merchants' port.

Routes stay a few lines: they call `PlatformAccess` and turn a refusal into RFC 9457 problem+json here, in
one table. Every error, FastAPI's own included, answers as a problem; none echoes the request's input.
"""

import logging
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import Scope

from shared.http_limits import BodyLimit, Cap

from ..domain.platform import ApiCode, ApiRefusal, LinkStatus, PlatformClient, forwarded_headers
from ..metrics import TOKENS_ISSUED, count_platform_call
from ..ports import ProxyCall
from ..xero_client.platform import ConnectionView, PlatformAccess

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
PROXY_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]

# code -> (status, title): the one place a platform refusal gets its HTTP meaning.
STATUS = {
    ApiCode.UNAUTHORIZED: (401, "A valid platform client token is required"),
    ApiCode.FORBIDDEN: (403, "This client may not use this operation"),
    ApiCode.MISSING_SCOPE: (403, "The connection lacks a permission this call needs"),
    ApiCode.STORE_NOT_CONNECTED: (404, "The store is not connected to Xero"),
    ApiCode.NOT_FOUND: (404, "No such resource"),
    ApiCode.CONNECTION_BROKEN: (409, "The store's Xero connection no longer works"),
    ApiCode.PATH_NOT_ALLOWED: (400, "Not a Xero tenant API path"),
    ApiCode.INVALID_REQUEST: (400, "The request is malformed"),
    ApiCode.BODY_TOO_LARGE: (413, "The request body is too large"),
    ApiCode.RATE_LIMITED: (429, "Xero's rate limit for this organisation is spent"),
    ApiCode.METHOD_NOT_ALLOWED: (405, "Method not allowed"),
    ApiCode.XERO_UNAVAILABLE: (502, "Xero did not answer usefully"),
    ApiCode.INTERNAL: (500, "Internal error"),
}


class Problem(BaseModel):
    """RFC 9457 problem details; `code` is the stable machine-readable reason."""

    type: str
    title: str
    status: int
    detail: str
    code: str


class ConnectionInfo(BaseModel):
    store_id: str
    merchant_id: str
    tenant_id: UUID
    organisation_name: str
    status: LinkStatus
    status_reason: str | None
    scopes: list[str]
    missing_scopes: list[str]
    authorised_by: str
    connected_at: datetime


class AccessToken(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_at: datetime
    tenant_id: UUID
    scopes: list[str]


class RefusedError(Exception):
    def __init__(self, refusal: ApiRefusal) -> None:
        super().__init__(refusal.code.value)
        self.refusal = refusal


def problem(refusal: ApiRefusal) -> JSONResponse:
    status, title = STATUS[refusal.code]
    body = {"type": f"/problems/{refusal.code.value}", "title": title, "status": status, "detail": refusal.detail,
            "code": refusal.code.value, **refusal.extra}
    headers = {"Cache-Control": "no-store"}
    if refusal.retry_after is not None:
        headers["Retry-After"] = str(refusal.retry_after)
    if refusal.code is ApiCode.UNAUTHORIZED:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def problems(*codes: ApiCode) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses=`: each status with the codes it may carry."""
    by_status: dict[int, list[str]] = {}
    for code in (*codes, ApiCode.UNAUTHORIZED, ApiCode.INVALID_REQUEST):
        by_status.setdefault(STATUS[code][0], []).append(code.value)
    return {status: {"model": Problem, "description": ", ".join(names),
                     "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for status, names in sorted(by_status.items())}


_bearer = HTTPBearer(auto_error=False, description="the platform client's token (`make run` prints one)")


def access_of(request: Request) -> PlatformAccess:
    return request.app.state.platform


async def calling_client(request: Request,
                         credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> PlatformClient:
    client = await access_of(request).client(credentials.credentials if credentials else None)
    if client is None:
        raise RefusedError(ApiRefusal(ApiCode.UNAUTHORIZED, "Send `Authorization: Bearer <token>` with the token "
                                                            "of a platform client."))
    return client


Client = Annotated[PlatformClient, Depends(calling_client)]
StoreId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@-]+$")]
router = APIRouter(prefix="/internal/v1/stores/{store_id}/xero", tags=["platform"])


@router.get("", response_model=ConnectionInfo, responses=problems(ApiCode.FORBIDDEN, ApiCode.STORE_NOT_CONNECTED))
async def store_connection(store_id: StoreId, client: Client, request: Request) -> ConnectionInfo | JSONResponse:
    """The organisation the store posts to, the connection's status and the scopes it was granted."""
    found = await access_of(request).connection(client, store_id)
    count_platform_call("connection", found.code.value if isinstance(found, ApiRefusal) else "ok")
    return problem(found) if isinstance(found, ApiRefusal) else _info(found)


@router.post("/access-token", response_model=AccessToken, responses=problems(
    ApiCode.FORBIDDEN, ApiCode.STORE_NOT_CONNECTED, ApiCode.CONNECTION_BROKEN, ApiCode.XERO_UNAVAILABLE))
async def access_token(store_id: StoreId, client: Client, request: Request) -> Response:
    """An access token for the store's organisation, valid at least 5 more minutes; refreshed once if needed."""
    issued = await access_of(request).access_token(client, store_id)
    count_platform_call("access_token", issued.code.value if isinstance(issued, ApiRefusal) else "ok")
    if isinstance(issued, ApiRefusal):
        return problem(issued)
    TOKENS_ISSUED.labels(client.name).inc()
    body = AccessToken(access_token=issued.access_token, expires_at=issued.expires_at, tenant_id=issued.tenant_id,
                       scopes=list(issued.scopes))
    return JSONResponse(body.model_dump(mode="json"), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def proxy(store_id: StoreId, path: str, client: Client, request: Request) -> Response:
    """Xero's API for the store's organisation: Xero's status, body and rate-limit headers come back as sent."""
    body = await _body(request, request.app.state.max_body_bytes)
    call = ProxyCall(request.method, path, request.url.query, forwarded_headers(dict(request.headers)), body)
    answer = await access_of(request).proxy(client, store_id, call)
    count_platform_call("proxy", answer.code.value if isinstance(answer, ApiRefusal) else answer.status)
    if isinstance(answer, ApiRefusal):
        return problem(answer)
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


for _method in PROXY_METHODS:      # one operation per method, so each has its own OpenAPI operationId
    router.add_api_route("/proxy/{path:path}", proxy, methods=[_method], operation_id=f"proxy_{_method.lower()}",
                         response_class=Response, responses=problems(
                             ApiCode.FORBIDDEN, ApiCode.MISSING_SCOPE, ApiCode.STORE_NOT_CONNECTED,
                             ApiCode.CONNECTION_BROKEN, ApiCode.PATH_NOT_ALLOWED, ApiCode.BODY_TOO_LARGE,
                             ApiCode.RATE_LIMITED, ApiCode.XERO_UNAVAILABLE))


def _info(view: ConnectionView) -> ConnectionInfo:
    found, link = view.found, view.found.link
    return ConnectionInfo(store_id=link.store_id, merchant_id=link.merchant_id, tenant_id=link.tenant_id,
                          organisation_name=found.organisation_name, status=view.status,
                          status_reason=found.status_reason, scopes=list(found.scopes),
                          missing_scopes=list(view.missing_scopes), authorised_by=link.authorised_by,
                          connected_at=link.connected_at)


async def _body(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes; a declared or actual larger body is refused before anything reaches Xero."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RefusedError(_too_large(limit))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RefusedError(_too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiRefusal:
    return ApiRefusal(ApiCode.BODY_TOO_LARGE, f"Request bodies are capped at {limit} bytes (Xero's own limit is "
                                              "3.5 MB per call); send smaller batches.")


def body_refused(scope: Scope, _status: int) -> JSONResponse:
    """`shared.http_limits.BodyLimit`'s problem: a body over the cap is refused before the token is checked."""
    return problem(_too_large(scope["app"].state.max_body_bytes))


def build_platform_api(access: PlatformAccess, *, max_body_bytes: int) -> FastAPI:
    """A second ASGI app of the gateway process, on its own port (settings.platform_http)."""
    app = FastAPI(title="Cloud POS → Xero platform API (oauth_gateway)", version="1", docs_url=None,
                  redoc_url=None, description="Per-store Xero connection info, access tokens and a Xero proxy "
                                              "with one shared rate-limit budget. See docs/platform-api.md.")
    app.state.platform, app.state.max_body_bytes = access, max_body_bytes
    app.add_middleware(BodyLimit, caps=[Cap("/", max_body_bytes, body_refused)])
    app.include_router(router)
    _install_problems(app)
    return app


def _install_problems(app: FastAPI) -> None:
    @app.exception_handler(RefusedError)
    async def _refused(_: Request, exc: RefusedError) -> JSONResponse:
        return problem(exc.refusal)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = sorted({".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]) for e in exc.errors()})
        return problem(ApiRefusal(ApiCode.INVALID_REQUEST, f"Malformed: {', '.join(fields)}."))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 405:
            return problem(ApiRefusal(ApiCode.METHOD_NOT_ALLOWED, "That method is not served here."))
        return problem(ApiRefusal(ApiCode.NOT_FOUND, "No such resource."))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s in the platform API", type(exc).__name__, exc_info=exc)
        return problem(ApiRefusal(ApiCode.INTERNAL, "Something went wrong on our side; please retry."))
