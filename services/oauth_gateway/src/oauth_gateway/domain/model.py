"""The records the journey works with, and the small rules about them (expiry, ownership, refresh)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from shared.contracts import XeroUser

REFRESH_SKEW = timedelta(seconds=120)       # refresh this long before the access token expires
DEFAULT_CONSENT_TTL = timedelta(hours=24)   # a consent waits this long for "Confirm Selection", then is abandoned


@dataclass(frozen=True, slots=True)
class StoreRef:
    store_id: str
    name: str


@dataclass(frozen=True, slots=True)
class WebSession:
    """A signed-in merchant user; `stores` are those listed by the key validated in this session."""

    session_hash: bytes
    user_id: str
    merchant_id: str
    merchant_name: str
    display_name: str
    created_at: datetime
    last_seen_at: datetime
    stores: tuple[StoreRef, ...] = ()
    key_label: str | None = None

    def expired(self, now: datetime, idle: timedelta, absolute: timedelta) -> bool:
        return now - self.last_seen_at > idle or now - self.created_at > absolute

    def store(self, store_id: str) -> StoreRef | None:
        """A merchant acts only on stores its own validated key listed."""
        return next((s for s in self.stores if s.store_id == store_id), None)


@dataclass(frozen=True, slots=True)
class AuthorisedOrg:
    """An organisation authorised in one consent (from /connections?authEventId=...)."""

    tenant_id: UUID
    connection_id: UUID
    name: str


class FlowStatus(StrEnum):
    PENDING = "pending"            # sent to Xero, waiting for the redirect back
    EXCHANGING = "exchanging"      # the redirect arrived; state consumed
    AUTHORISED = "authorised"      # consent done, tokens stored, organisation not chosen yet
    SELECTED = "selected"
    CANCELLED = "cancelled"
    FAILED = "failed"
    ABANDONED = "abandoned"        # authorised, but no organisation selected within the consent TTL


@dataclass(frozen=True, slots=True)
class Flow:
    """One "Connect to Xero" for one store, bound to the browser session that started it."""

    flow_id: UUID
    session_hash: bytes
    merchant_id: str
    user_id: str
    store_id: str
    store_name: str
    nonce: str
    created_at: datetime
    status: FlowStatus = FlowStatus.PENDING
    grant_id: str | None = None
    auth_event_id: UUID | None = None
    organisations: tuple[AuthorisedOrg, ...] = ()
    authorised_at: datetime | None = None

    def expired(self, now: datetime, ttl: timedelta) -> bool:
        return now - self.created_at > ttl

    def awaiting_selection(self, now: datetime, consent_ttl: timedelta) -> bool:
        """Consent given at Xero, no organisation chosen yet, and still inside the consent TTL: resumable."""
        return (self.status is FlowStatus.AUTHORISED and self.authorised_at is not None
                and now - self.authorised_at <= consent_ttl)

    def belongs_to(self, session: WebSession) -> bool:
        """Xero's redirect back must reach the browser session that started the flow (login CSRF)."""
        return self.session_hash == session.session_hash and self.merchant_id == session.merchant_id

    def resumable_by(self, session: WebSession) -> bool:
        """Once Xero's consent is done, any signed-in user of the same Cloud POS merchant may select the
        organisation, in any later session (after signing out and in, or a colleague): the store is the
        merchant's (its validated key listed it) and the consent's organisations are fixed, so choosing among
        them grants nothing new; the user who confirms is the one recorded. Never another merchant's user."""
        return self.merchant_id == session.merchant_id

    def organisation(self, tenant_id: str) -> AuthorisedOrg | None:
        """Only organisations authorised in THIS consent may be chosen (never one from another grant)."""
        return next((o for o in self.organisations if str(o.tenant_id) == tenant_id.strip().lower()), None)


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    refresh_token: str
    expires_at: datetime
    scopes: tuple[str, ...]


class GrantStatus(StrEnum):
    ACTIVE = "active"
    BROKEN = "broken"        # invalid_grant: the merchant must connect again
    REVOKED = "revoked"      # we revoked it after the last connection left


@dataclass(frozen=True, slots=True)
class Grant:
    """One Xero grant (a Xero user + this app) and its single token set."""

    grant_id: str
    xero_sub: str
    version: int
    status: GrantStatus
    tokens: TokenSet | None
    refreshed_at: datetime
    xero_user: XeroUser | None = None       # who authorised it (from the ID token)

    def needs_refresh(self, now: datetime, valid_for: timedelta = REFRESH_SKEW) -> bool:
        """`valid_for`: how long the access token must still live for the caller (a platform client is
        promised five minutes)."""
        return self.tokens is None or self.tokens.expires_at - now <= valid_for

    def keepalive_due(self, now: datetime, after: timedelta) -> bool:
        """Refresh tokens die after 60 idle days; exercise them long before that."""
        return self.status is GrantStatus.ACTIVE and now - self.refreshed_at >= after


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    DISCONNECTED = "disconnected"
    BROKEN = "broken"


@dataclass(frozen=True, slots=True)
class Connection:
    """A merchant's use of one organisation through one grant."""

    merchant_id: str
    tenant_id: UUID
    organisation_name: str
    connection_id: UUID
    grant_id: str
    subscription_class: str
    status: ConnectionStatus = ConnectionStatus.ACTIVE
    scopes: tuple[str, ...] = ()        # granted in the consent the organisation was selected under
    incident_id: UUID | None = None     # while broken: one id per break, until the merchant reconnects
    broken_since: datetime | None = None


class JobKind(StrEnum):
    DELETE_CONNECTION = "delete_connection"     # DELETE /connections/{id} at Xero
    REVOKE_GRANT = "revoke_grant"               # revoke the refresh token once no connection is left on it


@dataclass(frozen=True, slots=True)
class XeroJob:
    """Work owed at Xero after a local change, tried at once and retried with backoff until it succeeds."""

    job_id: int
    kind: JobKind
    grant_id: str
    merchant_id: str
    actor: str
    attempts: int = 0                   # once claimed: this attempt's number, which is also its lease
    tenant_id: UUID | None = None
    connection_id: UUID | None = None
    flow_id: UUID | None = None         # a DELETE owed for this consent: it does not keep the connection alive


# Outcomes of an attempt that may have removed something at Xero: an answer saying so, or no usable answer (a
# timeout may come after Xero acted). A confirmation must not report a connection such an attempt may have removed.
MAY_HAVE_REMOVED = frozenset({"deleted", "revoked", "xero_unavailable"})


def clip(name: str | None, fallback: str) -> str:
    """Event names are 1..200 characters; Xero's `tenantName` is optional."""
    text = (name or "").strip() or fallback
    return text[:200]


def printable(value: str, limit: int = 200) -> str:
    """What a client sent, made safe to keep: printable characters only (no NUL, CR, LF), at most `limit`."""
    return "".join(c for c in value if c.isprintable())[:limit]
