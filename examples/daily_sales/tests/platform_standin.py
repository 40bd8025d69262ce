"""A small stand-in for the gateway's internal platform API, for tests until the real one can be started here.

It follows the contract the service is written against (docs/platform-api.md): `GET /internal/v1/stores/{id}/xero`
describes the store's connection; `{METHOD} /internal/v1/stores/{id}/xero/proxy/{xero_path}` forwards to Xero adding
Authorization and xero-tenant-id (the caller's own Authorization never crosses), passes Idempotency-Key through
and returns Xero's status, body and rate-limit headers unchanged. Its own refusals are RFC 9457 problems with a
`code`. Behind it runs whatever Xero the test gives (the real Xero sandbox, or a scripted app).
"""

import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

FORWARDED = ("accept", "content-type", "idempotency-key")
RETURNED = ("content-type", "retry-after", "x-rate-limit-problem", "x-daylimit-remaining", "x-minlimit-remaining",
            "x-appminlimit-remaining", "xero-correlation-id")


@dataclass
class StandinConnection:
    merchant_id: str
    tenant_id: UUID
    organisation_name: str
    access_token: str = field(repr=False)
    status: str = "active"
    missing_scopes: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ("accounting.transactions", "accounting.contacts", "accounting.settings")


def problem(status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: object) -> Response:
    body = {"type": f"https://docs.cloudpos-xero.test/problems/{code}", "title": code.replace("_", " "),
            "status": status, "detail": detail, "code": code, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


class PlatformStandin:
    """`app` is the ASGI app; `connections` by store id; `fail_next()` makes the proxy refuse the next call."""

    def __init__(self, token: str, xero_url: str, xero_transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.token = token
        self.connections: dict[str, StandinConnection] = {}
        self.calls: list[dict] = []
        self._refusals: list[Response] = []
        self._xero = httpx.AsyncClient(base_url=xero_url, transport=xero_transport, timeout=30)
        self.app = self._build()

    def fail_next(self, status: int, code: str, headers: dict[str, str] | None = None, **extra: object) -> None:
        self._refusals.append(problem(status, code, f"stand-in refusal: {code}", headers, **extra))

    async def aclose(self) -> None:
        await self._xero.aclose()

    def _authorised(self, request: Request) -> bool:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    def _build(self) -> FastAPI:
        app = FastAPI(title="platform API stand-in")

        @app.get("/internal/v1/stores/{store_id}/xero")
        async def connection(store_id: str, request: Request) -> Response:
            if not self._authorised(request):
                return problem(401, "unauthorized", "a valid platform bearer token is required")
            found = self.connections.get(store_id)
            if found is None:
                return problem(404, "store_not_connected", f"store {store_id} has no Xero connection")
            return JSONResponse({
                "store_id": store_id, "merchant_id": found.merchant_id, "tenant_id": str(found.tenant_id),
                "organisation_name": found.organisation_name, "status": found.status, "scopes": list(found.scopes),
                "missing_scopes": list(found.missing_scopes), "authorised_by": "u-steve",
                "connected_at": datetime(2026, 3, 1, tzinfo=UTC).isoformat()})

        @app.api_route("/internal/v1/stores/{store_id}/xero/proxy/{xero_path:path}",
                       methods=["GET", "PUT", "POST", "DELETE", "PATCH"])
        async def proxy(store_id: str, xero_path: str, request: Request) -> Response:
            answer = await self._proxy(store_id, xero_path, request)
            self.calls.append({"method": request.method, "path": xero_path, "store_id": store_id,
                               "idempotency_key": request.headers.get("idempotency-key"),
                               "query": request.url.query, "status": answer.status_code})
            return answer

        return app

    async def _proxy(self, store_id: str, xero_path: str, request: Request) -> Response:
        if not self._authorised(request):
            return problem(401, "unauthorized", "a valid platform bearer token is required")
        if self._refusals:
            return self._refusals.pop(0)
        found = self.connections.get(store_id)
        if found is None:
            return problem(404, "store_not_connected", f"store {store_id} has no Xero connection")
        if found.status not in ("active", "reconnect_needed"):  # reconnect_needed still works for what it has
            return problem(409, "connection_broken", "the connection is broken", reason="invalid_grant")
        headers = {name: value for name, value in request.headers.items() if name.lower() in FORWARDED}
        headers |= {"Authorization": f"Bearer {found.access_token}", "xero-tenant-id": str(found.tenant_id)}
        try:
            xero = await self._xero.request(request.method, "/" + xero_path, params=request.query_params,
                                            content=await request.body(), headers=headers)
        except httpx.HTTPError as error:
            return problem(502, "xero_unavailable", f"Xero did not answer: {type(error).__name__}")
        if xero.status_code == 401 and "insufficient_scope" in xero.headers.get("www-authenticate", ""):
            return problem(403, "missing_scope", "Xero refused for want of a scope",
                           granted_scopes=list(found.scopes), missing_scopes=list(found.missing_scopes))
        returned = {name: value for name, value in xero.headers.items() if name.lower() in RETURNED}
        return Response(xero.content, status_code=xero.status_code, headers=returned)
