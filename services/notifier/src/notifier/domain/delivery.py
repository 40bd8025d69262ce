"""One delivery per (event, channel), or per (incident, store or merchant, notice, channel) for connection
health: its identity, how an attempt's result is judged, and what comes next.

Retries follow a Svix-like schedule with full jitter: before retry n the wait is uniform in
[0, schedule[n-1]], raised to the receiver's Retry-After (429/503) when that is longer. When the
schedule is spent, or the receiver refuses for good (3xx, most 4xx), the delivery is parked until
someone re-drives it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid5

from pydantic import TypeAdapter

from .incidents import MerchantNotice
from .notifications import Notification
from .setup_reminders import SetupReminder

_NAMESPACE = UUID("5b0d7c52-3f0e-4a53-9f6e-6e6f74696669")  # "notifi"
RETRYABLE_4XX = frozenset({408, 409, 425, 429})
RETRY_AFTER_STATUSES = frozenset({429, 503})
SVIX_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class Channel(StrEnum):
    EMAIL = "email"                    # the helpdesk's mailbox
    WEBHOOK = "webhook"                # the helpdesk's webhook
    MERCHANT_EMAIL = "merchant_email"  # the merchant, at the contact email Cloud POS holds (looked up at send time)


HELPDESK_CHANNELS = (Channel.EMAIL, Channel.WEBHOOK)
Payload = Notification | MerchantNotice | SetupReminder
"""What a delivery carries: a helpdesk notice, or (channel merchant_email) an email to the merchant."""
_TO_MERCHANT: TypeAdapter[MerchantNotice | SetupReminder] = TypeAdapter(MerchantNotice | SetupReminder)


class Status(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    PARKED = "parked"
    CANCELLED = "cancelled"  # a merchant notice no longer wanted: the connection was restored, or reminders stopped


class Outcome(StrEnum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"    # try again later
    PERMANENT = "permanent"    # the receiver refused it for good: park


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt got back; `detail` is for people and never holds secrets."""

    outcome: Outcome
    detail: str = ""
    status_code: int | None = None
    retry_after: float | None = None
    no_recipient: bool = False  # the merchant has no usable contact email: the helpdesk is told instead


@dataclass(frozen=True, slots=True)
class NewDelivery:
    delivery_id: UUID
    channel: Channel
    notification: Payload
    due_at: datetime
    recorded_at: datetime | None = None  # when it is due later than recorded (a reminder); else due_at

    @property
    def created_at(self) -> datetime:
        return self.recorded_at or self.due_at


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery leased to one dispatcher for one attempt; `attempt` numbers it among all attempts."""

    delivery_id: UUID
    channel: Channel
    notification: Payload
    attempt: int
    cycle_attempt: int


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    schedule: tuple[float, ...] = SVIX_SCHEDULE
    max_retry_after: float = 36000.0

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    next_attempt_at: datetime | None
    note: str


def delivery_id(event_id: UUID, channel: Channel) -> UUID:
    """Stable for one event and channel, even if the event is processed again from scratch."""
    return uuid5(_NAMESPACE, f"{event_id}/{channel.value}")


def plan(notification: Notification, channels: tuple[Channel, ...], now: datetime) -> list[NewDelivery]:
    """One delivery per configured channel, due at once."""
    return [NewDelivery(delivery_id(notification.event_id, c), c, notification, now) for c in channels]


def plan_to_merchant(reminder: SetupReminder, now: datetime) -> list[NewDelivery]:
    """The merchant's one email for the event, due at once (no helpdesk notice)."""
    channel = Channel.MERCHANT_EMAIL
    return [NewDelivery(delivery_id(reminder.event_id, channel), channel, reminder, now)]


def incident_delivery_id(incident_id: UUID, about: str, notice: str, channel: Channel) -> UUID:
    """Stable for one incident, what it is about (a store, or `merchant:<id>`) and the notice, whichever event
    (or instance) records it: a redelivered or republished ConnectionBroken finds the row there and adds nothing."""
    return uuid5(_NAMESPACE, f"incident/{incident_id}/{about}/{notice}/{channel.value}")


def load_payload(channel: Channel, raw: str | bytes) -> Payload:
    """A stored delivery's payload; the channel says whom it is for, the fields which email (each model forbids
    the other's)."""
    if channel is Channel.MERCHANT_EMAIL:
        return _TO_MERCHANT.validate_json(raw)
    return Notification.model_validate_json(raw)


def after_attempt(result: AttemptResult, cycle_attempt: int, policy: RetryPolicy, now: datetime,
                  random: Callable[[], float]) -> Decision:
    """Delivered, retry at a jittered time, or park."""
    if result.outcome is Outcome.DELIVERED:
        return Decision(Status.DELIVERED, None, "delivered")
    if result.outcome is Outcome.PERMANENT:
        return Decision(Status.PARKED, None, f"refused for good: {result.detail}")
    if cycle_attempt >= policy.max_attempts:
        return Decision(Status.PARKED, None, f"{cycle_attempt} attempts failed; last: {result.detail}")
    delay = random() * policy.schedule[cycle_attempt - 1]
    if result.retry_after is not None:
        delay = max(delay, min(result.retry_after, policy.max_retry_after))
    return Decision(Status.PENDING, now + timedelta(seconds=delay), f"retrying in {delay:.0f}s: {result.detail}")


def judge_http(status: int, retry_after: float | None = None, detail: str = "") -> AttemptResult:
    """2xx delivered; 3xx and 4xx (but 408/409/425/429) permanent; the rest worth retrying."""
    text = f"HTTP {status}" + (f": {detail}" if detail else "")
    if 200 <= status < 300:
        return AttemptResult(Outcome.DELIVERED, text, status)
    if 300 <= status < 500 and status not in RETRYABLE_4XX:
        return AttemptResult(Outcome.PERMANENT, text, status)
    honoured = retry_after if status in RETRY_AFTER_STATUSES else None
    return AttemptResult(Outcome.TRANSIENT, text, status, honoured)


def can_redrive(status: Status) -> bool:
    """Only parked deliveries are re-driven: a delivered one must never be sent twice, a cancelled one not at all."""
    return status is Status.PARKED
