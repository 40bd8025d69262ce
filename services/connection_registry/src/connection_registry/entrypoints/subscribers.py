"""Kafka entrypoints: which event goes to which use case. Decoding, retries, dead letters and offset
commits are the delivery kit's (`ServiceRuntime.consumes`).

All seven topics are consumed in the runtime's one consumer group; the record key (the merchant id) keeps
one merchant's events in order within each topic, and the handlers' per-merchant lock plus the domain's
parking rule take care of order across topics.
"""

from shared.contracts import (ConnectionBroken, ConnectionRestored, ConsentAbandoned, KeyValidated, OrgDisconnected,
                              OrgSelected, StoreConnected)
from shared.runtime import ServiceRuntime

from ..handlers import RegistryHandlers


def subscribe(runtime: ServiceRuntime, handlers: RegistryHandlers) -> None:
    runtime.consumes(KeyValidated, handlers.key_validated,
                     "Record the merchant and make its stores eligible for connection.")
    runtime.consumes(StoreConnected, handlers.store_connected,
                     "Record the store's consent: its grant and the organisations it authorised.")
    runtime.consumes(OrgSelected, handlers.org_selected, "Connect the store to the chosen organisation.")
    runtime.consumes(OrgDisconnected, handlers.org_disconnected,
                     "Disconnect every store linked to the organisation (one StoreDisconnected each).")
    runtime.consumes(ConnectionBroken, handlers.connection_broken,
                     "Mark the store 'reconnect needed' (reason, since, incident); its link and the map stay.")
    runtime.consumes(ConnectionRestored, handlers.connection_restored,
                     "Mark the store connected again, following the organisation it was reconnected to.")
    runtime.consumes(ConsentAbandoned, handlers.consent_abandoned,
                     "The store no longer waits for a selection; its released organisations are disconnected.")
