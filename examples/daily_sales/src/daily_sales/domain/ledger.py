"""The ledger's rows as the poster sees them: which stores post, which days it planned, which it is trying."""

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from .days import idempotency_key


@dataclass(frozen=True, slots=True)
class PostableStore:
    """A linked store of a finalised merchant."""

    merchant_id: str
    store_id: str
    store_name: str
    tenant_id: UUID
    finalised_at: datetime


@dataclass(frozen=True, slots=True)
class DueDay:
    merchant_id: str
    store_id: str
    tenant_id: UUID
    day: date


@dataclass(frozen=True, slots=True)
class ClaimedDay:
    """A day one poster holds for one attempt; `attempt` numbers it among all attempts at that day."""

    merchant_id: str
    store_id: str
    store_name: str
    tenant_id: UUID
    day: date
    attempt: int
    redrives: int = 0
    resent: bool = False
    """The previous attempt never recorded how it ended (a crash mid-call): this one re-sends its request."""

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.store_id, self.day, self.redrives)
