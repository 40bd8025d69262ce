"""Kafka entrypoints: decode the contract, call the use case. Nothing else belongs here."""

from faststream.kafka import KafkaRouter

from shared.contracts import KeyValidated, topics
from shared.delivery import Received, consumer_options

from ..handlers import RegistryHandlers


def build_router(handlers: RegistryHandlers, group_id: str) -> KafkaRouter:
    router = KafkaRouter()

    @router.subscriber(topics.KEY_VALIDATED, **consumer_options(group_id),
                       description="Make the merchant's stores eligible for connection.")
    async def on_key_validated(event: KeyValidated, attributes: Received) -> None:
        await handlers.key_validated(attributes.wrap(event))

    return router
