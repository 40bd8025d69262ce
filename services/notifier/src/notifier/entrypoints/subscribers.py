"""Kafka entrypoints: which event goes to which use case. Decoding, retries, dead letters and offset
commits are the delivery kit's (`ServiceRuntime.consumes`)."""

from collections.abc import Callable

from shared.contracts import (
    ConnectionBroken,
    ConnectionRestored,
    ConnectionsChanged,
    SetupCompleted,
    SetupReminderRequested,
)
from shared.delivery.consumer import Handle
from shared.runtime import ServiceRuntime

from ..connection_health import ConnectionHealth
from ..handlers import NotifierHandlers


def subscribe(runtime: ServiceRuntime, handlers: NotifierHandlers, health: ConnectionHealth,
              guard: Callable[[Handle], Handle] = lambda handle: handle) -> None:
    """`guard`: wraps every handler (an erased merchant's late events are ignored: docs/erasure.md)."""
    runtime.consumes(SetupCompleted, guard(handlers.notify),
                     "Tell the helpdesk the merchant is ready to finalise (email and webhook).")
    runtime.consumes(ConnectionsChanged, guard(handlers.notify),
                     "Tell the helpdesk the store → organisation map changed or broke.")
    runtime.consumes(ConnectionBroken, guard(health.broken),
                     "Tell the helpdesk (email and webhook) and the merchant (email, then reminders) that a "
                     "store's Xero connection broke.")
    runtime.consumes(ConnectionRestored, guard(health.restored),
                     "Tell the helpdesk a broken connection works again; cancel the merchant's pending reminders.")
    runtime.consumes(SetupReminderRequested, guard(handlers.remind),
                     "Email the merchant (once per request) which stores are connected and that the setup is not "
                     "finished until they click \"I have finished\" on the Xero setup page; no helpdesk notice.")
