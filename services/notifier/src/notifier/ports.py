"""What the notifier's use cases need from the outside world, as small Protocols and the errors adapters raise.

Inside a transaction the rows are split by what they are about (deliveries, incidents); each use case names
the ones it touches in its own `*Work` Protocol.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from shared import ports
from shared.ports import Clock

from .domain.delivery import AttemptResult, Channel, Claimed, Decision, NewDelivery, Payload, Status
from .domain.incidents import Incident
from .domain.notifications import Kind
from .views import DeliveryView, MerchantNotices


class CloudPosUnavailable(Exception):
    """Cloud POS did not answer usefully (down, timeout, 5xx, refused our token, an unreadable answer)."""


class MerchantContacts(Protocol):
    async def contact_email(self, merchant_id: str) -> str | None:
        """The address Cloud POS holds for the merchant; None when it holds none (or knows no such merchant).
        Raises CloudPosUnavailable."""


class NotifierTransaction(Protocol):
    """Recording a helpdesk notice for a registry event: the inbox claim and the deliveries."""

    async def claim(self, consumer: str, event_id: UUID) -> bool: ...
    async def record(self, deliveries: Sequence[NewDelivery]) -> None: ...


UnitOfWork = ports.UnitOfWork[NotifierTransaction]


class DeliveryRows(Protocol):
    async def record(self, deliveries: Sequence[NewDelivery]) -> None:
        """Insert each delivery unless its id is there; a merchant email not attempted yet takes in the new
        one's stores it lacks (`MerchantNotice.with_store`)."""

    async def withdraw(self, merchant_id: str, incident_ids: Sequence[UUID], kinds: Sequence[Kind], at: datetime,
                       why: str, store_id: str | None = None) -> int:
        """The merchant's pending or parked emails of these kinds and incidents: without `store_id` cancelled;
        with it, that store leaves them and those left without a store are cancelled. How many were cancelled."""


class IncidentRows(Protocol):
    async def open(self, incident: Incident) -> datetime | None:
        """Record the break (once per incident and store); when it was already restored, that time."""

    async def restore(self, merchant_id: str, store_id: str, incident_id: UUID, at: datetime) -> list[Incident]:
        """Mark restored the incident and any older open one of the store; the incidents it closed (the named
        one first, recorded with its ids only when its break was not seen yet)."""

    async def stop_reminders(self, merchant_id: str, incident_id: UUID, at: datetime) -> list[Incident]:
        """Note that the merchant stopped the incident's reminders; its stores' incidents (none if unknown)."""


class IncidentWork(Protocol):
    """A ConnectionBroken or ConnectionRestored: the inbox claim, its incident, the deliveries."""

    async def claim(self, consumer: str, event_id: UUID) -> bool: ...

    @property
    def deliveries(self) -> DeliveryRows: ...

    @property
    def incidents(self) -> IncidentRows: ...


class StopWork(Protocol):
    """The merchant's stop link: the incident and its reminders."""

    @property
    def deliveries(self) -> DeliveryRows: ...

    @property
    def incidents(self) -> IncidentRows: ...


class Deliveries(Protocol):
    """The delivery rows as the dispatcher and the operators see them; each method is one transaction."""

    async def claim_due(self, now: datetime, limit: int, lease_until: datetime,
                        room: Mapping[Channel, int] | None = None) -> list[Claimed]:
        """Lease due deliveries (skipping those another dispatcher holds) and open an attempt for each; the
        channels in turns (each one's oldest due first), each channel at most its `room` (None: no limit)."""

    async def finish(self, claimed: Claimed, result: AttemptResult, decision: Decision, at: datetime,
                     follow_ups: Sequence[NewDelivery] = ()) -> None:
        """Record the attempt's result and the decision, unless a later attempt took the delivery over; record
        `follow_ups` (new deliveries the result calls for) in the same transaction."""

    async def redrive(self, delivery_id: UUID, now: datetime) -> tuple[bool, DeliveryView] | None:
        """Make a parked delivery due now; (False, view) when it was not parked; None when unknown."""

    async def get(self, delivery_id: UUID) -> DeliveryView | None: ...
    async def listing(self, status: Status | None, limit: int, *, offset: int = 0, merchant_id: str | None = None,
                      newest_first: bool = False) -> list[DeliveryView]:
        """Without their attempts; parked ones by `parked_at`, any other status (or all) by `created_at`."""
    async def count(self, status: Status | None, merchant_id: str | None = None) -> int: ...
    async def notices(self, merchant_ids: Sequence[str]) -> list[MerchantNotices]:
        """One line per merchant with at least one delivery (absent: nothing recorded for them)."""


class Sender(Protocol):
    """One channel (the helpdesk's email or webhook, the merchant's email). Never raises for a delivery problem:
    it returns what happened."""

    async def send(self, delivery_id: UUID, notification: Payload) -> AttemptResult: ...
