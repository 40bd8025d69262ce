"""Hand-written in-memory fakes of the registry's ports; commit only on a clean exit, like PostgreSQL."""

from collections.abc import Sequence
from contextlib import asynccontextmanager
from copy import copy
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from uuid import UUID

from connection_registry.domain import Change, Grant, Graph, Merchant, Organisation, StoreRecord, TimelineEntry
from connection_registry.ports import ErasureRecord, ParkedEvent, TimelineLine
from connection_registry.settings import RegistrySettings
from shared.contracts import CloudEvent

API_TOKEN = "registry-api-token-for-tests"
STAFF_IDENTITY = {"issuer": "http://staff-idp.test", "client_id": "helpdesk-console",
                  "client_secret": "console-secret-for-tests", "redirect_uri": "http://registry/helpdesk/callback",
                  "post_logout_redirect_uri": "http://registry/helpdesk/signed-out"}
NOTIFIER = {"base_url": "http://notifier.test", "api_token": "notifier-api-token-for-tests"}
SETTINGS = RegistrySettings(database={"url": "postgresql://unused/db"}, kafka={"bootstrap_servers": "unused:9092"},
                            api_token=API_TOKEN, staff_identity=STAFF_IDENTITY, notifier=NOTIFIER,
                            console={"secure_cookie": False})


@dataclass
class FakeRegistry:
    merchants: dict[str, Merchant] = field(default_factory=dict)
    stores: dict[tuple[str, str], StoreRecord] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    inbox: set[tuple[str, UUID]] = field(default_factory=set)
    organisations: dict[tuple[str, UUID], Organisation] = field(default_factory=dict)
    grants: dict[tuple[str, str], Grant] = field(default_factory=dict)
    parked: dict[UUID, ParkedEvent] = field(default_factory=dict)
    outbox: list[CloudEvent] = field(default_factory=list)
    erasures: dict[str, ErasureRecord] = field(default_factory=dict)

    def copy(self) -> "FakeRegistry":
        return FakeRegistry(**{f.name: copy(getattr(self, f.name)) for f in fields(self)})

    def graph(self, merchant_id: str) -> Graph:
        return Graph(merchant_id, self.merchants.get(merchant_id),
                     {s.store_id: s for (m, _), s in self.stores.items() if m == merchant_id},
                     {o.tenant_id: o for (m, _), o in self.organisations.items() if m == merchant_id},
                     {g.grant_id: g for (m, _), g in self.grants.items() if m == merchant_id})

    def timeline_of(self, merchant_id: str) -> list[TimelineEntry]:
        return [t for t in self.timeline if t.merchant_id == merchant_id]

    def published(self, kind: type | None = None) -> list[CloudEvent]:
        return [e for e in self.outbox if kind is None or isinstance(e.data, kind)]


class FakeTransaction:
    def __init__(self, committed: FakeRegistry) -> None:
        self.state = committed.copy()

    async def claim(self, consumer: str, event_id: UUID) -> bool:
        if (consumer, event_id) in self.state.inbox:
            return False
        self.state.inbox.add((consumer, event_id))
        return True

    async def lock(self, merchant_id: str) -> None:
        """One transaction at a time in these tests: nothing to serialise."""

    async def lock_and_claim(self, merchant_id: str, consumer: str, event_id: UUID) -> bool:
        await self.lock(merchant_id)
        return await self.claim(consumer, event_id)

    async def lock_and_claim_all(self, consumer: str, events: Sequence[tuple[str, UUID]]) -> set[UUID]:
        return {event_id for _, event_id in events if await self.claim(consumer, event_id)}

    async def erased(self, merchant_ids: Sequence[str]) -> set[str]:
        return {merchant_id for merchant_id in merchant_ids if merchant_id in self.state.erasures}

    async def graph(self, merchant_id: str) -> Graph:
        return self.state.graph(merchant_id)

    async def apply(self, change: Change) -> None:
        if change.merchant:
            self.state.merchants[change.merchant.merchant_id] = change.merchant
        for store in change.stores:
            self.state.stores[(store.merchant_id, store.store_id)] = store
        for org in change.organisations:
            self.state.organisations[(org.merchant_id, org.tenant_id)] = org
        for grant in change.grants:
            self.state.grants[(grant.merchant_id, grant.grant_id)] = grant
        self.state.timeline.extend(change.timeline)
        self.state.outbox.extend(change.publish)

    async def park(self, event: CloudEvent, waiting_for: str) -> None:
        self.state.parked[event.id] = ParkedEvent(event, waiting_for)

    async def parked(self, merchant_id: str) -> list[ParkedEvent]:
        mine = [p for p in self.state.parked.values() if p.event.data.merchant_id == merchant_id]
        return sorted(mine, key=lambda p: (p.event.time, p.event.id))

    async def unpark(self, event_id: UUID) -> None:
        del self.state.parked[event_id]

    async def erasure(self, merchant_id: str) -> ErasureRecord | None:
        return self.state.erasures.get(merchant_id)

    async def erase(self, event: CloudEvent) -> ErasureRecord:
        state, data = self.state, event.data
        mine = lambda key: key[0] == data.merchant_id  # noqa: E731
        counts = {name: len([k for k in getattr(state, name) if mine(k)])
                  for name in ("stores", "organisations", "grants")}
        for name in counts:
            setattr(state, name, {k: v for k, v in getattr(state, name).items() if not mine(k)})
        timeline = [t for t in state.timeline if t.merchant_id != data.merchant_id]
        outbox = [e for e in state.outbox if e.data.merchant_id != data.merchant_id]
        parked = {k: p for k, p in state.parked.items() if p.event.data.merchant_id != data.merchant_id}
        record = ErasureRecord(data.merchant_id, event.id, data.requested_by, data.reference, event.time,
                               known=state.merchants.pop(data.merchant_id, None) is not None,
                               timeline_rows=len(state.timeline) - len(timeline),
                               events=len(state.outbox) - len(outbox) + len(state.parked) - len(parked),
                               audit_rows=0, **counts)
        state.timeline, state.outbox, state.parked = timeline, [*outbox, event], parked
        state.erasures[data.merchant_id] = record
        return record


