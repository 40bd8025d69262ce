"""The gateway's internal platform API over httpx: the store's Xero connection, and Xero calls through its proxy.

The gateway adds Xero's Authorization and xero-tenant-id to each proxied call; this service only ever sends its
own platform token, so it never holds (or could leak) a Xero token. The proxy's own refusals are RFC 9457
problems with a `code`; everything else is Xero's answer, unchanged. This adapter only reads them (the domain
judges them); it raises PlatformUnavailable only when no answer came at all.
"""

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..domain import Connection, Invoice, ProxyAnswer
from ..ports import PlatformUnavailable
from ..settings import PlatformApiSettings
from .http import bearer_client

log = logging.getLogger(__name__)
INVOICES = "api.xro/2.0/Invoices"
PROBLEM_JSON = "application/problem+json"


class _Connection(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    store_id: str
    tenant_id: UUID
    organisation_name: str = Field(max_length=500)
    status: str = Field(max_length=40)
    missing_scopes: tuple[str, ...] = Field(default=(), max_length=100)


class HttpPlatformXero:
    """One pooled client per process, opened by the app's lifespan (`connected()`) and closed with it."""

    def __init__(self, settings: PlatformApiSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        s = self._settings
        async with bearer_client(s.base_url.rstrip("/") + "/internal/v1/stores/", s.token, s.timeout_seconds,
                                 self._transport, Accept="application/json") as self._client:
            yield
        self._client = None

    async def connection(self, store_id: str) -> Connection | None:
        response = await self._send("GET", f"{quote(store_id, safe='')}/xero")
        problem = _json(response) if _is_problem(response) else None
        if response.status_code == 404 and problem and problem.get("code") == "store_not_connected":
            return None
        if response.status_code != 200:
            code = (problem or {}).get("code") or f"HTTP {response.status_code}"
            if response.status_code in (401, 403):
                log.error("the platform API refused our token (%s): check DAILY_SALES_PLATFORM_API__TOKEN", code)
            raise PlatformUnavailable(f"GET connection of {store_id}: {code}")
        try:
            found = _Connection.model_validate_json(response.content)
        except ValidationError as error:
            raise PlatformUnavailable(f"GET connection of {store_id}: unexpected answer "
                                      f"({error.error_count()} invalid field(s))") from None
        return Connection(found.store_id, found.tenant_id, found.organisation_name, found.status,
                          found.missing_scopes)

    async def create_invoice(self, store_id: str, invoice: Invoice, idempotency_key: str) -> ProxyAnswer:
        response = await self._send("PUT", f"{quote(store_id, safe='')}/xero/proxy/{INVOICES}",
                                    json=invoice.xero_body(), headers={"Idempotency-Key": idempotency_key})
        return answer_of(response)

    async def find_invoices(self, store_id: str, reference: str) -> ProxyAnswer:
        response = await self._send("GET", f"{quote(store_id, safe='')}/xero/proxy/{INVOICES}",
                                    params={"where": f'Reference=="{_quoted(reference)}"'})
        return answer_of(response)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._client is None:
            raise PlatformUnavailable("the platform API client is not started")
        try:
            return await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise PlatformUnavailable(f"{method} /internal/v1/stores/{path}: {type(error).__name__}") from None


def answer_of(response: httpx.Response) -> ProxyAnswer:
    """The answer as the domain judges it: the proxy's problem, or Xero's JSON body, or the start of its text."""
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    if _is_problem(response):
        return ProxyAnswer(response.status_code, problem=_json(response) or {}, retry_after=retry_after)
    body = _json(response)
    text = "" if body is not None else response.text[:300]
    return ProxyAnswer(response.status_code, body=body, text=text, retry_after=retry_after)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (RFC 9110: delay-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _quoted(text: str) -> str:
    """A string inside Xero's `where` double quotes."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _is_problem(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").lower().startswith(PROBLEM_JSON)


def _json(response: httpx.Response) -> Mapping[str, Any] | None:
    try:
        parsed = response.json()
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
