"""What helpdesk staff see and do in the console: the queues (oldest first), search, a merchant's page, and
the actions (finalise, resend, remind, re-drive), each checked against the staff member's role and audited.

The notifier's records (what was sent, what is parked) are read through its API; when it does not answer, the
pages still show everything the registry knows and say what is missing.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar
from uuid import UUID

from .domain import Done, Graph, Refusal
from .domain.staff import Permission, StaffSession
from .erasure import Erased, Erasure
from .handlers import RegistryHandlers
from .ports import (Clock, NoticeLine, NoticeSummary, Notifications, NotifierUnavailable, ParkedPage, RegistryReads,
                    TimelineLine)
from .staff_access import StaffAccess

T = TypeVar("T")
PAGE_SIZE = 50
FORBIDDEN = Refusal("forbidden", "Your role does not allow that; ask a helpdesk lead.")
TICKET = re.compile(r"[A-Za-z0-9._:#/-]{1,64}")     # MerchantErased.reference


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    number: int
    size: int = PAGE_SIZE

    @property
    def first(self) -> int:
        return (self.number - 1) * self.size + 1

    @property
    def has_next(self) -> bool:
        return self.first + len(self.items) - 1 < self.total


@dataclass(frozen=True, slots=True)
class Sent:
    """The notifier's summaries for a page of merchants; `available` False when it did not answer."""

    by_merchant: dict[str, NoticeSummary]
    available: bool = True


@dataclass(frozen=True, slots=True)
class MerchantPage:
    graph: Graph
    timeline: list[TimelineLine]
    notices: list[NoticeLine] | None           # None: the notifier did not answer


@dataclass(frozen=True, slots=True)
class Redriven:
    delivery_id: UUID
    redriven: bool


def _offset(page: int) -> int:
    return (page - 1) * PAGE_SIZE


