"""The platform's use of a connection: named clients, the store → organisation link they ask about, and the
rules of the Xero proxy (which paths and headers may cross, what a connection's scopes allow).

The platform backend never holds a refresh token: it asks the gateway for a short-lived access token or
sends its Xero calls through the gateway, which keeps the one shared budget (see docs/platform-api.md)."""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from .model import ConnectionStatus


class Operation(StrEnum):
    """What a platform client may do; each client is given only the operations it needs."""

    READ = "connection:read"          # GET .../xero
    TOKEN = "token:issue"             # POST .../xero/access-token
    PROXY = "proxy"                   # .../xero/proxy/{path}


@dataclass(frozen=True, slots=True)
class PlatformClient:
    """`merchants`: the only merchants whose stores it may use; None means every merchant."""

    name: str
    operations: frozenset[Operation]
    merchants: frozenset[str] | None = None

    def may(self, operation: Operation) -> bool:
        return operation in self.operations

    def serves(self, merchant_id: str) -> bool:
        return self.merchants is None or merchant_id in self.merchants


CLIENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class LinkStatus(StrEnum):
    ACTIVE = "active"
    DEGRADED = "degraded"                     # Xero is slow, failing or rate-limiting: it works, just not well
    RECONNECT_NEEDED = "reconnect_needed"     # the configured scopes grew since the merchant consented
    BROKEN = "broken"                         # the grant died or the organisation was removed inside Xero


@dataclass(frozen=True, slots=True)
class StoreLink:
    """A store posting to one organisation, as chosen under "Select an Organisation"."""

    store_id: str
    merchant_id: str
    tenant_id: UUID
    authorised_by: str
    connected_at: datetime
    store_name: str = ""


@dataclass(frozen=True, slots=True)
class StoreConnection:
    """A store's link with the connection behind it: what the platform is told about a store."""

    link: StoreLink
    organisation_name: str
    grant_id: str
    connection_status: ConnectionStatus
    status_reason: str | None
    scopes: tuple[str, ...]
    incident_id: UUID | None = None
    broken_since: datetime | None = None

    def missing_scopes(self, wanted: tuple[str, ...]) -> tuple[str, ...]:
        granted = set(self.scopes)
        return tuple(s for s in wanted if s not in granted)

    def status(self, wanted: tuple[str, ...]) -> LinkStatus:
        if self.connection_status is not ConnectionStatus.ACTIVE:
            return LinkStatus.BROKEN
        return LinkStatus.RECONNECT_NEEDED if self.missing_scopes(wanted) else LinkStatus.ACTIVE


class Degradation:
    """Debounced trouble per organisation: `failures` 429s, 5xx or timeouts within `window` make it degraded;
    one good answer clears it. Never a break: only the merchant can be asked to repair a break."""

    def __init__(self, failures: int = 3, window: timedelta = timedelta(minutes=5)) -> None:
        self._failures, self._window = failures, window
        self._seen: dict[UUID, list[datetime]] = {}

    def failed(self, tenant_id: UUID, now: datetime) -> None:
        recent = [t for t in self._seen.get(tenant_id, []) if now - t < self._window]
        self._seen[tenant_id] = [*recent, now][-self._failures:]

    def succeeded(self, tenant_id: UUID) -> None:
        self._seen.pop(tenant_id, None)

    def degraded(self, tenant_id: UUID, now: datetime) -> bool:
        recent = [t for t in self._seen.get(tenant_id, []) if now - t < self._window]
        return len(recent) >= self._failures


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str = field(repr=False)
    expires_at: datetime
    tenant_id: UUID
    scopes: tuple[str, ...]


# --- the proxy ---------------------------------------------------------------------------------------------
# Xero's tenant-scoped API roots. /connections is not among them: it lists (and deletes) every organisation of
# the grant, which is the gateway's business alone.
_API_ROOTS = ("api.xro/", "payroll.xro/", "assets.xro/", "projects.xro/", "files.xro/", "bankfeeds.xro/")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@/-]+$")
FORWARDED_REQUEST_HEADERS = ("accept", "content-type", "idempotency-key", "if-modified-since", "if-none-match")
RETURNED_RESPONSE_HEADERS = ("content-type", "retry-after", "x-rate-limit-problem", "x-daylimit-remaining",
                             "x-minlimit-remaining", "x-appminlimit-remaining", "xero-correlation-id", "etag",
                             "last-modified", "content-disposition")
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def proxy_path(path: str) -> str | None:
    """The Xero path a platform call may reach, or None: a tenant API root, no traversal, no other host."""
    if not _SAFE_PATH.match(path) or "//" in path:
        return None
    if any(segment in (".", "..") for segment in path.split("/")):
        return None
    return path if path.lower().startswith(_API_ROOTS) else None


