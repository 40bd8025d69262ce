"""The notifier's use cases. Consuming an event only RECORDS what to send, in the transaction of its inbox
claim, so a slow or dead helpdesk never holds up a partition; the dispatcher does the sending."""

import logging
from collections.abc import Callable, Sequence
from uuid import UUID

from shared.contracts import CloudEvent, SetupReminderRequested

from .domain import delivery as rules
from .domain.delivery import Channel, NewDelivery, Status
from .domain.notifications import notification_for
from .domain.setup_reminders import reminder_of
from .ports import Clock, Deliveries, UnitOfWork
from .views import DeliveryView, MerchantNotices, Order, RedriveResult

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
        planned = await self._record(event, rules.plan(notification, self._channels, self._clock()))
        if planned is None:
            return 0
        if not planned:
            log.warning("no helpdesk channel configured: event %s (%s) notifies nobody", event.id, event.type)
        return len(planned)

    async def remind(self, event: CloudEvent) -> int:
        """Record the merchant's one "finish your setup" email (an agent asked: the helpdesk is not told);
        0 when the event was already recorded."""
        if not isinstance(event.data, SetupReminderRequested):
            raise TypeError(f"not a SetupReminderRequested: {type(event.data).__name__}")
        reminder = reminder_of(event.id, event.time, event.data)
        planned = await self._record(event, rules.plan_to_merchant(reminder, self._clock()))
        if planned:
            log.info("merchant %s: reminder to finish the setup recorded (asked by %s)", reminder.merchant_id,
                     reminder.requested_by)
        return len(planned or ())

    async def _record(self, event: CloudEvent, planned: list[NewDelivery]) -> list[NewDelivery] | None:
        """Claim the event and record its deliveries in one transaction; None when it was claimed before."""
        async with self._unit_of_work() as tx:
            if not await tx.claim(CONSUMER, event.id):
                return None
            await tx.record(planned)
        if planned:
            self._on_recorded()
        return planned


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

    async def listing(self, status: Status | None = Status.PARKED, limit: int = 100, *, offset: int = 0,
                      merchant_id: str | None = None, order: Order = Order.OLDEST) -> list[DeliveryView]:
        """Parked ones by when they were parked, others by when they were recorded; oldest first unless asked."""
        return await self._deliveries.listing(status, limit, offset=offset, merchant_id=merchant_id,
                                              newest_first=order is Order.NEWEST)

    async def count(self, status: Status | None = Status.PARKED, merchant_id: str | None = None) -> int:
        return await self._deliveries.count(status, merchant_id)

    async def notices(self, merchant_ids: Sequence[str]) -> list[MerchantNotices]:
        """What each merchant was sent (merchants with nothing recorded are left out)."""
        return await self._deliveries.notices(sorted(set(merchant_ids)))
