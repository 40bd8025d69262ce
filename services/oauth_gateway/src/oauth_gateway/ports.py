"""What the gateway's use cases need from the outside world, as small Protocols and the errors they raise.

Third parties (Xero's identity and API hosts, Cloud POS) and our own services are one Protocol each.
Inside a transaction, the rows are split by what they are about (sessions, flows, grants, connections,
Xero jobs, audit) and each use case names, in its own transaction Protocol, only the ones it touches.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from shared.contracts import CloudEvent
from shared.ports import Clock, UnitOfWork

from .domain.completion import PendingCompletion
from .domain.model import Connection, Flow, Grant, JobKind, StoreRef, WebSession, XeroJob
from .domain.platform import PlatformClient, StoreConnection, StoreLink
from .domain.upkeep import DueGrant, Schedule

__all__ = ["Clock", "UnitOfWork"]  # with everything below: the ports every use case takes come from here


# --- errors the adapters raise (handlers map them to readable pages or to state changes) -----------------
class XeroUnavailable(Exception):
    """Xero did not answer usefully (timeout, 5xx, or 429 beyond what we wait); nothing changed."""

    def __init__(self, what: str, retry_after: int | None = None) -> None:
        super().__init__(what)
        self.retry_after = retry_after


class BudgetExhausted(XeroUnavailable):
    """Our share of Xero's limits is spent for longer than the caller may wait; no call was made.
    `limit`: "concurrent", "minute", "day", "appminute" or "blocked" (Xero said 429 and we wait it out)."""

    def __init__(self, limit: str, retry_after: int) -> None:
        super().__init__(f"Xero budget exhausted ({limit})", max(1, retry_after))
        self.limit = limit


class OAuthRejected(Exception):
    """The token endpoint said no: `error` is invalid_grant, invalid_client, ..."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class TenantForbidden(Exception):
    """403 AuthenticationUnsuccessful: this grant may no longer act on that organisation."""


class TokenRejected(Exception):
    """401 from the API host: the access token is expired or no longer valid."""


class InvalidIdToken(Exception):
    """The id_token failed signature, issuer, audience, expiry or nonce checks."""


class ServiceUnavailable(Exception):
    """An internal service (key_validator, registry) or Cloud POS did not answer."""


@dataclass(eq=False)  # not frozen: contextlib sets __traceback__ on exceptions
class ServiceRefusal(Exception):
    """An internal service or Cloud POS answered with a stable error code and a merchant-readable message."""

    status: int
    code: str
    message: str


# --- values ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TokenResponse:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    scopes: tuple[str, ...]
    id_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class XeroConnection:
    connection_id: UUID
    tenant_id: UUID
    tenant_name: str | None
    auth_event_id: UUID | None


@dataclass(frozen=True, slots=True)
class OrganisationInfo:
    tenant_id: UUID
    name: str
    subscription_class: str | None
    is_demo_company: bool


@dataclass(frozen=True, slots=True)
class ProxyCall:
    """A platform call to pass on to Xero; `path` is already checked (`domain.platform.proxy_path`)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ProxyAnswer:
    """Xero's answer, unchanged: status, body and the headers a caller may see."""

    status: int
    headers: dict[str, str]
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class SignedIn:
    user_id: str
    merchant_id: str
    merchant_name: str
    display_name: str


@dataclass(frozen=True, slots=True)
class KeyValidation:
    merchant_id: str
    key_label: str
    stores: tuple[StoreRef, ...]


# --- third parties and our own services ----------------------------------------------------------------
class XeroIdentity(Protocol):
    async def authorize_url(self, state: str, nonce: str, code_challenge: str) -> str: ...
    async def exchange_code(self, code: str, verifier: str) -> TokenResponse: ...
    async def refresh(self, refresh_token: str) -> TokenResponse: ...
    async def revoke(self, refresh_token: str) -> None: ...
    async def verify_id_token(self, id_token: str, nonce: str, access_token: str, now: datetime) -> dict[str, Any]: ...
    async def access_claims(self, access_token: str) -> dict[str, Any]: ...


