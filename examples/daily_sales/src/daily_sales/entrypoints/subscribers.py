"""Kafka entrypoints: which event goes to which use case. Decoding, retries, dead letters and offset commits are
the delivery kit's (`ServiceRuntime.consumes`); the merchant row lock orders one merchant's events across topics.

The map comes from the events (SetupCompleted, then ConnectionsChanged) rather than from asking Cloud POS and
the registry at finalisation: the events are the platform's record, arrive even while the registry is down, and
need no other internal API; the gateway is asked about each store's connection only just before posting.
"""

from shared.contracts import ConnectionsChanged, OrgDisconnected, SetupCompleted, SetupFinalised
from shared.runtime import ServiceRuntime

from ..handlers import MerchantEvents


def subscribe(runtime: ServiceRuntime, handlers: MerchantEvents) -> None:
    runtime.consumes(SetupCompleted, handlers.setup_completed,
                     "Record the merchant's first store → organisation map (resends are ignored).")
    runtime.consumes(ConnectionsChanged, handlers.connections_changed,
                     "Replace the map; days waiting for a reconnection are tried again.")
    runtime.consumes(SetupFinalised, handlers.setup_finalised,
                     "Start posting: yesterday's sales at once, then every day.")
    runtime.consumes(OrgDisconnected, handlers.org_disconnected,
                     "Stop posting for the organisation's stores.")
