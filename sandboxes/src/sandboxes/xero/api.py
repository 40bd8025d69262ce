"""API host: the Connections API and the Accounting Organisation endpoint, with Xero's limits and errors."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timezone
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from sandboxes.xero.clock import ms_date, xero_datetime
from sandboxes.xero.oidc import bearer
from sandboxes.xero.problems import api_problem, identity_problem, not_found, unauthorized
from sandboxes.xero.ratelimit import RateLimiter
from sandboxes.xero.settings import XeroSandboxSettings
from sandboxes.xero.state import XeroState
from sandboxes.xero.tokens import Signer

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
CONNECTIONS_CACHE = {"Cache-Control": "max-age=0, no-cache, no-store"}
SETTINGS_SCOPES = {"accounting.settings", "accounting.settings.read"}


def build_api_router(state: XeroState, settings: XeroSandboxSettings, signer: Signer,
                     limiter: RateLimiter, controls) -> APIRouter:
    router = APIRouter()

    def authenticate(request: Request) -> tuple[dict | None, str]:
        token = bearer(request)
        if token is None:
            return None, "AuthorizationUnsuccessful"
        claims, problem = signer.verify(token)
        return claims, problem or ""

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
        claims, problem = authenticate(request)
        if claims is None:
            return unauthorized(problem)
        if not SETTINGS_SCOPES & set(claims.get("scope", [])):
            return unauthorized("AuthorizationUnsuccessful", scope_problem=True)
        tenant_id = (request.headers.get("xero-tenant-id") or "").strip().lower()
        org = state.orgs.get(tenant_id) if UUID_RE.match(tenant_id) else None
        if (org is None or org["OrganisationStatus"] != "ACTIVE"
                or state.find_connection(claims["sub"], claims["client_id"], tenant_id) is None):
            return api_problem(403, "AuthenticationUnsuccessful")
        decision = limiter.acquire(tenant_id)
        if decision.problem:
            return decision.rejection()
        try:
            if controls.api_delay > 0:
                await asyncio.sleep(controls.api_delay)
            envelope = {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": settings.app_name,
                        "DateTimeUTC": ms_date(state.clock.now()), "Organisations": [dict(org)]}
            if "application/json" in request.headers.get("accept", "").lower():
                return JSONResponse(envelope, headers=decision.headers)
            return Response(to_xml(envelope), media_type="text/xml; charset=utf-8", headers=decision.headers)
        finally:
            limiter.release(tenant_id)

    @router.api_route("/api.xro/2.0/organisation", methods=["POST", "PUT", "DELETE", "PATCH"])
    async def organisation_write() -> Response:
        return PlainTextResponse("The method is not implemented", status_code=501)

    @router.api_route("/api.xro/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def unknown_resource() -> Response:
        return not_found()

    return router


def _xml_value(key: str, value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith("/Date(") and key.endswith(("DateUTC", "DateTimeUTC")):
        ms = int(re.sub(r"[^0-9]", "", value.split("+")[0]))
        return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return escape(str(value))


def to_xml(envelope: dict) -> str:
    """The XML Xero returns when the caller does not ask for JSON (empty collections are omitted)."""
    def fields(obj: dict) -> str:
        out = []
        for key, value in obj.items():
            if isinstance(value, (list, dict)):
                continue
            out.append(f"<{key}>{_xml_value(key, value)}</{key}>")
        return "".join(out)
    orgs = "".join(f"<Organisation>{fields(o)}</Organisation>" for o in envelope["Organisations"])
    return ('<Response xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema">' + fields(envelope)
            + f"<Organisations>{orgs}</Organisations></Response>")