class Console:
    def __init__(self, registry: RegistryHandlers, reads: RegistryReads, notifications: Notifications,
                 access: StaffAccess, clock: Clock, *, unfinished_after: timedelta, reminder_gap: timedelta,
                 erasure: Erasure | None = None) -> None:
        self._erasure = erasure
        self._registry = registry
        self._reads = reads
        self._notifications = notifications
        self._access = access
        self._clock = clock
        self._unfinished_after = unfinished_after
        self._reminder_gap = reminder_gap

    # -- queues, each oldest first -------------------------------------------------------------------------
    async def awaiting(self, page: int) -> Page[Graph]:
        graphs = await self._reads.awaiting_finalisation(PAGE_SIZE, _offset(page))
        return Page(graphs, await self._reads.awaiting_count(), page)

    async def attention(self, page: int) -> tuple[Page[Graph], Sent]:
        graphs = await self._reads.needing_attention(PAGE_SIZE, _offset(page))
        return Page(graphs, await self._reads.attention_count(), page), await self._sent(graphs)

    async def unfinished(self, page: int) -> tuple[Page[Graph], datetime]:
        before = self._clock() - self._unfinished_after
        graphs = await self._reads.unfinished(before, PAGE_SIZE, _offset(page))
        return Page(graphs, await self._reads.unfinished_count(before), page), before

    async def parked(self, page: int) -> tuple[Page[NoticeLine] | None, dict[str, str], int]:
        """The notifier's parked page (None: it did not answer), the merchants' names, and how many of the
        registry's own events are parked waiting for what they refer to."""
        waiting = await self._reads.parked_count()
        try:
            found: ParkedPage = await self._notifications.parked(PAGE_SIZE, _offset(page))
        except NotifierUnavailable:
            return None, {}, waiting
        names = await self._reads.merchant_names(sorted({n.merchant_id for n in found.lines}))
        return Page(found.lines, found.total, page), names, waiting

    async def search(self, text: str, page: int) -> Page[Graph]:
        text = text.strip()
        if not text:
            return Page([], 0, page)
        return Page(await self._reads.search(text, PAGE_SIZE, _offset(page)), await self._reads.search_count(text),
                    page)

    async def merchant(self, merchant_id: str) -> MerchantPage | None:
        graph = await self._reads.graph(merchant_id)
        if graph.merchant is None:
            return None
        try:
            notices: list[NoticeLine] | None = await self._notifications.sent_to(merchant_id, 100)
        except NotifierUnavailable:
            notices = None
        return MerchantPage(graph, await self._reads.timeline(merchant_id, 0, 1000), notices)

    async def _sent(self, graphs: list[Graph]) -> Sent:
        if not graphs:
            return Sent({})
        try:
            return Sent(await self._notifications.summaries([g.merchant_id for g in graphs]))
        except NotifierUnavailable:
            return Sent({}, available=False)

    # -- actions, each checked and audited -----------------------------------------------------------------
    async def finalise(self, staff: StaffSession, merchant_id: str) -> Done | Refusal:
        return await self._act(staff, Permission.FINALISE, merchant_id,
                               lambda: self._registry.finalise(merchant_id, staff.member.actor))

    async def resend(self, staff: StaffSession, merchant_id: str) -> Done | Refusal:
        return await self._act(staff, Permission.RESEND, merchant_id, lambda: self._registry.resend(merchant_id))

    async def remind(self, staff: StaffSession, merchant_id: str) -> Done | Refusal:
        return await self._act(staff, Permission.REMIND, merchant_id,
                               lambda: self._registry.remind(merchant_id, staff.member.actor, self._reminder_gap))

    async def redrive(self, staff: StaffSession, delivery_id: UUID) -> Redriven | Refusal:
        if not staff.member.may(Permission.REDRIVE):
            await self._access.record(staff, "redrive", FORBIDDEN.code, target=str(delivery_id))
            return Refusal("forbidden", "Only a helpdesk lead can re-drive a parked notification.")
        try:
            redriven = await self._notifications.redrive(delivery_id)
        except NotifierUnavailable:
            await self._access.record(staff, "redrive", "notifier_unavailable", target=str(delivery_id))
            return Refusal("notifier_unavailable", "The notifier is not answering; nothing was re-driven.")
        await self._access.record(staff, "redrive", "done" if redriven else "not_parked", target=str(delivery_id))
        return Redriven(delivery_id, redriven)

    async def erase(self, staff: StaffSession, merchant_id: str, confirmation: str, reference: str) -> Erased | Refusal:
        """Leads only, and only once the lead typed the merchant id again (a wrong page, a stray click erase
        nothing); every attempt is audited, refusals included."""
        if (refusal := self._erase_refusal(staff, merchant_id, confirmation, reference)) or self._erasure is None:
            refusal = refusal or Refusal("erasure_unavailable", "Erasure is not available here.")
            await self._access.record(staff, Permission.ERASE.value, refusal.code, merchant_id=merchant_id)
            return refusal
        erased = await self._erasure.erase(merchant_id, staff.member.actor, reference.strip())
        await self._access.record(staff, Permission.ERASE.value, "already_erased" if erased.already_erased else "done",
                                  merchant_id=merchant_id, target=str(erased.record.event_id))
        return erased

    @staticmethod
    def _erase_refusal(staff: StaffSession, merchant_id: str, confirmation: str, reference: str) -> Refusal | None:
        if not staff.member.may(Permission.ERASE):
            return FORBIDDEN
        if confirmation.strip() != merchant_id:
            return Refusal("not_confirmed", "Type the merchant id exactly to confirm: nothing was erased.")
        if not TICKET.fullmatch(reference.strip()):
            return Refusal("no_reference", "Give the ticket the erasure was asked in: nothing was erased.")
        return None

    async def _act(self, staff: StaffSession, permission: Permission, merchant_id: str,
                   action) -> Done | Refusal:  # noqa: ANN001
        if not staff.member.may(permission):
            await self._access.record(staff, permission.value, FORBIDDEN.code, merchant_id=merchant_id)
            return FORBIDDEN
        outcome: Done | Refusal = await action()
        result = outcome.code if isinstance(outcome, Refusal) else "done" if outcome.change else "already_done"
        await self._access.record(staff, permission.value, result, merchant_id=merchant_id,
                                  target=None if isinstance(outcome, Refusal) else str(outcome.event_id))
        return outcome
