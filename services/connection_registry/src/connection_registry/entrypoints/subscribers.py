"""Kafka entrypoints: which event goes to which use case. Decoding, retries, dead letters and offset
commits are the delivery kit's (`ServiceRuntime.consumes`).

All seven topics are consumed in the runtime's one consumer group; the record key (the merchant id) keeps
one merchant's events in order within each topic, and the handlers' per-merchant lock plus the domain's
parking rule take care of order across topics.
"""

import functools

from shared.contracts import (ConnectionBroken, ConnectionRestored, ConsentAbandoned, KeyValidated, OrgDisconnected,
                              OrgSelected, StoreConnected)
from shared.runtime import ServiceRuntime

from ..handlers import RegistryHandlers


def subscribe(runtime: ServiceRuntime, handlers: RegistryHandlers) -> None:
    """Each topic's partition batch is applied in one transaction (`handle_batch`), one by one when that fails."""
    consumes = functools.partial(runtime.consumes, batch=handlers.handle_batch)
    consumes(KeyValidated, handlers.key_validated,
             "Record the merchant and make its stores eligible for connection.")
    consumes(StoreConnected, handlers.store_connected,
             "Record the store's consent: its grant and the organisations it authorised.")
    consumes(OrgSelected, handlers.org_selected, "Connect the store to the chosen organisation.")
    consumes(OrgDisconnected, handlers.org_disconnected,
             "Disconnect every store linked to the organisation (one StoreDisconnected each).")
    consumes(ConnectionBroken, handlers.connection_broken,
             "Mark the store 'reconnect needed' (reason, since, incident); its link and the map stay.")
    consumes(ConnectionRestored, handlers.connection_restored,
             "Mark the store connected again, following the organisation it was reconnected to.")
    consumes(ConsentAbandoned, handlers.consent_abandoned,
             "The store no longer waits for a selection; its released organisations are disconnected.")
