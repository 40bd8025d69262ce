"""The merchant → store → organisation (and Xero grant) graph, as immutable values.

Every timestamp here is an EVENT's time (CloudEvents `time`), never the clock of the moment the registry
learned it: replaying the same events therefore rebuilds the same rows, byte for byte.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from shared.contracts import BreakReason, CloudEvent, DisconnectReason, StoreLink, XeroUser


class StoreState(StrEnum):
    ELIGIBLE = "eligible"            # listed by a validated key, not yet sent to Xero
    AUTHORISED = "authorised"        # consent given (a grant), no organisation chosen yet
    CONNECTED = "connected"          # posting to one organisation (`tenant_id`)
    DISCONNECTED = "disconnected"    # was connected to `tenant_id`; `reason` says why it stopped


RECONNECT_NEEDED = "reconnect_needed"  # a store's status (not a state): connected, but the merchant must reconnect


class OrgState(StrEnum):
    AUTHORISED = "authorised"        # a grant gives access; stores may be connected to it
    DISCONNECTED = "disconnected"    # no longer serves the merchant; `reason` says why


@dataclass(frozen=True, slots=True)
class Incident:
    """A store's connection stopped working (ConnectionBroken) until ConnectionRestored. The link stays: the
    merchant reconnects it, often to the same organisation. Kept once restored, so that its ConnectionBroken
    arriving late (or replayed) is recognised and cannot break the store again."""

    incident_id: UUID
    since: datetime                        # when it stopped working (the break's `since`)
    reason: BreakReason | None = None      # None: known only from its ConnectionRestored (the break came later)
    broken_at: datetime | None = None      # the ConnectionBroken's event time
    restored_at: datetime | None = None    # the ConnectionRestored's event time; None while broken

    @property
    def open(self) -> bool:
        return self.restored_at is None


@dataclass(frozen=True, slots=True)
class StoreRecord:
    merchant_id: str
    store_id: str
    name: str
    state: StoreState = StoreState.ELIGIBLE
    tenant_id: UUID | None = None
    reason: str | None = None
    grant_id: str | None = None
    connected_at: datetime | None = None
    changed_at: datetime | None = None
    incident: Incident | None = None       # the last one; a connected store with an open one needs reconnecting

    @property
    def broken(self) -> Incident | None:
        """The open incident of a connected store (its link stays until the merchant reconnects it)."""
        if self.state is StoreState.CONNECTED and self.incident and self.incident.open:
            return self.incident
        return None

    @property
    def status(self) -> str:
        """What the helpdesk and the gateway show: the state, or `reconnect_needed` for a broken link."""
        return RECONNECT_NEEDED if self.broken else self.state.value


@dataclass(frozen=True, slots=True)
class Organisation:
    merchant_id: str
    tenant_id: UUID
    name: str
    state: OrgState
    grant_id: str | None
    connection_id: UUID | None
    changed_at: datetime
    subscription_class: str | None = None
    reason: DisconnectReason | None = None
    authorised_by: XeroUser | None = None  # the Xero user whose consent gives access (kept until another's)


@dataclass(frozen=True, slots=True)
class Grant:
    """One Xero token set (held by the oauth_gateway), obtained in one consent; many stores may use it."""

    merchant_id: str
    grant_id: str
    auth_event_id: UUID
    store_id: str
    authorised_by: str
    authorised_at: datetime


@dataclass(frozen=True, slots=True)
class Completion:
    """The merchant said they had finished: the SetupCompleted published then, with its map."""

    event_id: UUID
    at: datetime
    by: str
    links: tuple[StoreLink, ...]


@dataclass(frozen=True, slots=True)
class Finalisation:
    event_id: UUID
    at: datetime
    by: str


@dataclass(frozen=True, slots=True)
class Merchant:
    merchant_id: str
    name: str
    licence: str
    key_id: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    correlation_id: UUID | None = None
    completion: Completion | None = None
    finalisation: Finalisation | None = None
    reminders_sent: int = 0                    # "finish your setup" reminders the helpdesk asked for
    last_reminded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One append-only line of a merchant's history: what changed, when, who, why, and which event."""

    merchant_id: str
    occurred_at: datetime
    what: str
    actor: str
    event_id: UUID
    reason: str | None = None
    causation_id: UUID | None = None
    correlation_id: UUID | None = None
    store_id: str | None = None
    tenant_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Graph:
    """Everything the registry knows about one merchant, read under the merchant's lock."""

    merchant_id: str
    merchant: Merchant | None = None
    stores: dict[str, StoreRecord] = field(default_factory=dict)
    organisations: dict[UUID, Organisation] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)

    def connected(self) -> list[StoreRecord]:
        return sorted((s for s in self.stores.values() if s.state is StoreState.CONNECTED),
                      key=lambda s: s.store_id)

    def connected_since(self) -> datetime | None:
        """When the earliest of the currently connected stores was connected."""
        return min((s.connected_at for s in self.connected() if s.connected_at), default=None)

    def broken(self) -> list[StoreRecord]:
        """Connected stores that need reconnecting, the longest broken first."""
        return sorted((s for s in self.stores.values() if s.broken),
                      key=lambda s: (s.broken.since, s.store_id))  # type: ignore[union-attr]

    def links(self) -> tuple[StoreLink, ...]:
        """The current store → organisation map, in store order."""
        return tuple(StoreLink(store_id=s.store_id, store_name=s.name, tenant_id=s.tenant_id,
                               organisation_name=self.organisation_name(s.tenant_id))
                     for s in self.connected() if s.tenant_id is not None)

    def organisation_name(self, tenant_id: UUID | None) -> str:
        org = self.organisations.get(tenant_id) if tenant_id else None
        return org.name if org else str(tenant_id)

    def updated(self, stores: tuple["StoreRecord", ...] = (),
                organisations: tuple["Organisation", ...] = ()) -> "Graph":
        """The graph as it will be once these rows are written (to compute the map after a change)."""
        return Graph(self.merchant_id, self.merchant, self.stores | {s.store_id: s for s in stores},
                     self.organisations | {o.tenant_id: o for o in organisations}, self.grants)


@dataclass(frozen=True, slots=True)
class Change:
    """What a rule decided: rows to upsert, lines to append, events to publish (through the outbox)."""

    merchant: Merchant | None = None
    stores: tuple[StoreRecord, ...] = ()
    organisations: tuple[Organisation, ...] = ()
    grants: tuple[Grant, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    publish: tuple[CloudEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class Park:
    """The event cannot be applied yet: keep it and retry once the merchant's next event is applied."""

    waiting_for: str
