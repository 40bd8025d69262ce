"""The read side of deliveries: what the API and the CLI show about a delivery and its attempts."""

from datetime import datetime
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
    status: Status
    attempts: int
    redrives: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    parked_at: datetime | None
    history: list[AttemptView] = []


class RedriveResult(BaseModel):
    """`redriven` is false when the delivery was not parked: then nothing changed and nothing is resent."""

    redriven: bool
    delivery: DeliveryView
