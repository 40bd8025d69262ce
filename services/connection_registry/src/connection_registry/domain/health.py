"""Connection health: a store's link that stopped working (ConnectionBroken) and works again (ConnectionRestored).

Rules written down:
- A break is not a disconnection: the store stays connected to its organisation and its map line stays; it
  is marked `reconnect_needed` with the reason, since and incident. Nothing is published (the map is
  unchanged; the notifier tells the helpdesk from these events directly), so neither ConnectionsChanged nor
  StoreDisconnected.
- A restore of the same incident, or any restore later than the break, puts the store back to connected.
  Restored to another organisation, the link follows the event's organisation, still publishing nothing.
  The gateway's OrgSelected for that choice moves the map as any OrgSelected does when it is applied
  first; applied after the restore, it finds the link already there ("unchanged") and publishes nothing.
- Out of order: an incident is kept once restored, so its ConnectionBroken arriving late or replayed finds
  it restored: its reason is recorded, the store stays connected (the rows end as if they had come in
  order). A break older than the store's last restore or link change is superseded and changes nothing.
- Early: a break or restore for a store the registry has not seen connected yet, or a restore to an
  organisation never authorised, is parked (domain rule 3) until the OrgSelected or StoreConnected comes.
"""

from dataclasses import replace

from shared.contracts import BreakReason, CloudEvent, ConnectionBroken, ConnectionRestored

from .connections import SUPERSEDED, entry, late, superseded
from .model import Change, Graph, Incident, Park, StoreRecord, StoreState, TimelineEntry

XERO = "xero"  # the timeline's actor for a break: it happened inside Xero, nobody here clicked
ALREADY_RECORDED = "already_recorded"
REASON_WORDS = {
    BreakReason.REMOVED_IN_XERO: "the app was removed inside Xero",
    BreakReason.AUTHORISATION_EXPIRED: "the Xero authorisation expired or was withdrawn",
    BreakReason.ORGANISATION_DELETED: "the Xero organisation was deleted",
    BreakReason.SUBSCRIPTION_DOWNGRADED: "the organisation's Xero subscription was downgraded below Standard",
    BreakReason.NEW_PERMISSIONS_NEEDED: "the app needs new permissions in Xero",
}


def reason_in_words(reason: BreakReason | str | None) -> str:
    """The helpdesk's words for a break reason; unknown or missing reasons still read as a sentence."""
    try:
        return REASON_WORDS[BreakReason(reason)]
    except ValueError:
        return "the connection to Xero stopped working"


def connection_broken(graph: Graph, event: CloudEvent) -> Change | Park:
    """Mark the connected store `reconnect_needed`, unless a later restore or link change already happened."""
    data = event.data
    assert isinstance(data, ConnectionBroken)
    store = graph.stores.get(data.store_id)
    if graph.merchant is None or store is None:
        return Park(f"KeyValidated listing store {data.store_id}")
    known = store.incident
    if known and known.incident_id == data.incident_id:
        return _known_incident(event, store, known)
    if late(store.changed_at, event):
        return Change(timeline=(superseded(event, store, XERO, store.changed_at),))
    if known and known.restored_at and late(known.restored_at, event):
        return Change(timeline=(superseded(event, store, XERO, known.restored_at),))
    if store.state is not StoreState.CONNECTED:
        return Park(f"OrgSelected connecting store {data.store_id}")
    incident = Incident(data.incident_id, data.since, data.reason, broken_at=event.time)
    broken = replace(store, incident=incident, changed_at=event.time)
    what = f"{store.name} needs reconnecting: {reason_in_words(data.reason)}"
    return Change(stores=(broken,), timeline=(_line(event, what, XERO, store, data.reason.value),))


def connection_restored(graph: Graph, event: CloudEvent) -> Change | Park:
    """The store works again: close its incident (same one, or any earlier one) and follow its organisation."""
    data = event.data
    assert isinstance(data, ConnectionRestored)
    store = graph.stores.get(data.store_id)
    if graph.merchant is None or store is None:
        return Park(f"KeyValidated listing store {data.store_id}")
    if store.state is not StoreState.CONNECTED:
        if late(store.changed_at, event):
            return Change(timeline=(superseded(event, store, data.restored_by, store.changed_at),))
        return Park(f"OrgSelected connecting store {data.store_id}")
    moves = store.tenant_id != data.tenant_id and not late(store.changed_at, event)
    if moves and data.tenant_id not in graph.organisations:
        return Park(f"StoreConnected or OrgSelected naming organisation {data.tenant_id}")
    known = store.incident
    if known and known.incident_id == data.incident_id:
        if not known.open:
            what = f"{store.name}: incident {data.incident_id} was already restored"
            return Change(timeline=(_line(event, what, data.restored_by, store, ALREADY_RECORDED),))
        incident = replace(known, restored_at=event.time)
    elif known and late(known.restored_at or known.broken_at, event):  # another incident, newer than this restore
        return Change(timeline=(superseded(event, store, data.restored_by, known.restored_at or known.broken_at),))
    else:
        incident = Incident(data.incident_id, data.broken_since, restored_at=event.time)
    restored = replace(store, incident=incident)
    if moves:
        restored = replace(restored, tenant_id=data.tenant_id, connected_at=event.time)
    which = "same organisation" if data.same_organisation else "another organisation"
    what = f"{store.name} reconnected to '{data.organisation_name}' ({which})"
    return Change(stores=(restored,), timeline=(_line(event, what, data.restored_by, restored, None),))


def _known_incident(event: CloudEvent, store: StoreRecord, known: Incident) -> Change:
    """A break of an incident already known: open, it is a repeat; restored, its break arrived after the restore
    (out of order, or replayed): its facts are kept, the store stays connected, so either order ends the same."""
    data = event.data
    assert isinstance(data, ConnectionBroken)
    if known.open:
        what = f"{store.name}: incident {data.incident_id} was already recorded"
        return Change(timeline=(_line(event, what, XERO, store, ALREADY_RECORDED),))
    kept = replace(store, incident=replace(known, since=data.since, reason=data.reason, broken_at=event.time),
                   changed_at=max(store.changed_at or event.time, event.time))
    what = (f"{store.name}: its break ({reason_in_words(data.reason)}) arrived after it was reconnected; "
            "recorded, it stays connected")
    return Change(stores=(kept,), timeline=(_line(event, what, XERO, store, SUPERSEDED),))


def _line(event: CloudEvent, what: str, actor: str, store: StoreRecord, reason: str | None) -> TimelineEntry:
    return entry(event, what, actor, reason=reason, store_id=store.store_id, tenant_id=event.data.tenant_id)
