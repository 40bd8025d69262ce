"""Kafka entrypoints: decode the contract, call the use case. Nothing else belongs here.

All four topics are consumed in the runtime's one consumer group; the record key (the merchant id) keeps
one merchant's events in order within each topic, and the handlers' per-merchant lock plus the domain's
parking rule take care of order across topics.
"""

from faststream.kafka import KafkaRouter

from shared.contracts import KeyValidated, OrgDisconnected, OrgSelected, StoreConnected, topics
from shared.delivery import Received, consumer_options

from ..handlers import RegistryHandlers


def build_router(handlers: RegistryHandlers, group_id: str) -> KafkaRouter:
    router = KafkaRouter()
    options = consumer_options(group_id)

    @router.subscriber(topics.KEY_VALIDATED, **options,
                       description="Record the merchant and make its stores eligible for connection.")
    async def on_key_validated(event: KeyValidated, attributes: Received) -> None:
        await handlers.key_validated(attributes.wrap(event))

    @router.subscriber(topics.STORE_CONNECTED, **options,
                       description="Record the store's consent: its grant and the organisations it authorised.")
    async def on_store_connected(event: StoreConnected, attributes: Received) -> None:
        await handlers.store_connected(attributes.wrap(event))

    @router.subscriber(topics.ORG_SELECTED, **options,
                       description="Connect the store to the chosen organisation.")
    async def on_org_selected(event: OrgSelected, attributes: Received) -> None:
        await handlers.org_selected(attributes.wrap(event))

    @router.subscriber(topics.ORG_DISCONNECTED, **options,
                       description="Disconnect every store linked to the organisation (one StoreDisconnected each).")
    async def on_org_disconnected(event: OrgDisconnected, attributes: Received) -> None:
        await handlers.org_disconnected(attributes.wrap(event))

    return router