class FakeKeys:
    """The per-merchant key store: which merchants' keys were destroyed (in order, repeats included)."""

    def __init__(self) -> None:
        self.forgotten: list[str] = []
        self.fail = False

    async def forget(self, merchant_id: str) -> None:
        if self.fail:
            raise ConnectionError("key store unavailable")
        self.forgotten.append(merchant_id)


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.committed = FakeRegistry()

    @asynccontextmanager
    async def __call__(self):
        tx = FakeTransaction(self.committed)
        yield tx
        self.committed = tx.state


class FakeReads:
    """Reads over whatever the unit of work last committed."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    async def graph(self, merchant_id: str) -> Graph:
        return self._uow.committed.graph(merchant_id)

    async def timeline(self, merchant_id: str, after: int, limit: int) -> list[TimelineLine]:
        lines = [TimelineLine(i, t) for i, t in enumerate(self._uow.committed.timeline_of(merchant_id), start=1)]
        return [line for line in lines if line.position > after][:limit]

    async def awaiting_finalisation(self, limit: int, offset: int = 0) -> list[Graph]:
        done = [m for m in self._uow.committed.merchants.values() if m.completion and not m.finalisation]
        done.sort(key=lambda m: (m.completion.at, m.merchant_id))
        return [self._uow.committed.graph(m.merchant_id) for m in done][offset:offset + limit]

    async def awaiting_count(self) -> int:
        return len(await self.awaiting_finalisation(1_000_000))

    async def needing_attention(self, limit: int, offset: int = 0) -> list[Graph]:
        graphs = [self._uow.committed.graph(m) for m in self._uow.committed.merchants]
        broken = sorted((g for g in graphs if g.broken()), key=lambda g: (g.broken()[0].incident.since, g.merchant_id))
        return broken[offset:offset + limit]

    async def attention_count(self) -> int:
        return len(await self.needing_attention(1_000_000))

    async def unfinished(self, connected_before: datetime, limit: int, offset: int = 0) -> list[Graph]:
        found = []
        for m in self._uow.committed.merchants.values():
            graph = self._uow.committed.graph(m.merchant_id)
            since = [s.connected_at for s in graph.connected() if s.connected_at and s.connected_at <= connected_before]
            if since and not m.completion:
                found.append((min(since), m.merchant_id, graph))
        return [graph for *_, graph in sorted(found, key=lambda f: f[:2])][offset:offset + limit]

    async def unfinished_count(self, connected_before: datetime) -> int:
        return len(await self.unfinished(connected_before, 1_000_000))

    async def search(self, text: str, limit: int, offset: int = 0) -> list[Graph]:
        graphs = [self._uow.committed.graph(m) for m in self._uow.committed.merchants]
        hits = sorted((g for g in graphs if text.strip() and _matches(g, text.strip())),
                      key=lambda g: (g.merchant.name.lower(), g.merchant.name, g.merchant_id))
        return hits[offset:offset + limit]

    async def search_count(self, text: str) -> int:
        return len(await self.search(text, 1_000_000))

    async def parked_count(self) -> int:
        return len(self._uow.committed.parked)

    async def merchant_names(self, merchant_ids) -> dict[str, str]:  # noqa: ANN001
        merchants = self._uow.committed.merchants
        return {m: merchants[m].name for m in merchant_ids if m in merchants}


def _matches(graph: Graph, text: str) -> bool:
    """The search's rule, written plainly: names contain the text (any case), ids start with it."""
    low = text.lower()
    names = [graph.merchant.name, *(s.name for s in graph.stores.values()),
             *(o.name for o in graph.organisations.values())]
    try:
        whole = UUID(text)
    except ValueError:
        whole = None
    return (any(low in name.lower() for name in names) or graph.merchant_id.lower().startswith(low)
            or any(t == whole or (len(low) >= 8 and str(t).startswith(low)) for t in graph.organisations))


class StepClock:
    """A clock that moves one second per reading: every command gets its own, later time."""

    def __init__(self, start: datetime = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now
