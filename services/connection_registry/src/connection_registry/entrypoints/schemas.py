"""The HTTP API's bodies (docs/internal-apis.md) and how a merchant's graph maps onto them."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import XeroUser
from shared.contracts.events import Identifier

from ..domain import Graph, StoreRecord, StoreState
from ..ports import TimelineLine


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    completed_by: Identifier = Field(description="the signed-in user who said they had finished")


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    requested_by: Identifier = Field(description="who asked: a staff identity, or ops:<name> for on-call")
    reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:#/-]+$",
                           description="the ticket the erasure was asked in")


class ErasureOut(BaseModel):
    """What was erased, as `merchant_erasures` keeps it (docs/erasure.md): counts, never a personal datum."""

    merchant_id: str
    event_id: UUID = Field(description="the MerchantErased's CloudEvents id")
    requested_by: str
    reference: str
    requested_at: datetime
    known: bool = Field(description="false: the registry held nothing about the merchant (other services may)")
    stores: int
    organisations: int
    grants: int
    timeline_rows: int
    events: int = Field(description="outbox rows and parked events of the merchant removed")
    audit_rows: int = Field(description="staff audit rows about the merchant, kept (no personal datum in them)")
    already_erased: bool


class CompletionOut(BaseModel):
    merchant_id: str
    completed: bool = True
    event_id: UUID = Field(description="the SetupCompleted's CloudEvents id")
    completed_at: datetime
    completed_by: str
    already_completed: bool


class ConnectedStore(BaseModel):
    store_id: str
    name: str
    connected_at: datetime | None


Status = Literal["eligible", "authorised", "connected", "reconnect_needed", "disconnected"]


class OrganisationOut(BaseModel):
    tenant_id: UUID
    organisation_name: str
    stores: list[ConnectedStore] = Field(description="its connected stores, including those that need reconnecting")
    authorised_by: XeroUser | None = Field(
        default=None, description="the Xero user whose consent gives access to it; null when not known")


class StoreOut(BaseModel):
    store_id: str
    name: str
    state: StoreState = Field(description="the link: a store that needs reconnecting is still `connected`")
    tenant_id: UUID | None = Field(description="connected: the organisation; disconnected: the one it lost")
    organisation_name: str | None
    reason: str | None = Field(description="reconnect_needed: the BreakReason; disconnected: the DisconnectReason")
    status: Status = Field(description="the state, or `reconnect_needed`: connected, but the connection stopped "
                                       "working and the merchant must reconnect it")
    since: datetime | None = Field(default=None, description="reconnect_needed: when the connection stopped working")


class StoreStatus(StoreOut):
    merchant_id: str
    grant_id: str | None
    connected_at: datetime | None
    changed_at: datetime | None


class Summary(BaseModel):
    merchant_id: str
    merchant_name: str
    completed: bool
    completed_at: datetime | None
    finalised: bool
    organisations: list[OrganisationOut] = Field(description="organisations with at least one connected store")
    stores: list[StoreOut]


class TimelineEntryOut(BaseModel):
    position: int
    occurred_at: datetime
    what: str
    actor: str
    reason: str | None
    store_id: str | None
    tenant_id: UUID | None
    event_id: UUID
    causation_id: UUID | None
    correlation_id: UUID | None


class Timeline(BaseModel):
    merchant_id: str
    entries: list[TimelineEntryOut]
    next_after: int | None = Field(description="pass as `after` for the next page; null at the end")


def summary(graph: Graph) -> Summary:
    assert graph.merchant is not None
    stores = sorted(graph.stores.values(), key=lambda s: (s.name.casefold(), s.store_id))
    organisations: dict[UUID, OrganisationOut] = {}
    for s in stores:
        if s.state is StoreState.CONNECTED and s.tenant_id is not None:
            known = graph.organisations.get(s.tenant_id)
            org = organisations.setdefault(s.tenant_id, OrganisationOut(
                tenant_id=s.tenant_id, organisation_name=graph.organisation_name(s.tenant_id), stores=[],
                authorised_by=known.authorised_by if known else None))
            org.stores.append(ConnectedStore(store_id=s.store_id, name=s.name, connected_at=s.connected_at))
    m = graph.merchant
    return Summary(merchant_id=m.merchant_id, merchant_name=m.name, completed=m.completion is not None,
                   completed_at=m.completion.at if m.completion else None, finalised=m.finalisation is not None,
                   organisations=sorted(organisations.values(), key=lambda o: o.organisation_name.casefold()),
                   stores=[store_out(graph, s) for s in stores])


def store_out(graph: Graph, s: StoreRecord) -> StoreOut:
    broken = s.broken
    reason = broken.reason.value if broken and broken.reason else s.reason
    return StoreOut(store_id=s.store_id, name=s.name, state=s.state, tenant_id=s.tenant_id,
                    organisation_name=graph.organisation_name(s.tenant_id) if s.tenant_id else None,
                    reason=reason, status=s.status, since=broken.since if broken else None)  # type: ignore[arg-type]


def store_status(graph: Graph, s: StoreRecord) -> StoreStatus:
    return StoreStatus(**store_out(graph, s).model_dump(), merchant_id=s.merchant_id, grant_id=s.grant_id,
                       connected_at=s.connected_at, changed_at=s.changed_at)


def timeline(merchant_id: str, lines: list[TimelineLine], limit: int) -> Timeline:
    entries = [TimelineEntryOut(position=line.position, occurred_at=t.occurred_at, what=t.what, actor=t.actor,
                                reason=t.reason, store_id=t.store_id, tenant_id=t.tenant_id, event_id=t.event_id,
                                causation_id=t.causation_id, correlation_id=t.correlation_id)
               for line in lines for t in (line.entry,)]
    return Timeline(merchant_id=merchant_id, entries=entries,
                    next_after=entries[-1].position if len(entries) == limit else None)
