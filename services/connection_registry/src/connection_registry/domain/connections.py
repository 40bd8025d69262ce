"""How each consumed event changes a merchant's graph. Pure: (graph, event) -> Change | Park.

Rules written down (module doc of `connection_registry.domain` has the full list):
- Unknown or early: an event naming a merchant/store the registry has not seen (no KeyValidated yet), an
  OrgSelected whose grant no StoreConnected announced, an OrgDisconnected for an organisation never
  authorised: `Park` — kept in `parked_events` and retried after each later event of that merchant.
- Late: a store's (or organisation's) state only moves forward in event time. An event older than the
  row's last change is written to the timeline as superseded and changes nothing.
- Cascade: OrgDisconnected disconnects every store connected to that organisation (one StoreDisconnected
  each, causation = the OrgDisconnected's id); an OrgSelected moving a connected store to another
  organisation disconnects it from the old one with reason `replaced`.
- A new link starts healthy: an OrgSelected that connects or moves a store drops its connection incident
  (`health.py`); re-selecting the same organisation leaves it for ConnectionRestored to end.
- After completion only, each event that changed the store → organisation map (a store connected or moved,
  an organisation disconnected with stores on it) publishes one ConnectionsChanged with the whole new map.
"""

from dataclasses import replace
from datetime import datetime

from shared.contracts import (AuthorisedOrganisation, CloudEvent, DisconnectReason, KeyValidated, OrgDisconnected,
                              OrgSelected, StoreConnected)

from .model import (Change, Grant, Graph, Merchant, Organisation, OrgState, Park, StoreRecord, StoreState,
                    TimelineEntry)
from .outgoing import connections_changed, store_disconnected

SUPERSEDED = "superseded"


def entry(event: CloudEvent, what: str, actor: str, **extra: object) -> TimelineEntry:
    return TimelineEntry(merchant_id=event.data.merchant_id, occurred_at=event.time, what=what, actor=actor,
                         event_id=event.id, causation_id=event.causation_id,
                         correlation_id=event.correlation_id, **extra)  # type: ignore[arg-type]


def key_validated(graph: Graph, event: CloudEvent) -> Change:
    """A validated key records the merchant and makes new stores eligible; known stores keep their state."""
    data = event.data
    assert isinstance(data, KeyValidated)
    known, before = graph.stores, graph.merchant
    stores = tuple(replace(known[s.store_id], name=s.name) if s.store_id in known
                   else StoreRecord(data.merchant_id, s.store_id, s.name, changed_at=event.time)
                   for s in data.stores)
    merchant = Merchant(data.merchant_id, data.merchant_name, data.licence.value, data.key_id,
                        created_at=before.created_at if before else event.time, updated_at=event.time,
                        correlation_id=event.correlation_id or (before.correlation_id if before else None),
                        completion=before.completion if before else None,
                        finalisation=before.finalisation if before else None,
                        reminders_sent=before.reminders_sent if before else 0,
                        last_reminded_at=before.last_reminded_at if before else None)
    line = entry(event, f"Cloud POS API key '{data.key_label}' validated; {len(stores)} store(s) eligible",
                 data.validated_by)
    return Change(merchant=merchant, stores=stores, timeline=(line,))


def store_connected(graph: Graph, event: CloudEvent) -> Change | Park:
    """Consent given for a store: it becomes authorised (a connected store stays connected until an
    OrgSelected moves it); the grant and the organisations it authorised join the graph."""
    data = event.data
    assert isinstance(data, StoreConnected)
    store = graph.stores.get(data.store_id)
    if graph.merchant is None or store is None:
        return Park(f"KeyValidated listing store {data.store_id}")
    grant = graph.grants.get(data.grant_id) or Grant(data.merchant_id, data.grant_id, data.auth_event_id,
                                                     data.store_id, data.actor, event.time)
    orgs = tuple(o for o in (_authorise(graph, event, a) for a in data.organisations) if o is not None)
    names = ", ".join(a.name for a in data.organisations) or "none"
    if late(store.changed_at, event):
        return Change(grants=(grant,), organisations=orgs,
                      timeline=(superseded(event, store, data.actor, store.changed_at),))
    if store.state is StoreState.CONNECTED:
        what = (f"Store '{store.name}' re-authorised Xero access (grant {data.grant_id}) to: {names}; "
                f"still connected to '{graph.organisation_name(store.tenant_id)}'")
        return Change(grants=(grant,), organisations=orgs,
                      timeline=(entry(event, what, data.actor, store_id=store.store_id),))
    authorised = replace(store, state=StoreState.AUTHORISED, grant_id=data.grant_id, tenant_id=None, reason=None,
                         connected_at=None, changed_at=event.time)
    what = (f"Store '{store.name}' authorised Xero access (grant {data.grant_id}) to "
            f"{len(data.organisations)} organisation(s): {names}")
    return Change(stores=(authorised,), grants=(grant,), organisations=orgs,
                  timeline=(entry(event, what, data.actor, store_id=store.store_id),))


