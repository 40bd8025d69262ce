"""Xero's API host: the Connections API and Accounting `/Organisation`, with Xero's etiquette.

Tenant-scoped calls go through the shared per-tenant budget; a 429 records `Retry-After` for every
instance and is waited out only when short. Idempotent calls retry transient failures a few times.
Error bodies are read case-insensitively (Xero sends both PascalCase and lower-case problem JSON).
"""

import asyncio
import logging
from contextlib import nullcontext
from uuid import UUID

import httpx

from ..ports import OrganisationInfo, TenantForbidden, TokenRejected, XeroConnection, XeroUnavailable
from .budget import TenantBudget

log = logging.getLogger(__name__)
_ATTEMPTS = 3
_INLINE_RETRY_AFTER = 2      # a 429 asking for longer than this is handed back to the caller


class XeroApiClient:
    def __init__(self, base_url: str, http: httpx.AsyncClient, budget: TenantBudget) -> None:
        self._base = base_url.rstrip("/")
        self._http = http
        self._budget = budget

    async def connections(self, access_token: str, auth_event_id: UUID | None = None) -> list[XeroConnection]:
        params = {"authEventId": str(auth_event_id)} if auth_event_id else None
        response = await self._call("GET", "/connections", access_token, params=params)
        return [XeroConnection(UUID(c["id"]), UUID(c["tenantId"]), c.get("tenantName"),
                               UUID(c["authEventId"]) if c.get("authEventId") else None)
                for c in response.json() if str(c.get("tenantType", "ORGANISATION")).upper() == "ORGANISATION"]

    async def delete_connection(self, access_token: str, connection_id: UUID) -> int:
        """204 deleted, 404 already gone, 403 not visible to this grant (also gone, for us)."""
        response = await self._call("DELETE", f"/connections/{connection_id}", access_token,
                                    allow=(204, 403, 404))
        return response.status_code

    async def organisation(self, access_token: str, tenant_id: UUID) -> OrganisationInfo:
        response = await self._call("GET", "/api.xro/2.0/Organisation", access_token, tenant_id=tenant_id)
        org = response.json()["Organisations"][0]
        return OrganisationInfo(UUID(org["OrganisationID"]), str(org.get("Name") or ""), org.get("Class"),
                                bool(org.get("IsDemoCompany", False)))

    async def _call(self, method: str, path: str, access_token: str, *, tenant_id: UUID | None = None,
                    params: dict | None = None, allow: tuple[int, ...] = (200,)) -> httpx.Response:
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        if tenant_id:
            headers["xero-tenant-id"] = str(tenant_id)
        for attempt in range(1, _ATTEMPTS + 1):
            last = attempt == _ATTEMPTS
            async with self._budget.slot(tenant_id) if tenant_id else nullcontext():
                try:
                    response = await self._http.request(method, self._base + path, headers=headers, params=params)
                except httpx.TransportError as error:
                    if last:
                        raise XeroUnavailable(f"{method} {path}: {type(error).__name__}") from None
                    await asyncio.sleep(0.2 * attempt)
                    continue
            status = response.status_code
            if status in allow:
                return response
            if status == 429:
                wait = _retry_after(response)
                log.warning("Xero 429 (%s) on %s %s; Retry-After %ss", response.headers.get("X-Rate-Limit-Problem",
                            "unknown"), method, path, wait)
                if tenant_id:
                    await self._budget.back_off(tenant_id, wait)
                if last or wait > _INLINE_RETRY_AFTER:
                    raise XeroUnavailable(f"{method} {path}: rate limited", retry_after=wait)
                await asyncio.sleep(wait)
                continue
            if status >= 500:
                if last:
                    raise XeroUnavailable(f"{method} {path}: {status}", retry_after=_retry_after(response, None))
                await asyncio.sleep(0.2 * attempt)
                continue
            if status == 401:
                raise TokenRejected(f"{method} {path}: 401 {_detail(response)}")
            if status == 403:
                raise TenantForbidden(f"{method} {path}: {status} {_detail(response)}")
            raise XeroUnavailable(f"{method} {path}: unexpected {status}")
        raise AssertionError("unreachable")


def _retry_after(response: httpx.Response, default: int | None = 60) -> int | None:
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else default


def _detail(response: httpx.Response) -> str:
    try:
        body = {str(k).lower(): v for k, v in response.json().items()}
    except (ValueError, AttributeError):
        return ""
    return str(body.get("detail") or "")[:200]
