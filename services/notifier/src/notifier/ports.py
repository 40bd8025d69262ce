"""What the notifier's use cases need from the outside world, as small Protocols."""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from shared import ports
from shared.ports import Clock

from .domain.delivery import AttemptResult, Claimed, Decision, NewDelivery, Status
from .domain.notifications import Notification
from .views import DeliveryView


class NotifierTransaction(Protocol):
    async def claim(self, consumer: str, event_id: UUID) -> bool: ...
    async def record(self, deliveries: Sequence[NewDelivery]) -> None: ...


UnitOfWork = ports.UnitOfWork[NotifierTransaction]


class Deliveries(Protocol):
    """The delivery rows as the dispatcher and the operators see them; each method is one transaction."""

    async def claim_due(self, now: datetime, limit: int, lease_until: datetime) -> list[Claimed]:
        """Lease due deliveries (skipping those another dispatcher holds) and open an attempt for each."""

    async def finish(self, claimed: Claimed, result: AttemptResult, decision: Decision, at: datetime) -> None:
        """Record the attempt's result and the decision, unless a later attempt took the delivery over."""

    async def redrive(self, delivery_id: UUID, now: datetime) -> tuple[bool, DeliveryView] | None:
        """Make a parked delivery due now; (False, view) when it was not parked; None when unknown."""

    async def get(self, delivery_id: UUID) -> DeliveryView | None: ...
    async def listing(self, status: Status | None, limit: int) -> list[DeliveryView]: ...


class Sender(Protocol):
    """One channel to the helpdesk. Never raises for a delivery problem: it returns what happened."""

    async def send(self, delivery_id: UUID, notification: Notification) -> AttemptResult: ...
