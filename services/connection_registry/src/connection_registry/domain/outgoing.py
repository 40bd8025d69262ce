"""The events the registry publishes, built from the event that caused them.

Derived events get DETERMINISTIC ids (uuid5 of the cause's id and the store): the same cause always
yields the same StoreDisconnected / ConnectionsChanged ids, so a replay or a retried transaction can
never mint a second, different copy, and a rebuild's timeline names the same event ids as the live one.
They carry the cause's time, its id as `causationid`, and its `correlationid`.
"""

from uuid import UUID, uuid5

from shared.contracts import CloudEvent, ConnectionsChanged, DisconnectReason, StoreDisconnected

from .model import Graph, StoreRecord

SOURCE = "/cloudpos-xero/connection_registry"
_NAMESPACE = UUID("5b0c62a4-9c2e-4c53-9a47-64e0f0d1c0de")
SUMMARY_LIMIT = 500


def derived_id(kind: str, cause: UUID, part: str = "") -> UUID:
    return uuid5(_NAMESPACE, f"{kind}:{cause}:{part}")


def store_disconnected(cause: CloudEvent, store: StoreRecord, organisation_name: str,
                       reason: DisconnectReason) -> CloudEvent:
    """One store lost its organisation: its own event, sharing the cause's id as causation id."""
    assert store.tenant_id is not None
    data = StoreDisconnected(merchant_id=store.merchant_id, store_id=store.store_id, tenant_id=store.tenant_id,
                             organisation_name=organisation_name, reason=reason)
    return CloudEvent(data=data, source=SOURCE, id=derived_id("StoreDisconnected", cause.id, store.store_id),
                      time=cause.time, subject=store.store_id, causation_id=cause.id,
                      correlation_id=cause.correlation_id)


def connections_changed(cause: CloudEvent, after: Graph, summary: str, reason: str) -> tuple[CloudEvent, ...]:
    """After completion only: the whole new map, so the helpdesk never has to recompute it."""
    if after.merchant is None or after.merchant.completion is None:
        return ()
    text = summary if len(summary) <= SUMMARY_LIMIT else summary[:SUMMARY_LIMIT - 1] + "…"
    data = ConnectionsChanged(merchant_id=after.merchant_id, merchant_name=after.merchant.name, summary=text,
                              reason=reason, links=after.links())
    return (CloudEvent(data=data, source=SOURCE, id=derived_id("ConnectionsChanged", cause.id), time=cause.time,
                       causation_id=cause.id, correlation_id=cause.correlation_id),)
