"""The registry's use cases: each consumes one event exactly once and applies the domain's decision."""

from shared.contracts import KeyValidated
from shared.delivery import CloudEvent

from . import domain
from .ports import UnitOfWork

CONSUMER = "connection_registry"


class RegistryHandlers:
    def __init__(self, unit_of_work: UnitOfWork) -> None:
        self._unit_of_work = unit_of_work

    async def key_validated(self, event: CloudEvent) -> bool:
        """Record the merchant and make its stores eligible. False when the event was already applied."""
        data = event.data
        assert isinstance(data, KeyValidated)
        async with self._unit_of_work() as tx:
            if not await tx.claim(CONSUMER, event.id):
                return False
            known = await tx.stores_of(data.merchant_id)
            await tx.apply(domain.validate_key(known, data, event.id, event.causation_id))
        return True