class XeroApi(Protocol):
    async def connections(self, access_token: str, auth_event_id: UUID | None = None) -> list[XeroConnection]: ...
    async def delete_connection(self, access_token: str, connection_id: UUID) -> int: ...
    async def organisation(self, access_token: str, tenant_id: UUID) -> OrganisationInfo: ...
    async def forward(self, access_token: str, tenant_id: UUID, call: ProxyCall, *, max_wait: float) -> ProxyAnswer:
        """One call within the shared budget (BudgetExhausted past `max_wait`), Xero's answer as it came; a 429
        is recorded for every instance. XeroUnavailable only when no answer came (timeout, connection)."""
        ...


class CallShare(Protocol):
    """A part of the app's Xero budget kept for one kind of background work (upkeep), shared by every instance."""

    async def turn(self, *, max_wait: float) -> None:
        """Room for one call within the share; BudgetExhausted when none comes within `max_wait` seconds."""
        ...


class CloudPos(Protocol):
    async def sign_in(self, username: str, password: str) -> SignedIn: ...


@dataclass(frozen=True, slots=True)
class SignInTicket:
    """What one sign-in attempt took from the budgets (`taken`, for the adapter to settle), or which budget
    refused it ("account" or "address") and in how many seconds to come back."""

    taken: object = None
    refused_by: str | None = None
    retry_after: int = 0


class SignInBudget(Protocol):
    """Failed sign-ins per account (keyed hash) and per client address, shared by every gateway instance.
    Every attempt takes its hit first (concurrent guesses cannot overshoot); a failure keeps it."""

    async def take(self, account: str, address: str, *, known_browser: bool) -> SignInTicket: ...
    async def succeeded(self, account: str, ticket: SignInTicket) -> None:
        """Cloud POS forgets the account's failures when its owner signs in: so do we."""
        ...
    async def not_counted(self, ticket: SignInTicket) -> None:
        """Give the hits back: Cloud POS did not judge the password (unavailable, malformed)."""
        ...


class KeyValidator(Protocol):
    async def validate(self, merchant_id: str, user_id: str, api_key: str, client_address: str) -> KeyValidation: ...


class Registry(Protocol):
    async def summary(self, merchant_id: str) -> dict[str, Any] | None: ...
    async def complete(self, merchant_id: str, completed_by: str) -> int: ...


class Sealer(Protocol):
    """Seals short-lived secrets (the PKCE verifier) the way tokens are sealed."""

    def seal(self, plain: str, context: str) -> str: ...
    def open(self, sealed: str, context: str) -> str: ...


# --- rows, inside one transaction -----------------------------------------------------------------------
class SessionRows(Protocol):
    async def add(self, session: WebSession) -> None: ...
    async def get(self, session_hash: bytes) -> WebSession | None: ...
    async def touch(self, session_hash: bytes, now: datetime) -> None: ...
    async def set_stores(self, session_hash: bytes, stores: tuple[StoreRef, ...], key_label: str) -> None: ...
    async def set_flash(self, session_hash: bytes, text: str | None) -> None: ...
    async def take_flash(self, session_hash: bytes) -> str | None: ...
    async def drop(self, session_hash: bytes) -> None: ...
    async def purge(self, idle_before: datetime) -> None: ...


class FlowRows(Protocol):
    async def add(self, flow: Flow, state_hash: bytes, sealed_verifier: str) -> None: ...
    async def claim(self, state_hash: bytes) -> tuple[Flow, str] | None: ...
    async def get(self, flow_id: UUID, *, lock: bool = False) -> Flow | None: ...
    async def save(self, flow: Flow, outcome: str | None = None) -> None: ...
    async def purge(self, created_before: datetime) -> None: ...
    async def abandonable(self, authorised_before: datetime, limit: int) -> list[Flow]: ...
    async def awaiting_selection(self, merchant_id: str, authorised_after: datetime) -> list[Flow]: ...


class GrantRows(Protocol):
    async def get(self, grant_id: str, *, lock: bool = False) -> Grant | None: ...
    async def of_user(self, xero_sub: str) -> Grant | None: ...
    async def save(self, grant: Grant, now: datetime, reason: str | None = None) -> Grant: ...
    async def sealed_under_old_keys(self) -> list[str]: ...
    async def lease_refresh(self, grant_id: str, version: int, now: datetime, until: datetime) -> bool: ...
    async def refresh_failed(self, grant_id: str, retry_at: datetime) -> None: ...
    async def claim_upkeep(self, now: datetime, limit: int, lease_until: datetime) -> list[DueGrant]: ...
    async def schedule_upkeep(self, grant_id: str, schedule: Schedule) -> None: ...


