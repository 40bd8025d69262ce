"""The registry's use cases: one transaction each, under the merchant's lock, applying the domain's decision.

Consumed events and the registry's own commands (completion, finalisation, resend) go through the same
`apply`; a command also claims the id of the event it publishes, so a rebuild that reads that event back
from Kafka leaves the same delivery inbox behind. `handle_batch` applies a partition's consumed events (or a
rebuild's) in one transaction: one commit, one claim statement, instead of one of each per event.
"""

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from enum import Enum
from uuid import UUID, uuid4

from shared.contracts import CloudEvent, MerchantErased
from shared.ports import utc_now

from . import domain
from .domain import RULES, Change, Done, Graph, Park, Refusal
from .metrics import count_registry_event
from .ports import Clock, RegistryReads, RegistryTransaction, TimelineLine, UnitOfWork

CONSUMER = "connection_registry"
log = logging.getLogger(__name__)


class Outcome(Enum):
    APPLIED = "applied"
    PARKED = "parked"
    DUPLICATE = "duplicate"
    ERASED = "erased"          # the merchant was erased: nothing about it is recorded again (docs/erasure.md)

    def __bool__(self) -> bool:
        """Falsy when the event had already been handled, or its merchant erased: nothing was done."""
        return self not in (Outcome.DUPLICATE, Outcome.ERASED)


