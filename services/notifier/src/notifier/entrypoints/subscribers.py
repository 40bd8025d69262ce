"""Kafka entrypoints: which event goes to which use case. Decoding, retries, dead letters and offset
commits are the delivery kit's (`ServiceRuntime.consumes`)."""

from shared.contracts import ConnectionsChanged, SetupCompleted
from shared.runtime import ServiceRuntime

from ..handlers import NotifierHandlers


def subscribe(runtime: ServiceRuntime, handlers: NotifierHandlers) -> None:
    runtime.consumes(SetupCompleted, handlers.notify,
                     "Tell the helpdesk the merchant is ready to finalise (email and webhook).")
    runtime.consumes(ConnectionsChanged, handlers.notify,
                     "Tell the helpdesk the store → organisation map changed or broke.")