class ConnectionRows(Protocol):
    async def save(self, connection: Connection, now: datetime, reason: str | None = None) -> None: ...
    async def get(self, merchant_id: str, tenant_id: UUID, *, lock: bool = False) -> Connection | None: ...
    async def active_of_grant(self, grant_id: str) -> list[Connection]: ...
    async def of_merchant(self, merchant_id: str) -> list[Connection]: ...
    async def in_use(self, connection_id: UUID) -> bool: ...
    async def class_check_due(self, grant_id: str, checked_before: datetime) -> list[Connection]: ...
    async def class_checked(self, merchant_id: str, tenant_id: UUID, now: datetime) -> None: ...
    async def wanted(self, connection_id: UUID, live_since: datetime, except_flow: UUID | None = None) -> bool:
        """An active connection, or a consent authorised since `live_since` and not yet confirmed, uses it."""
        ...

    async def grant_wanted(self, grant_id: str, live_since: datetime) -> bool:
        """An active connection, or a consent authorised since `live_since` and not yet confirmed, uses it."""
        ...


class JobRows(Protocol):
    """Owed Xero work as a lease-based queue: claimed in one short transaction, Xero called with none open, the
    outcome recorded in another while the lease (the attempt number) is still the job's."""

    async def add(self, kind: JobKind, grant_id: str, merchant_id: str, actor: str, now: datetime,
                  tenant_id: UUID | None = None, connection_id: UUID | None = None,
                  flow_id: UUID | None = None) -> int: ...

    async def claim(self, now: datetime, lease_until: datetime, limit: int, job_id: int | None = None
                    ) -> list[XeroJob]:
        """Up to `limit` due jobs (only `job_id`, if given), SKIP LOCKED: attempts + 1, leased until `lease_until`
        (when they fall due again should the instance die)."""
        ...

    async def finish(self, job: XeroJob, now: datetime, outcome: str, retry_at: datetime | None = None,
                     error: str | None = None) -> bool:
        """Done (`retry_at` None) or due again at `retry_at`; False, changing nothing, if the lease is lost."""
        ...

    async def supersede(self, now: datetime, *, connection_id: UUID | None = None,
                        grant_id: str | None = None) -> list[XeroJob]:
        """End, as superseded, the open jobs not in flight that would DELETE that connection or revoke that grant."""
        ...

    async def removing(self, connection_id: UUID, grant_id: str, since: datetime) -> XeroJob | None:
        """A DELETE of that connection or a revocation of that grant whose attempt may have acted at Xero at
        `since` or later (one in flight included)."""
        ...


class StoreLinkRows(Protocol):
    async def link(self, link: StoreLink) -> None: ...
    async def of_store(self, store_id: str) -> StoreConnection | None: ...
    async def of_connection(self, merchant_id: str, tenant_id: UUID) -> list[StoreLink]: ...
    async def of_merchant(self, merchant_id: str) -> list[StoreConnection]: ...
    async def unlink_organisation(self, merchant_id: str, tenant_id: UUID) -> int: ...


class PlatformReads(Protocol):
    """What every platform call reads first, outside any transaction (one round trip each)."""

    async def client(self, token_hash: bytes) -> PlatformClient | None: ...
    async def store(self, store_id: str) -> StoreConnection | None: ...


class PlatformClientRows(Protocol):
    async def by_token_hash(self, token_hash: bytes) -> PlatformClient | None: ...
    async def put(self, client: PlatformClient, token_hash: bytes, now: datetime) -> None: ...
    async def disable(self, name: str, now: datetime) -> bool: ...
    async def listing(self) -> list[tuple[PlatformClient, datetime | None]]: ...


class CompletionRows(Protocol):
    """"I have finished" requests the registry could not take yet, one per merchant."""

    async def keep(self, merchant_id: str, completed_by: str, now: datetime) -> bool:
        """Record it, due now; False when one is already pending (nothing changes)."""
        ...

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[PendingCompletion]:
        """Due requests, SKIP LOCKED, attempts + 1, not due again before `lease_until` (one instance offers each)."""
        ...

    async def retry(self, merchant_id: str, at: datetime, error: str) -> None: ...
    async def end(self, merchant_id: str, now: datetime, outcome: str) -> bool: ...


