"""Kafka entrypoints: which event goes to which use case. Decoding, retries, dead letters and offset
commits are the delivery kit's (`ServiceRuntime.consumes`)."""

from shared.contracts import (
    ConnectionBroken,
    ConnectionRestored,
    ConnectionsChanged,
    SetupCompleted,
    SetupReminderRequested,
)
from shared.runtime import ServiceRuntime

from ..connection_health import ConnectionHealth
from ..handlers import NotifierHandlers


def subscribe(runtime: ServiceRuntime, handlers: NotifierHandlers, health: ConnectionHealth) -> None:
    runtime.consumes(SetupCompleted, handlers.notify,
                     "Tell the helpdesk the merchant is ready to finalise (email and webhook).")
    runtime.consumes(ConnectionsChanged, handlers.notify,
                     "Tell the helpdesk the store → organisation map changed or broke.")
    runtime.consumes(ConnectionBroken, health.broken,
                     "Tell the helpdesk (email and webhook) and the merchant (email, then reminders) that a "
                     "store's Xero connection broke.")
    runtime.consumes(ConnectionRestored, health.restored,
                     "Tell the helpdesk a broken connection works again; cancel the merchant's pending reminders.")
    runtime.consumes(SetupReminderRequested, handlers.remind,
                     "Email the merchant (once per request) which stores are connected and that the setup is not "
                     "finished until they click \"I have finished\" on the Xero setup page; no helpdesk notice.")