def forwarded_headers(headers: dict[str, str]) -> dict[str, str]:
    """Only content negotiation, conditional and idempotency headers cross; never the caller's credentials or
    a tenant id of its choosing (the gateway sets both)."""
    return {name: value for name, value in headers.items() if name.lower() in FORWARDED_REQUEST_HEADERS}


def returned_headers(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() in RETURNED_RESPONSE_HEADERS}


def scope_refused(status: int, www_authenticate: str) -> bool:
    """Xero's answer for a missing scope: 401 with `insufficient_scope` (reported misspelt too)."""
    text = www_authenticate.lower()
    return status == 401 and ("insufficient_scope" in text or "insufficent_scope" in text)


# --- refusals ------------------------------------------------------------------------------------------------
class ApiCode(StrEnum):
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    STORE_NOT_CONNECTED = "store_not_connected"
    CONNECTION_BROKEN = "connection_broken"
    MISSING_SCOPE = "missing_scope"
    PATH_NOT_ALLOWED = "path_not_allowed"
    BODY_TOO_LARGE = "body_too_large"
    RATE_LIMITED = "rate_limited"
    XERO_UNAVAILABLE = "xero_unavailable"
    INVALID_REQUEST = "invalid_request"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INTERNAL = "internal_error"


@dataclass(frozen=True, slots=True)
class ApiRefusal:
    """A platform call refused, as a value; `entrypoints.platform_api` alone turns it into problem+json.
    `extra` becomes extension members of the problem (e.g. `missing_scopes`, `limit`)."""

    code: ApiCode
    detail: str
    retry_after: int | None = None
    extra: dict[str, object] = field(default_factory=dict)


def not_connected(store_id: str) -> ApiRefusal:
    """Also the answer for a store of a merchant the client does not serve: it learns nothing about it."""
    return ApiRefusal(ApiCode.STORE_NOT_CONNECTED, f"Store {store_id!r} is not connected to Xero.")


def broken(found: StoreConnection) -> ApiRefusal:
    return ApiRefusal(ApiCode.CONNECTION_BROKEN,
                      f"The Xero connection of store {found.link.store_id!r} no longer works "
                      f"({found.status_reason or 'broken'}); the merchant must connect the store to Xero again.",
                      extra={"reason": found.status_reason or "broken"})


def missing_scope(found: StoreConnection, wanted: tuple[str, ...]) -> ApiRefusal:
    missing = found.missing_scopes(wanted)
    hint = (f" It lacks {', '.join(missing)}: the merchant must connect the store to Xero again to grant them."
            if missing else " The call needs a scope this app does not request.")
    return ApiRefusal(ApiCode.MISSING_SCOPE, "Xero refused the call for want of a permission (scope) the "
                      f"merchant did not grant.{hint}",
                      extra={"granted_scopes": list(found.scopes), "missing_scopes": list(missing)})


def operation_forbidden(client: PlatformClient, operation: Operation) -> ApiRefusal:
    return ApiRefusal(ApiCode.FORBIDDEN, f"Client {client.name!r} may not use {operation.value}.")


def path_not_allowed() -> ApiRefusal:
    """The path is not repeated back: what a caller sent is never echoed."""
    return ApiRefusal(ApiCode.PATH_NOT_ALLOWED, "Only Xero's tenant APIs can be reached (e.g. api.xro/2.0/Invoices); "
                      "not /connections, the identity host, '..' segments or another host.")


def rate_limited(retry_after: int, limit: str) -> ApiRefusal:
    return ApiRefusal(ApiCode.RATE_LIMITED, f"Xero's {limit} budget for this organisation is spent; retry after "
                      f"{retry_after} s.", retry_after=retry_after, extra={"limit": limit})


def xero_unavailable(detail: str, retry_after: int | None = None) -> ApiRefusal:
    return ApiRefusal(ApiCode.XERO_UNAVAILABLE, f"Xero did not answer usefully: {detail}.", retry_after=retry_after)
