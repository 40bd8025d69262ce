"""Xero's API host: the Connections API and Accounting `/Organisation`, with Xero's etiquette.

Every call goes through the shared budget (tenant calls: the tenant's limits and the app's; /connections: the
app's); a 429 records `Retry-After` for every instance and is waited out only when short. Idempotent calls
retry transient failures a few times.
Error bodies are read case-insensitively (Xero sends both PascalCase and lower-case problem JSON).
"""

import asyncio
import logging
from uuid import UUID

import httpx

from ..domain.platform import returned_headers
from ..ports import OrganisationInfo, ProxyAnswer, ProxyCall, TenantForbidden, TokenRejected, XeroConnection, \
    XeroUnavailable
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

    async def forward(self, access_token: str, tenant_id: UUID, call: ProxyCall, *, max_wait: float) -> ProxyAnswer:
        """A platform call passed on once (no retry: it may not be idempotent), Xero's answer as it came."""
        headers = {**call.headers, "Authorization": f"Bearer {access_token}", "xero-tenant-id": str(tenant_id)}
        url = f"{self._base}/{call.path}" + (f"?{call.query}" if call.query else "")
        async with self._budget.slot(tenant_id, max_wait=max_wait):
            try:
                response = await self._http.request(call.method, url, headers=headers, content=call.body or None)
            except httpx.TimeoutException:
                raise XeroUnavailable(f"{call.method} {call.path}: no answer in time") from None
            except httpx.TransportError as error:
                raise XeroUnavailable(f"{call.method} {call.path}: {type(error).__name__}") from None
        if response.status_code == 429:
            await self._budget.back_off(tenant_id, _retry_after(response) or 60,
                                        response.headers.get("X-Rate-Limit-Problem"))
        kept = returned_headers(dict(response.headers))
        if "www-authenticate" in response.headers:
            kept["www-authenticate"] = response.headers["www-authenticate"]
        return ProxyAnswer(response.status_code, kept, response.content)

    async def _call(self, method: str, path: str, access_token: str, *, tenant_id: UUID | None = None,
                    params: dict | None = None, allow: tuple[int, ...] = (200,)) -> httpx.Response:
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        if tenant_id:
            headers["xero-tenant-id"] = str(tenant_id)
        for attempt in range(1, _ATTEMPTS + 1):
            last = attempt == _ATTEMPTS
            async with self._budget.slot(tenant_id):                  # None: the app minute only
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
                problem = response.headers.get("X-Rate-Limit-Problem")
                wait = _retry_after(response) or 60
                if (problem or "").lower() == "concurrent":       # no Retry-After: it clears when a call ends
                    wait = min(wait, 1)
                log.warning("Xero 429 (%s) on %s %s; Retry-After %ss", problem or "unknown", method, path, wait)
                await self._budget.back_off(tenant_id, wait, problem)
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
