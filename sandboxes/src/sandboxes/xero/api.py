"""API host: the Connections API and the Accounting Organisation endpoint, with Xero's limits and errors."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from sandboxes.xero.clock import xero_datetime
from sandboxes.xero.gate import READ, TenantCall, TenantGate
from sandboxes.xero.problems import identity_problem, not_found, unauthorized
from sandboxes.xero.ratelimit import RateLimiter
from sandboxes.xero.render import answer, envelope
from sandboxes.xero.settings import XeroSandboxSettings
from sandboxes.xero.state import XeroState

CONNECTIONS_CACHE = {"Cache-Control": "max-age=0, no-cache, no-store"}


def build_api_router(state: XeroState, settings: XeroSandboxSettings, gate: TenantGate,
                     limiter: RateLimiter) -> APIRouter:
    router = APIRouter()
    authenticate = gate.authenticate

    def connection_json(conn) -> dict:
        org = state.orgs.get(conn.tenant_id, {})
        return {"id": conn.id, "authEventId": conn.auth_event_id, "tenantId": conn.tenant_id,
                "tenantType": "ORGANISATION", "tenantName": org.get("Name"),
                "createdDateUtc": xero_datetime(conn.created_at), "updatedDateUtc": xero_datetime(conn.updated_at)}

    @router.get("/connections")
    async def list_connections(request: Request) -> Response:
        claims, problem = authenticate(request)
        if claims is None:
            return unauthorized(problem, lower=True)
        decision = limiter.app_call()
        if decision.problem:
            return decision.rejection()
        event = request.query_params.get("authEventId")
        found = state.connections_for(claims["sub"], claims["client_id"], event)
        return JSONResponse([connection_json(c) for c in found], headers={**CONNECTIONS_CACHE, **decision.headers})

    @router.delete("/connections/{connection_id}")
    async def delete_connection(connection_id: str, request: Request) -> Response:
        claims, problem = authenticate(request)
        if claims is None:
            return unauthorized(problem, lower=True)
        decision = limiter.app_call()
        if decision.problem:
            return decision.rejection()
        status = state.delete_connection(claims["sub"], claims["client_id"], connection_id)
        if status == 204:
            return Response(status_code=204, headers=decision.headers)
        if status == 403:
            return identity_problem(403, "AuthenticationUnsuccessful", decision.headers)
        return identity_problem(404, "Connection not found", decision.headers)

    @router.get("/api.xro/2.0/organisation")
    async def organisation(request: Request) -> Response:
        async def one_org(call: TenantCall) -> Response:
            return answer(request, envelope(settings.app_name, state.clock.now(), "Organisations", [dict(call.org)]))
        return await gate.serve(request, "settings", READ, one_org)

    @router.api_route("/api.xro/2.0/organisation", methods=["POST", "PUT", "DELETE", "PATCH"])
    async def organisation_write() -> Response:
        return PlainTextResponse("The method is not implemented", status_code=501)

    @router.api_route("/api.xro/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def unknown_resource() -> Response:
        return not_found()

    return router

