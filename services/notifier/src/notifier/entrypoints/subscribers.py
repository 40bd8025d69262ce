"""Kafka entrypoints: decode the contract, call the use case. Nothing else belongs here."""

from faststream.kafka import KafkaRouter

from shared.contracts import ConnectionsChanged, SetupCompleted, topics
from shared.delivery import Received, consumer_options

from ..handlers import NotifierHandlers


def build_router(handlers: NotifierHandlers, group_id: str) -> KafkaRouter:
    router = KafkaRouter()

    @router.subscriber(topics.SETUP_COMPLETED, **consumer_options(group_id),
                       description="Tell the helpdesk the merchant is ready to finalise (email and webhook).")
    async def on_setup_completed(event: SetupCompleted, attributes: Received) -> None:
        await handlers.notify(attributes.wrap(event))

    @router.subscriber(topics.CONNECTIONS_CHANGED, **consumer_options(group_id),
                       description="Tell the helpdesk the store → organisation map changed or broke.")
    async def on_connections_changed(event: ConnectionsChanged, attributes: Received) -> None:
        await handlers.notify(attributes.wrap(event))

    return router
