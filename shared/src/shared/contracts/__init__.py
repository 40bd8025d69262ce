"""Event contracts shared by every service and by the wider platform."""

from . import topics
from .base import TYPE_PREFIX, Event, event_types
from .events import (
    AuthorisedOrganisation,
    ConnectionsChanged,
    DisconnectReason,
    KeyValidated,
    Licence,
    OrgDisconnected,
    OrgSelected,
    SetupCompleted,
    SetupFinalised,
    Store,
    StoreConnected,
    StoreDisconnected,
    StoreLink,
)

__all__ = [
    "TYPE_PREFIX",
    "AuthorisedOrganisation",
    "ConnectionsChanged",
    "DisconnectReason",
    "Event",
    "KeyValidated",
    "Licence",
    "OrgDisconnected",
    "OrgSelected",
    "SetupCompleted",
    "SetupFinalised",
    "Store",
    "StoreConnected",
    "StoreDisconnected",
    "StoreLink",
    "event_types",
    "topics",
]
