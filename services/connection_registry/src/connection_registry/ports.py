"""What the registry's use cases need from the outside world, as small Protocols."""

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from shared import ports
from shared.contracts import CloudEvent
from shared.ports import Clock

from .domain import Change, Graph, TimelineEntry


@dataclass(frozen=True, slots=True)
class TimelineLine:
    """A stored timeline entry with its per-merchant position (1, 2, ...)."""

    position: int
    entry: TimelineEntry


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    event: CloudEvent
    waiting_for: str


class RegistryTransaction(Protocol):
    async def claim(self, consumer: str, event_id: UUID) -> bool: ...
    async def lock(self, merchant_id: str) -> None: ...
    async def lock_and_claim(self, merchant_id: str, consumer: str, event_id: UUID) -> bool:
        """`lock` then `claim`, in one round trip: False when the event was already applied."""
    async def graph(self, merchant_id: str) -> Graph: ...
    async def apply(self, change: Change) -> None:
        """Write the rows, append the timeline lines and stage `change.publish` in the outbox."""
    async def park(self, event: CloudEvent, waiting_for: str) -> None:
        """Park the event, or update what an already parked one is waiting for."""
    async def parked(self, merchant_id: str) -> list[ParkedEvent]:
        """The merchant's parked events, oldest event time first."""
    async def unpark(self, event_id: UUID) -> None: ...


UnitOfWork = ports.UnitOfWork[RegistryTransaction]


class RegistryReads(Protocol):
    """Read-only queries for the HTTP API and the helpdesk (no lock: a consistent snapshot is enough)."""

    async def graph(self, merchant_id: str) -> Graph: ...
    async def timeline(self, merchant_id: str, after: int, limit: int) -> list[TimelineLine]: ...
    async def awaiting_finalisation(self, limit: int, offset: int = 0) -> list[Graph]:
        """Completed, not finalised: who has waited longest first, one page of them."""
    async def awaiting_count(self) -> int: ...
    async def needing_attention(self, limit: int) -> list[Graph]:
        """Merchants with at least one store whose connection needs reconnecting, longest broken first."""
    async def attention_count(self) -> int:
        """How many merchants `needing_attention` would list without a limit."""
    async def parked_count(self) -> int: ...