class RegistryHandlers:
    def __init__(self, unit_of_work: UnitOfWork, reads: RegistryReads | None = None, *, clock: Clock = utc_now,
                 new_id: Callable[[], UUID] = uuid4, batch_unit_of_work: UnitOfWork | None = None) -> None:
        """`batch_unit_of_work`: the transactions of `handle_batch` (by default `unit_of_work`'s), e.g. ones
        that write a batch's rows at its end (adapters.batch_writes)."""
        self._unit_of_work = unit_of_work
        self._batch_unit_of_work = batch_unit_of_work or unit_of_work
        self._reads = reads
        self._clock = clock
        self._new_id = new_id

    async def handle(self, event: CloudEvent) -> Outcome:
        """Apply one event exactly once, or park it until what it refers to is known (domain rule 3)."""
        outcome = await self._handle(event)
        count_registry_event(event.data, outcome.value)
        return outcome

    async def handle_batch(self, events: Sequence[CloudEvent]) -> list[Outcome]:
        """Apply events in order in ONE transaction: one statement locks their merchants and claims them all, one
        reads which of the merchants with a claimed event were erased (none is read for redeliveries). Any failure
        rolls back all of them (the delivery kit then hands them to `handle` one by one, so a failing event is
        dead-lettered alone)."""
        async with self._batch_unit_of_work() as tx:
            claimed = await tx.lock_and_claim_all(CONSUMER, [(event.data.merchant_id, event.id) for event in events])
            applying = sorted({event.data.merchant_id for event in events if event.id in claimed})
            erased = await tx.erased(applying) if applying else set()
            outcomes = []
            for event in events:
                if event.id not in claimed:   # applied before, or a repeat within this batch
                    outcomes.append(Outcome.DUPLICATE)
                    continue
                claimed.discard(event.id)
                outcomes.append(await self._apply(tx, event, erased))
        for event, outcome in zip(events, outcomes, strict=True):
            count_registry_event(event.data, outcome.value)
        return outcomes

    async def _handle(self, event: CloudEvent) -> Outcome:
        merchant_id = event.data.merchant_id
        async with self._unit_of_work() as tx:
            if not await tx.lock_and_claim(merchant_id, CONSUMER, event.id):
                return Outcome.DUPLICATE
            return await self._apply(tx, event, await tx.erased([merchant_id]))

    async def _apply(self, tx: RegistryTransaction, event: CloudEvent, erased: set[str]) -> Outcome:
        """One claimed event under its merchant's lock; `erased` (the erased merchants) grows with a MerchantErased."""
        merchant_id = event.data.merchant_id
        if merchant_id in erased:
            log.info("ignored %s %s: merchant %s was erased", event.type, event.id, merchant_id)
            return Outcome.ERASED
        if isinstance(event.data, MerchantErased):   # only a rebuild reads it back: erase what it rebuilt
            await tx.erase(event)
            erased.add(merchant_id)
            return Outcome.APPLIED
        decision = RULES[type(event.data)](await tx.graph(merchant_id), event)
        if isinstance(decision, Park):
            await tx.park(event, decision.waiting_for)
            log.info("parked %s %s of merchant %s: waiting for %s", event.type, event.id, merchant_id,
                     decision.waiting_for)
            return Outcome.PARKED
        await tx.apply(decision)
        await self._retry_parked(tx, merchant_id)
        return Outcome.APPLIED

    key_validated = store_connected = org_selected = org_disconnected = handle
    connection_broken = connection_restored = consent_abandoned = handle

    async def complete(self, merchant_id: str, completed_by: str, correlation_id: UUID | None) -> Done | Refusal:
        return await self._command(merchant_id, lambda graph: domain.complete(
            graph, completed_by, self._new_id(), self._clock(), correlation_id))

    async def finalise(self, merchant_id: str, finalised_by: str) -> Done | Refusal:
        return await self._command(merchant_id, lambda graph: domain.finalise(
            graph, finalised_by, self._new_id(), self._clock()))

    async def remind(self, merchant_id: str, requested_by: str, min_gap: timedelta) -> Done | Refusal:
        return await self._command(merchant_id, lambda graph: domain.remind(
            graph, requested_by, self._new_id(), self._clock(), min_gap=min_gap))

    async def resend(self, merchant_id: str) -> Done | Refusal:
        return await self._command(merchant_id, lambda graph: domain.resend(graph, self._new_id(), self._clock()))

    async def graph(self, merchant_id: str) -> Graph:
        return await self._read().graph(merchant_id)

    async def timeline(self, merchant_id: str, after: int = 0, limit: int = 200) -> list[TimelineLine]:
        return await self._read().timeline(merchant_id, after, limit)

    async def awaiting_finalisation(self, limit: int = 50, offset: int = 0) -> list[Graph]:
        return await self._read().awaiting_finalisation(limit, offset)

    async def awaiting_count(self) -> int:
        return await self._read().awaiting_count()

    async def needing_attention(self, limit: int = 200) -> list[Graph]:
        return await self._read().needing_attention(limit, 0)

    async def attention_count(self) -> int:
        return await self._read().attention_count()

    async def parked_count(self) -> int:
        return await self._read().parked_count()

    async def _command(self, merchant_id: str, decide: Callable[[Graph], Done | Refusal]) -> Done | Refusal:
        async with self._unit_of_work() as tx:
            await tx.lock(merchant_id)
            outcome = decide(await tx.graph(merchant_id))
            if isinstance(outcome, Done) and outcome.change is not None:
                await tx.claim(CONSUMER, outcome.event_id)
                await tx.apply(outcome.change)
        return outcome

    async def _retry_parked(self, tx: RegistryTransaction, merchant_id: str) -> None:
        """Retry the merchant's parked events, oldest first, until a full pass applies none."""
        progress = True
        while progress:
            progress = False
            for parked in await tx.parked(merchant_id):
                decision = RULES[type(parked.event.data)](await tx.graph(merchant_id), parked.event)
                if isinstance(decision, Change):
                    await tx.apply(decision)
                    await tx.unpark(parked.event.id)
                    log.info("unparked %s %s of merchant %s", parked.event.type, parked.event.id, merchant_id)
                    progress = True
                elif decision.waiting_for != parked.waiting_for:  # still parked, now waiting for something else
                    await tx.park(parked.event, decision.waiting_for)

    def _read(self) -> RegistryReads:
        if self._reads is None:
            raise RuntimeError("these handlers were built without read access")
        return self._reads