def org_selected(graph: Graph, event: CloudEvent) -> Change | Park:
    """The store now posts to the chosen organisation; after completion the helpdesk hears of it."""
    data = event.data
    assert isinstance(data, OrgSelected)
    store = graph.stores.get(data.store_id)
    if graph.merchant is None or store is None:
        return Park(f"KeyValidated listing store {data.store_id}")
    if data.grant_id not in graph.grants:
        return Park(f"StoreConnected announcing grant {data.grant_id}")
    org = graph.organisations.get(data.tenant_id)
    if late(store.changed_at, event):
        return Change(timeline=(superseded(event, store, data.actor, store.changed_at),))
    if org and org.state is OrgState.DISCONNECTED and late(org.changed_at, event):
        return Change(timeline=(superseded(event, store, data.actor, org.changed_at),))
    if org is None or not late(org.changed_at, event):
        org = Organisation(data.merchant_id, data.tenant_id, data.organisation_name, OrgState.AUTHORISED,
                           data.grant_id, data.connection_id, event.time, data.subscription_class,
                           authorised_by=data.authorised_by or (org.authorised_by if org else None))
    if store.state is StoreState.CONNECTED and store.tenant_id == data.tenant_id:
        line = entry(event, f"Store '{store.name}' re-selected organisation '{org.name}' (unchanged)", data.actor,
                     store_id=store.store_id, tenant_id=data.tenant_id)
        return Change(stores=(replace(store, grant_id=data.grant_id, changed_at=event.time),), organisations=(org,),
                      timeline=(line,))
    connected = replace(store, state=StoreState.CONNECTED, tenant_id=data.tenant_id, grant_id=data.grant_id,
                        reason=None, connected_at=event.time, changed_at=event.time, incident=None)  # a new link works
    lines = [entry(event, f"Store '{store.name}' connected to organisation '{org.name}'", data.actor,
                   store_id=store.store_id, tenant_id=data.tenant_id)]
    summary, reason, left = f"Store '{store.name}' connected to '{org.name}'", "store_connected", ()
    if store.state is StoreState.CONNECTED:  # moved: it leaves its old organisation first
        old = graph.organisation_name(store.tenant_id)
        left = (store_disconnected(event, store, old, DisconnectReason.REPLACED),)
        lines.insert(0, _disconnection_line(event, left[0], store, old, DisconnectReason.REPLACED, data.actor))
        summary, reason = f"Store '{store.name}' moved from '{old}' to '{org.name}'", "store_moved"
    changed = connections_changed(event, graph.updated(stores=(connected,), organisations=(org,)), summary, reason)
    return Change(stores=(connected,), organisations=(org,), timeline=tuple(lines), publish=left + changed)


def org_disconnected(graph: Graph, event: CloudEvent) -> Change | Park:
    """The organisation stops serving the merchant: cascade to every store connected to it."""
    data = event.data
    assert isinstance(data, OrgDisconnected)
    org = graph.organisations.get(data.tenant_id)
    if graph.merchant is None:
        return Park("KeyValidated for the merchant")
    if org is None:
        return Park(f"StoreConnected or OrgSelected naming organisation {data.tenant_id}")
    orgs = () if late(org.changed_at, event) else (replace(
        org, name=data.organisation_name, state=OrgState.DISCONNECTED, reason=data.reason, changed_at=event.time),)
    victims = [s for s in graph.connected() if s.tenant_id == data.tenant_id and not late(s.changed_at, event)]
    stores = tuple(replace(s, state=StoreState.DISCONNECTED, reason=data.reason.value, changed_at=event.time)
                   for s in victims)
    published = tuple(store_disconnected(event, s, data.organisation_name, data.reason) for s in victims)
    kept = "" if orgs else "; it was authorised again later, so it stays authorised"
    lines = (entry(event, f"Organisation '{data.organisation_name}' disconnected ({data.reason.value}); "
                          f"{len(victims)} store(s) disconnected{kept}", data.actor, reason=data.reason.value,
                   tenant_id=data.tenant_id),
             *(_disconnection_line(event, e, s, data.organisation_name, data.reason, data.actor)
               for e, s in zip(published, victims, strict=True)))
    changed = ()
    if victims:
        names = ", ".join(f"'{s.name}'" for s in victims)
        changed = connections_changed(event, graph.updated(stores=stores, organisations=orgs),
                                      f"Organisation '{data.organisation_name}' disconnected ({data.reason.value}): "
                                      f"{len(victims)} store(s) no longer post to Xero: {names}", data.reason.value)
    return Change(stores=stores, organisations=orgs, timeline=lines, publish=published + changed)


def _authorise(graph: Graph, event: CloudEvent, authorised: AuthorisedOrganisation) -> Organisation | None:
    before = graph.organisations.get(authorised.tenant_id)
    if before and late(before.changed_at, event):
        return None
    data = event.data
    assert isinstance(data, StoreConnected)
    return Organisation(data.merchant_id, authorised.tenant_id, authorised.name, OrgState.AUTHORISED, data.grant_id,
                        authorised.connection_id, event.time, before.subscription_class if before else None,
                        authorised_by=data.authorised_by or (before.authorised_by if before else None))


def _disconnection_line(cause: CloudEvent, published: CloudEvent, store: StoreRecord, org_name: str,
                        reason: DisconnectReason, actor: str) -> TimelineEntry:
    """A cascaded store's own line: its StoreDisconnected's id, caused by the cause's id."""
    return TimelineEntry(merchant_id=store.merchant_id, occurred_at=cause.time, actor=actor, event_id=published.id,
                         what=f"Store '{store.name}' disconnected from organisation '{org_name}'",
                         reason=reason.value, causation_id=cause.id, correlation_id=cause.correlation_id,
                         store_id=store.store_id, tenant_id=store.tenant_id)


def late(changed_at: datetime | None, event: CloudEvent) -> bool:
    return changed_at is not None and changed_at > event.time


def superseded(event: CloudEvent, store: StoreRecord, actor: str, newer: datetime | None) -> TimelineEntry:
    return entry(event, f"{type(event.data).__name__} for store '{store.name}' arrived after a newer change "
                        f"({newer:%Y-%m-%d %H:%M:%S}); recorded, not applied", actor,
                 reason=SUPERSEDED, store_id=store.store_id)
