"""The read side of deliveries: what the API and the CLI show about a delivery and its attempts (the
helpdesk's notices and the merchants' connection-health emails alike; a merchant email's address is looked up
when it is sent and never stored)."""

from datetime import datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from .domain.delivery import Channel, Status
from .domain.notifications import Kind


class AttemptView(BaseModel):
    attempt: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    status_code: int | None
    detail: str | None


class DeliveryView(BaseModel):
    delivery_id: UUID
    event_id: UUID
    kind: Kind
    channel: Channel
    merchant_id: str
    incident_id: UUID | None = None
    status: Status
    attempts: int
    redrives: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    parked_at: datetime | None
    cancelled_at: datetime | None = None
    history: list[AttemptView] = []


class RedriveResult(BaseModel):
    """`redriven` is false when the delivery was not parked: then nothing changed and nothing is resent."""

    redriven: bool
    delivery: DeliveryView


class Order(StrEnum):
    """Listing order: by when a delivery was parked for the parked ones, else by when it was recorded."""

    OLDEST = "oldest"
    NEWEST = "newest"


class DeliveryCount(BaseModel):
    status: Status | Literal["all"]
    merchant_id: str | None = None
    count: int


class MerchantNotices(BaseModel):
    """What the notifier sent one merchant: `emails_sent` counts every merchant email delivered (of any kind),
    `reminders_sent` and `setup_reminders_sent` those of each reminder kind among them; `last_sent_at` is when
    the latest of them was delivered; `parked` counts the merchant's parked deliveries on any channel (the
    helpdesk's notices about them included)."""

    merchant_id: str
    emails_sent: int
    reminders_sent: int
    setup_reminders_sent: int
    last_sent_at: datetime | None
    parked: int
