"""The read side of deliveries: what the API and the CLI show about a delivery and its attempts (the
helpdesk's notices and the merchants' connection-health emails alike; a merchant email's address is looked up
when it is sent and never stored)."""

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
