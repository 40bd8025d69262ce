"""What every use case shares: its dependencies, the event envelope, and the system actor's name."""

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from shared.contracts import Event
from shared.delivery import CloudEvent

from ..ports import Clock, CloudPos, KeyValidator, Registry, Sealer, UnitOfWork, XeroApi, XeroIdentity

SOURCE = "/cloudpos-xero/oauth_gateway"
SYSTEM_ACTOR = "oauth_gateway"      # who acts when nobody clicked (keep-alive, removal detection)
XERO_ACTOR = "xero"                 # the change happened inside Xero


@dataclass(frozen=True, slots=True)
class Deps:
    unit_of_work: UnitOfWork
    clock: Clock
    identity: XeroIdentity
    api: XeroApi
    cloudpos: CloudPos
    key_validator: KeyValidator
    registry: Registry
    sealer: Sealer
    flow_ttl: timedelta = timedelta(minutes=10)
    session_idle: timedelta = timedelta(minutes=30)
    session_absolute: timedelta = timedelta(hours=12)


def envelope(data: Event, subject: str, correlation_id: UUID | None = None) -> CloudEvent:
    return CloudEvent(data=data, source=SOURCE, subject=subject, correlation_id=correlation_id)


def clip(name: str | None, fallback: str) -> str:
    """Event names are 1..200 characters; Xero's `tenantName` is optional."""
    text = (name or "").strip() or fallback
    return text[:200]
