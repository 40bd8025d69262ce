"""What the registry's use cases need from the outside world, as small Protocols."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from shared import ports
from shared.contracts import CloudEvent
from shared.ports import Clock

from .domain import Change, Graph, TimelineEntry
from .domain.staff import StaffSession


@dataclass(frozen=True, slots=True)
class TimelineLine:
    """A stored timeline entry with its per-merchant position (1, 2, ...)."""

    position: int
    entry: TimelineEntry


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    event: CloudEvent
    waiting_for: str


@dataclass(frozen=True, slots=True)
class ErasureRecord:
    """A merchant's erasure as `merchant_erasures` keeps it: no personal datum, the counts an audit needs."""

    merchant_id: str
    event_id: UUID
    requested_by: str
    reference: str
    requested_at: datetime
    known: bool
    stores: int
    organisations: int
    grants: int
    timeline_rows: int
    events: int
    audit_rows: int


class RegistryTransaction(Protocol):
    async def claim(self, consumer: str, event_id: UUID) -> bool: ...
    async def lock(self, merchant_id: str) -> None: ...
    async def lock_and_claim(self, merchant_id: str, consumer: str, event_id: UUID) -> bool:
        """`lock` then `claim`, in one round trip: False when the event was already applied."""
    async def lock_and_claim_all(self, consumer: str, events: Sequence[tuple[str, UUID]]) -> set[UUID]:
        """Lock the merchants of the (merchant id, event id) pairs (always in one order, so two batches cannot
        deadlock) and claim the events, in one round trip: the ids claimed now (the others were already applied)."""
    async def erased(self, merchant_ids: Sequence[str]) -> set[str]:
        """Those of the merchants that were erased."""
    async def graph(self, merchant_id: str) -> Graph: ...
    async def apply(self, change: Change) -> None:
        """Write the rows, append the timeline lines and stage `change.publish` in the outbox."""
    async def park(self, event: CloudEvent, waiting_for: str) -> None:
        """Park the event, or update what an already parked one is waiting for."""
    async def parked(self, merchant_id: str) -> list[ParkedEvent]:
        """The merchant's parked events, oldest event time first."""
    async def unpark(self, event_id: UUID) -> None: ...
    async def erasure(self, merchant_id: str) -> ErasureRecord | None:
        """The merchant's erasure, if it was erased: nothing about it may be recorded again."""
    async def erase(self, event: CloudEvent) -> ErasureRecord:
        """Delete every row about the event's merchant (a MerchantErased), record the erasure with the counts and
        stage the event in the outbox (after the merchant's other outbox rows are gone)."""


class PersonalDataKeys(Protocol):
    """The per-merchant keys that seal personal fields in events (shared.personal_data)."""

    async def forget(self, merchant_id: str) -> None:
        """Destroy the merchant's key, so its events' personal fields can never be read again; idempotent."""


UnitOfWork = ports.UnitOfWork[RegistryTransaction]


class RegistryReads(Protocol):
    """Read-only queries for the HTTP API and the helpdesk (no lock: a consistent snapshot is enough)."""

    async def graph(self, merchant_id: str) -> Graph: ...
    async def timeline(self, merchant_id: str, after: int, limit: int) -> list[TimelineLine]: ...
    async def awaiting_finalisation(self, limit: int, offset: int = 0) -> list[Graph]:
        """Completed, not finalised: who has waited longest first, one page of them."""
    async def awaiting_count(self) -> int: ...
    async def needing_attention(self, limit: int, offset: int = 0) -> list[Graph]:
        """Merchants with at least one store whose connection needs reconnecting, longest broken first."""
    async def attention_count(self) -> int:
        """How many merchants `needing_attention` would list without a limit."""
    async def unfinished(self, connected_before: datetime, limit: int, offset: int = 0) -> list[Graph]:
        """Merchants with a store connected at or before `connected_before` and no completion ("I have
        finished" never clicked): the earliest connection first."""
    async def unfinished_count(self, connected_before: datetime) -> int: ...
    async def search(self, text: str, limit: int, offset: int = 0) -> list[Graph]:
        """Merchants whose id or name, a store's name, or an organisation's name or tenant id matches `text`
        (names: case-insensitive substring; ids: exact or prefix), by merchant name then id."""
    async def search_count(self, text: str) -> int: ...
    async def parked_count(self) -> int: ...
    async def merchant_names(self, merchant_ids: Sequence[str]) -> dict[str, str]:
        """The names of those merchants the registry knows."""


