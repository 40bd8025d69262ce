"""The notifier's use cases. Consuming an event only RECORDS what to send, in the transaction of its inbox
claim, so a slow or dead helpdesk never holds up a partition; the dispatcher does the sending."""

import logging
from collections.abc import Callable
from uuid import UUID

from shared.contracts import CloudEvent

from .domain import delivery as rules
from .domain.delivery import Channel, Status
from .domain.notifications import notification_for
from .ports import Clock, Deliveries, UnitOfWork
from .views import DeliveryView, RedriveResult

CONSUMER = "notifier"
log = logging.getLogger(__name__)


class NotifierHandlers:
    def __init__(self, unit_of_work: UnitOfWork, channels: tuple[Channel, ...], clock: Clock,
                 on_recorded: Callable[[], None] = lambda: None) -> None:
        """`on_recorded` runs after a transaction that recorded deliveries committed (the dispatcher's wake)."""
        self._unit_of_work = unit_of_work
        self._channels = channels
        self._clock = clock
        self._on_recorded = on_recorded

    async def notify(self, event: CloudEvent) -> int:
        """Record one delivery per configured channel; 0 when the event was already recorded."""
        notification = notification_for(event.id, event.time, event.data)
        async with self._unit_of_work() as tx:
            if not await tx.claim(CONSUMER, event.id):
                return 0
            planned = rules.plan(notification, self._channels, self._clock())
            await tx.record(planned)
        if not planned:
            log.warning("no helpdesk channel configured: event %s (%s) notifies nobody", event.id, event.type)
        else:
            self._on_recorded()
        return len(planned)


class DeliveryAdmin:
    """What operators do with deliveries (API and CLI share it): look, and re-drive parked ones."""

    def __init__(self, deliveries: Deliveries, clock: Clock) -> None:
        self._deliveries = deliveries
        self._clock = clock

    async def redrive(self, delivery_id: UUID) -> RedriveResult | None:
        """Parked → due now, with a fresh retry schedule. Anything else is left alone (no duplicate)."""
        found = await self._deliveries.redrive(delivery_id, self._clock())
        if found is None:
            return None
        redriven, view = found
        if redriven:
            log.info("delivery %s (%s) re-driven", delivery_id, view.channel)
        return RedriveResult(redriven=redriven, delivery=view)

    async def get(self, delivery_id: UUID) -> DeliveryView | None:
        return await self._deliveries.get(delivery_id)

    async def listing(self, status: Status | None = Status.PARKED, limit: int = 100) -> list[DeliveryView]:
        return await self._deliveries.listing(status, limit)
