"""Event contracts shared by every service and by the wider platform, with their CloudEvents envelope.

Pure data (pydantic only, no I/O), so a service's domain can import it without the delivery kit's drivers."""

from . import topics
from .base import TYPE_PREFIX, Event, event_types
from .cloudevents import CloudEvent, KafkaRecord, PoisonMessage, from_kafka, to_kafka
from .events import (
    AuthorisedOrganisation,
    BreakReason,
    ConnectionBroken,
    ConnectionRestored,
    ConnectionsChanged,
    ConsentAbandoned,
    DisconnectReason,
    KeyValidated,
    Licence,
    MerchantErased,
    OrgDisconnected,
    OrgSelected,
    SetupCompleted,
    SetupFinalised,
    SetupReminderRequested,
    Store,
    StoreConnected,
    StoreDisconnected,
    StoreLink,
    XeroUser,
)

__all__ = [
    "TYPE_PREFIX",
    "AuthorisedOrganisation",
    "BreakReason",
    "CloudEvent",
    "ConnectionBroken",
    "ConnectionRestored",
    "ConnectionsChanged",
    "ConsentAbandoned",
    "DisconnectReason",
    "Event",
    "KafkaRecord",
    "KeyValidated",
    "Licence",
    "MerchantErased",
    "OrgDisconnected",
    "OrgSelected",
    "PoisonMessage",
    "SetupCompleted",
    "SetupFinalised",
    "SetupReminderRequested",
    "Store",
    "StoreConnected",
    "StoreDisconnected",
    "StoreLink",
    "XeroUser",
    "event_types",
    "from_kafka",
    "to_kafka",
    "topics",
]