class NotifierUnavailable(Exception):
    """The notifier did not answer usefully: the console shows what it has and says what is missing."""


@dataclass(frozen=True, slots=True)
class NoticeSummary:
    """What the notifier sent one merchant (emails to the merchant, not the helpdesk's notices)."""

    merchant_id: str
    emails_sent: int                   # merchant emails delivered, of any kind
    reminders_sent: int                # connection-health reminders delivered (after the first notice)
    setup_reminders_sent: int          # "finish your setup" emails delivered
    last_sent_at: datetime | None
    parked: int                        # this merchant's parked deliveries (any channel)


@dataclass(frozen=True, slots=True)
class NoticeLine:
    """One delivery as the console lists it (a merchant's page, the parked queue)."""

    delivery_id: UUID
    merchant_id: str
    kind: str
    channel: str
    status: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    parked_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class ParkedPage:
    lines: list[NoticeLine]            # oldest parked first
    total: int


class Notifications(Protocol):
    """The notifier's record of what was sent (the registry keeps no copy); each call raises
    NotifierUnavailable when the notifier cannot answer."""

    async def summaries(self, merchant_ids: Sequence[str]) -> dict[str, NoticeSummary]:
        """One entry per merchant the notifier knows of (absent: nothing sent)."""
    async def sent_to(self, merchant_id: str, limit: int) -> list[NoticeLine]:
        """The merchant's deliveries (helpdesk notices and merchant emails), newest first."""
    async def parked(self, limit: int, offset: int) -> ParkedPage: ...
    async def redrive(self, delivery_id: UUID) -> bool:
        """Make a parked delivery due again; False when it was not parked (nothing resent)."""


class SignInFailed(Exception):
    """The identity provider could not vouch for the staff member: `reason` is `unavailable` (it did not answer
    usefully), `refused` (it refused the code) or `invalid_token` (the ID token did not verify)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StaffIdentityProvider(Protocol):
    """The company's OpenID Connect provider, as the console uses it."""

    async def authorize_url(self, state: str, nonce: str, code_challenge: str) -> str: ...
    async def identify(self, code: str, code_verifier: str, nonce: str, now: datetime) -> dict[str, object]:
        """The verified ID token's claims for this authorization code; raises SignInFailed."""
    async def logout_url(self) -> str | None:
        """Where to send the browser to end the provider's own session (None: it offers no such endpoint)."""


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    nonce: str
    code_verifier: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One thing a staff member did (or was refused), as recorded."""

    at: datetime
    actor: str
    subject: str
    role: str
    action: str
    outcome: str
    session_id: UUID | None = None
    merchant_id: str | None = None
    target: str | None = None


class StaffStore(Protocol):
    """Sign-ins in flight, server-side sessions (by the SHA-256 of the browser's token) and the audit."""

    async def begin_sign_in(self, state_hash: bytes, pending: PendingSignIn) -> None: ...
    async def take_sign_in(self, state_hash: bytes, started_after: datetime) -> PendingSignIn | None:
        """Remove and return the sign-in (single use); None when unknown or started too long ago."""
    async def open_session(self, session: StaffSession, token_hash: bytes) -> None: ...
    async def session(self, token_hash: bytes, now: datetime, idle_since: datetime) -> StaffSession | None:
        """The open session for this token, marked seen `now`; None when ended, expired or idle too long."""
    async def end_session(self, session_id: UUID, at: datetime, by: str, reason: str) -> bool:
        """False when it was already over."""
    async def open_sessions(self, now: datetime, idle_since: datetime, limit: int) -> list[StaffSession]: ...
    async def audit(self, entry: AuditEntry) -> None: ...
    async def recent_audit(self, limit: int, merchant_id: str | None = None) -> list[AuditEntry]:
        """Newest first; one merchant's when `merchant_id` is given."""
