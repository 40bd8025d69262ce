"""Error shape and token checks shared by the sandbox's routers.

Every error is `{"error": code, "message": text}`, like the platform, instead of FastAPI's
default `{"detail": ...}`, so clients written against the sandbox also parse real errors.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers


def error_response(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(422, "invalid_request", f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))


def _same(given: str | None, expected: SecretStr) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.get_secret_value().encode())


def bearer_guard(token: SecretStr, audience: str) -> Callable[[Request], None]:
    """A dependency that demands `Authorization: Bearer <token>` (compared in constant time)."""

    def check(request: Request) -> None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not _same(value.strip(), token):
            raise ApiError(401, "unauthorized", f"A valid {audience} bearer token is required.",
                           {"WWW-Authenticate": 'Bearer realm="cloudpos"'})

    return check


def header_guard(header: str, token: SecretStr) -> Callable[[Request], None]:
    """A dependency that demands a shared-secret header, for the sandbox's own test controls."""

    def check(request: Request) -> None:
        if not _same(request.headers.get(header), token):
            raise ApiError(401, "unauthorized", f"The {header} header is missing or wrong.")

    return check
