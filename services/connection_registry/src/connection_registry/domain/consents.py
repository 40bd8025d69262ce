"""ConsentAbandoned: a store's consent at Xero ("Allow access") that nobody confirmed ("Confirm Selection") within
the gateway's consent TTL. Pure: (graph, event) -> Change | Park.

Rules written down:
- The store, if it still waits for a selection through that grant, is eligible again (reason `consent_abandoned`),
  unless the gateway says a newer consent for it still waits (`still_awaiting`). A connected store stays connected
  (the consent was a change of organisation never confirmed), and so does its map line: nothing is published.
- Each released organisation (its Xero connection is being removed) that is still authorised through that grant,
  with no connected store on it and no later change, becomes disconnected with reason `consent_abandoned`.
- Early: a grant no StoreConnected has announced yet is waited for (parked, domain rule 3), so that its
  StoreConnected cannot put the store back to waiting after this. Late (the store changed after the event's
  time): recorded, the store is not changed.
"""

from dataclasses import replace

from shared.contracts import CloudEvent, ConsentAbandoned, DisconnectReason

from .connections import entry, late, superseded
from .model import Change, Graph, Organisation, OrgState, Park, StoreState

GATEWAY = "oauth_gateway"     # the timeline's actor: the gateway's sweep abandoned it, nobody clicked
ABANDONED = DisconnectReason.CONSENT_ABANDONED.value


def consent_abandoned(graph: Graph, event: CloudEvent) -> Change | Park:
    data = event.data
    assert isinstance(data, ConsentAbandoned)
    store = graph.stores.get(data.store_id)
    if graph.merchant is None or store is None:
        return Park(f"KeyValidated listing store {data.store_id}")
    if data.grant_id not in graph.grants:
        return Park(f"StoreConnected announcing grant {data.grant_id}")
    released = _released(graph, event)
    names = ", ".join(o.name for o in data.organisations) or "none"
    if late(store.changed_at, event):
        return Change(organisations=released, timeline=(superseded(event, store, GATEWAY, store.changed_at),))
    waiting = store.state is StoreState.AUTHORISED and store.grant_id == data.grant_id
    if waiting and not data.still_awaiting:
        eligible = replace(store, state=StoreState.ELIGIBLE, grant_id=None, reason=ABANDONED,
                           changed_at=event.time)
        what = (f"Store '{store.name}': Xero access given to {names} but no organisation selected in time; "
                "the consent was abandoned and the store is no longer waiting")
        return Change(stores=(eligible,), organisations=released,
                      timeline=(entry(event, what, GATEWAY, store_id=store.store_id,
                                      reason=ABANDONED),))
    what = (f"Store '{store.name}': an earlier consent giving Xero access to {names} was abandoned "
            "(no organisation selected in time); the store is unchanged")
    return Change(organisations=released, timeline=(entry(event, what, GATEWAY, store_id=store.store_id,
                                                           reason=ABANDONED),))


def _released(graph: Graph, event: CloudEvent) -> tuple[Organisation, ...]:
    data = event.data
    assert isinstance(data, ConsentAbandoned)
    used = {s.tenant_id for s in graph.connected()}
    return tuple(replace(org, state=OrgState.DISCONNECTED, reason=DisconnectReason.CONSENT_ABANDONED,
                         changed_at=event.time)
                 for tenant_id in data.released if (org := graph.organisations.get(tenant_id)) is not None
                 and org.state is OrgState.AUTHORISED and org.grant_id == data.grant_id
                 and tenant_id not in used and not late(org.changed_at, event))
