"""Hand-written in-memory fakes of the registry's ports; commit only on a clean exit, like PostgreSQL."""

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import UUID

from connection_registry.domain import Change, Merchant, StoreRecord, TimelineEntry


@dataclass
class FakeRegistry:
    merchants: dict[str, Merchant] = field(default_factory=dict)
    stores: dict[tuple[str, str], StoreRecord] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    inbox: set[tuple[str, UUID]] = field(default_factory=set)


class FakeTransaction:
    def __init__(self, committed: FakeRegistry) -> None:
        self.state = FakeRegistry(dict(committed.merchants), dict(committed.stores), list(committed.timeline),
                                  set(committed.inbox))

    async def claim(self, consumer: str, event_id: UUID) -> bool:
        if (consumer, event_id) in self.state.inbox:
            return False
        self.state.inbox.add((consumer, event_id))
        return True

    async def stores_of(self, merchant_id: str) -> dict[str, StoreRecord]:
        return {s.store_id: s for (m, _), s in self.state.stores.items() if m == merchant_id}

    async def apply(self, change: Change) -> None:
        if change.merchant:
            self.state.merchants[change.merchant.merchant_id] = change.merchant
        for store in change.stores:
            self.state.stores[(store.merchant_id, store.store_id)] = store
        self.state.timeline.extend(change.timeline)


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.committed = FakeRegistry()

    @asynccontextmanager
    async def __call__(self):
        tx = FakeTransaction(self.committed)
        yield tx
        self.committed = tx.state
