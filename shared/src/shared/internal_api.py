"""What every internal HTTP API shares (docs/internal-apis.md): the error body
`{"code", "message", "retryable"}` (never FastAPI's `{"detail": ...}`, which echoes the request's input)
and the `Authorization: Bearer <token>` check, compared in constant time.

Usage: `install_error_handlers(app)`, then `dependencies=[Depends(bearer_auth(settings.api_token))]` on a
router; handlers raise `ApiError(status, code, message)` for refusals.
"""

import hmac
import logging
from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, SecretStr
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)
_NO_STORE = {"Cache-Control": "no-store"}


class ErrorBody(BaseModel):
    code: str
    message: str
    retryable: bool


class ApiError(Exception):
    """A refusal with a stable machine `code` and a message a merchant (or the gateway) can show."""

    def __init__(self, status: int, code: str, message: str, *, retryable: bool = False,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}")
        self.status, self.code, self.message, self.retryable = status, code, message, retryable
        self.headers = headers


def error_response(status: int, code: str, message: str, retryable: bool,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(ErrorBody(code=code, message=message, retryable=retryable).model_dump(),
                        status_code=status, headers=_NO_STORE | (headers or {}))


def body_refusal(_scope: object, status: int) -> JSONResponse:
    """`shared.http_limits.BodyLimit`'s answer (413 too large, 415 multipart) in the internal APIs' error shape."""
    if status == 415:
        return error_response(415, "unsupported_media_type", "Send the request body as JSON.", False)
    return error_response(413, "payload_too_large", "The request body is larger than this API accepts.", False)


def error_responses(*refusals: tuple[int, str]) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses=` for a route: each status with the codes it may carry."""
    by_status: dict[int, list[str]] = {}
    for status, code in (*refusals, (400, "invalid_format"), (401, "unauthorized")):
        by_status.setdefault(status, []).append(code)
    return {status: {"model": ErrorBody, "description": ", ".join(codes)}
            for status, codes in sorted(by_status.items())}


def same_secret(given: str | None, expected: SecretStr) -> bool:
    """Constant-time equality, so a wrong token learns nothing from the response time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.get_secret_value().encode())


def bearer_auth(token: SecretStr) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency requiring `Authorization: Bearer <token>`; shows as a security scheme in OpenAPI."""
    scheme = HTTPBearer(auto_error=False, description="the calling service's per-service secret")

    async def require(credentials: HTTPAuthorizationCredentials | None = Depends(scheme)) -> None:
        if credentials is None or not same_secret(credentials.credentials, token):
            raise ApiError(401, "unauthorized", "A valid bearer token is required.",
                           headers={"WWW-Authenticate": "Bearer"})

    return require


def install_error_handlers(app: FastAPI) -> None:
    """Every error, including FastAPI's own, answers with ErrorBody; unexpected ones log no input."""

    @app.exception_handler(ApiError)
    async def _refused(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.retryable, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = sorted({".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]) for e in exc.errors()})
        return error_response(400, "invalid_format", f"The request is malformed: {', '.join(fields)}.", False)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), False, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s while handling a request", type(exc).__name__, exc_info=exc)
        return error_response(500, "internal_error", "Something went wrong on our side; please try again.", True)