class AuditLog(Protocol):
    async def record(self, now: datetime, actor: str, action: str, merchant_id: str | None = None,
                     tenant_id: UUID | None = None, **detail: object) -> None: ...


class Outbox(Protocol):
    async def publish(self, *events: CloudEvent) -> None: ...


@dataclass(frozen=True, slots=True)
class XeroFootprint:
    """What a merchant holds at Xero through this app: its active connections (grant, connection id), and the
    grants no other merchant uses (revoking one drops every connection of that Xero user)."""

    connections: tuple[tuple[str, UUID], ...]
    own_grants: tuple[str, ...]


class MerchantRows(Protocol):
    """Erasure (docs/erasure.md): what to undo at Xero first, then every row about the merchant, in one go."""

    async def erased(self, merchant_id: str) -> bool: ...
    async def xero_footprint(self, merchant_id: str) -> XeroFootprint: ...
    async def erase(self, event: CloudEvent) -> object | None:
        """Delete or anonymise every row about the merchant with the event's inbox claim; None when already done."""
        ...


# --- what each part of the gateway may touch inside one transaction --------------------------------------
# One Protocol per kind of row; each use case's `*Work` names the ones it touches. The real transaction
# (`adapters.postgres.PgGatewayTransaction`) has them all; a fake needs only what the use case names.
class Audited(Protocol):
    @property
    def audit(self) -> AuditLog: ...


class WithSessions(Protocol):
    @property
    def sessions(self) -> SessionRows: ...


class WithFlows(Protocol):
    @property
    def flows(self) -> FlowRows: ...


class WithGrants(Protocol):
    @property
    def grants(self) -> GrantRows: ...


class WithConnections(Protocol):
    @property
    def connections(self) -> ConnectionRows: ...


class WithJobs(Protocol):
    @property
    def jobs(self) -> JobRows: ...


class WithStoreLinks(Protocol):
    @property
    def store_links(self) -> StoreLinkRows: ...


class WithPlatformClients(Protocol):
    @property
    def platform_clients(self) -> PlatformClientRows: ...


class WithOutbox(Protocol):
    @property
    def outbox(self) -> Outbox: ...


class WithCompletions(Protocol):
    @property
    def completions(self) -> CompletionRows: ...


class SessionWork(WithSessions, Audited, Protocol):
    """Sign-in, the session's life, the validated key."""


class ConsentWork(WithFlows, WithGrants, WithStoreLinks, WithJobs, WithOutbox, Audited, Protocol):
    """Connect to Xero: the flow (a reconnect may name a store linked before), the grant, StoreConnected, and the
    revocations of that grant it supersedes."""


class BreakWork(WithGrants, WithConnections, WithStoreLinks, WithOutbox, Audited, Protocol):
    """Enough to mark a connection broken: its stores, who authorised it, ConnectionBroken for each store."""


class SelectionWork(WithSessions, WithFlows, WithGrants, WithConnections, WithStoreLinks, WithJobs, WithOutbox, Audited,
                    Protocol):
    """Confirm Selection: the connection, OrgSelected, or the Xero connection owed a DELETE."""


class DisconnectWork(WithSessions, WithConnections, WithStoreLinks, WithJobs, WithOutbox, Audited, Protocol):
    """Disconnect from Xero: the connection ends, OrgDisconnected, the Xero work owed."""


class SummaryWork(WithFlows, WithGrants, WithConnections, WithStoreLinks, WithCompletions, Audited, Protocol):
    """The summary (with the consents waiting for a selection) and "I have finished"."""


class CompletionWork(WithStoreLinks, WithCompletions, Audited, Protocol):
    """Offering kept "I have finished" requests to the registry again: is a store connected here, the outcome."""


class XeroWork(WithGrants, WithConnections, WithStoreLinks, WithJobs, WithOutbox, Audited, Protocol):
    """The Xero client part: tokens, owed Xero jobs, upkeep."""


class ConsentSweepWork(WithFlows, WithGrants, WithConnections, WithJobs, WithOutbox, Audited, Protocol):
    """Abandoning expired consents: the flow, what still uses its connections and grant, the jobs, the event."""


class PlatformWork(WithPlatformClients, WithStoreLinks, Audited, Protocol):
    """The platform's API: who is calling, which organisation a store posts to, the audit of tokens issued."""


class HousekeepingWork(WithSessions, WithFlows, Protocol):
    """Forgetting stale sessions and flows."""
