"""Xero's error bodies: OAuth JSON on the identity host, problem details on the API host, plain text elsewhere."""

from __future__ import annotations

import uuid

from fastapi.responses import JSONResponse, PlainTextResponse, Response

TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          500: "Internal Server Error", 503: "Service Unavailable"}
NOT_FOUND_TEXT = "The resource you're looking for cannot be found"
NO_STORE = {"Cache-Control": "no-store, no-cache, max-age=0", "Pragma": "no-cache"}


def oauth_error(error: str, status: int = 400) -> JSONResponse:
    """Just {"error": ...}: Xero sends no error_description (xero-node#370)."""
    return JSONResponse({"error": error}, status_code=status, headers=NO_STORE)


def api_problem(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    """api.xro problem details, PascalCase as in real captures."""
    body = {"Type": None, "Title": TITLES.get(status, "Error"), "Status": status, "Detail": detail,
            "Instance": str(uuid.uuid4()), "Extensions": {}}
    return JSONResponse(body, status_code=status, headers=headers)


def identity_problem(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    """/connections and identity-host problem details, lower-case keys as in Xero's docs."""
    body = {"type": None, "title": TITLES.get(status, "Error"), "status": status, "detail": detail,
            "instance": str(uuid.uuid4()), "extensions": {}}
    return JSONResponse(body, status_code=status, headers=headers)


def unauthorized(detail: str, lower: bool = False, scope_problem: bool = False) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer error="insufficient_scope"'} if scope_problem else {
        "WWW-Authenticate": 'Bearer error="invalid_token"'}
    return (identity_problem if lower else api_problem)(401, detail, headers)


def not_found() -> Response:
    return PlainTextResponse(NOT_FOUND_TEXT, status_code=404)


def injected_fault(status: int, identity_host: bool, retry_after: int = 1, problem: str = "minute") -> Response:
    """500 on the identity host is lower-case JSON; 503, 429 and api-host 500 are plain text, as Xero sends."""
    if status == 429:
        return rate_limited(retry_after, problem)
    if status == 500 and identity_host:
        return identity_problem(500, "An unhandled error occurred (sandbox fault injection)")
    if status == 503:
        return PlainTextResponse("The Xero API is currently offline for maintenance", status_code=503,
                                 headers={"Retry-After": "1"})
    if status == 500:
        return PlainTextResponse("An error occurred in Xero. Check the API Status page "
                                 "http://status.developer.xero.com for current service status.", status_code=500)
    return PlainTextResponse(TITLES.get(status, "Error"), status_code=status)


def validation_exception(elements: list[dict], message: str = "A validation exception occurred") -> dict:
    """Accounting 400 body (ErrorNumber 10): each element echoed back with its ValidationErrors."""
    return {"ErrorNumber": 10, "Type": "ValidationException", "Message": message, "Elements": elements}


def post_data_invalid(message: str) -> dict:
    """Accounting 400 body (ErrorNumber 14) when the body cannot be deserialised (bad JSON, a non-numeric amount)."""
    return {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": message}


def query_parse(message: str) -> dict:
    """Accounting 400 body (ErrorNumber 16) for a `where` filter Xero cannot parse."""
    return {"ErrorNumber": 16, "Type": "QueryParseException", "Message": message}


def rate_limited(retry_after: int, problem: str = "minute", headers: dict | None = None) -> Response:
    """Xero's 429: plain text (clients must not parse it), Retry-After and the limit that was hit."""
    remaining = {"minute": "X-MinLimit-Remaining", "day": "X-DayLimit-Remaining",
                 "appminute": "X-AppMinLimit-Remaining"}.get(problem)
    return PlainTextResponse("Rate limit exceeded", status_code=429, headers={
        **(headers or {}), **({remaining: "0"} if remaining else {}),
        "Retry-After": str(retry_after), "X-Rate-Limit-Problem": problem})
