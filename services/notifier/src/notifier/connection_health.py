"""The use cases of connection health: a break tells the helpdesk and the merchant (then reminds the merchant),
a restoration tells the helpdesk and cancels what the merchant was still owed, the stop link ends the reminders.

Like every notice, these only RECORD deliveries, in the transaction of the inbox claim; the dispatcher sends.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from shared import ports
from shared.contracts import CloudEvent, ConnectionBroken, ConnectionRestored

from .domain import health
from .domain.delivery import Channel
from .domain.incidents import Incident, ReminderSchedule, incident_of
from .domain.notifications import Kind
from .domain.refusals import Refusal
from .domain.stop_links import read_stop_token
from .handlers import CONSUMER
from .metrics import REMINDERS_STOPPED
from .ports import Clock, IncidentWork, StopWork

log = logging.getLogger(__name__)


class ConnectionHealth:
    def __init__(self, unit_of_work: ports.UnitOfWork[IncidentWork], helpdesk: tuple[Channel, ...],
                 schedule: ReminderSchedule, clock: Clock, on_recorded: Callable[[], None] = lambda: None) -> None:
        """`helpdesk`: the configured helpdesk channels; `on_recorded` wakes the dispatcher after a commit."""
        self._unit_of_work = unit_of_work
        self._helpdesk = helpdesk
        self._schedule = schedule
        self._clock = clock
        self._on_recorded = on_recorded

    async def broken(self, event: CloudEvent) -> int:
        """Record the incident, the helpdesk's notice, the merchant's email and reminders; how many deliveries
        were planned (0 when the event was already consumed; duplicates of an incident add no row)."""
        data = event.data
        if not isinstance(data, ConnectionBroken):
            raise TypeError(f"not a ConnectionBroken: {type(data).__name__}")
        async with self._unit_of_work() as tx:
            if not await tx.claim(CONSUMER, event.id):
                return 0
            restored_at = await tx.incidents.open(incident_of(data))
            planned = health.on_broken(event.id, event.time, data, restored_at, self._helpdesk, self._schedule,
                                       self._clock())
            await tx.deliveries.record(planned)
        log.info("store %s of merchant %s broke (%s, incident %s): %d deliveries recorded%s", data.store_id,
                 data.merchant_id, data.reason, data.incident_id, len(planned),
                 " (already restored: merchant not emailed)" if restored_at else "")
        self._on_recorded()
        return len(planned)

    async def restored(self, event: CloudEvent) -> int:
        """Close the store's incident (and its older open ones), take the store out of the merchant's pending
        emails (cancelled when no store is left), record the helpdesk's notice; how many deliveries were planned."""
        data = event.data
        if not isinstance(data, ConnectionRestored):
            raise TypeError(f"not a ConnectionRestored: {type(data).__name__}")
        async with self._unit_of_work() as tx:
            if not await tx.claim(CONSUMER, event.id):
                return 0
            closed = await tx.incidents.restore(data.merchant_id, data.store_id, data.incident_id, event.time)
            cancelled = await tx.deliveries.withdraw(data.merchant_id, [i.incident_id for i in closed],
                                                     health.MERCHANT_KINDS, self._clock(), "every store was restored",
                                                     store_id=data.store_id)
            previous = next((i for i in closed if i.incident_id == data.incident_id), None)
            planned = health.on_restored(event.id, event.time, data, previous, self._helpdesk, self._clock())
            await tx.deliveries.record(planned)
        log.info("store %s of merchant %s restored (incident %s): %d merchant email(s) no longer owed", data.store_id,
                 data.merchant_id, data.incident_id, cancelled)
        if planned:
            self._on_recorded()
        return len(planned)


@dataclass(frozen=True, slots=True)
class Stopped:
    """What the stop page shows: the incident's stores, and how many reminders were still due."""

    incidents: tuple[Incident, ...]
    cancelled: int

    @property
    def already_restored(self) -> bool:
        return bool(self.incidents) and all(i.restored_at is not None for i in self.incidents)


class ReminderStops:
    """The merchant's stop link: verified, then the incident's pending reminders are cancelled (idempotent)."""

    def __init__(self, unit_of_work: ports.UnitOfWork[StopWork], secret: bytes, clock: Clock) -> None:
        self._unit_of_work = unit_of_work
        self._secret = secret
        self._clock = clock

    async def stop(self, token: str | None) -> Stopped | Refusal:
        now = self._clock()
        found = read_stop_token(self._secret, token, now)
        if isinstance(found, Refusal):
            return found
        async with self._unit_of_work() as tx:
            incidents = await tx.incidents.stop_reminders(found.merchant_id, found.incident_id, now)
            cancelled = await tx.deliveries.withdraw(found.merchant_id, [found.incident_id], (Kind.MERCHANT_REMINDER,),
                                                     now, "the merchant stopped the reminders")
        if cancelled:
            REMINDERS_STOPPED.inc()
            log.info("merchant %s stopped the reminders of incident %s (%d cancelled)", found.merchant_id,
                     found.incident_id, cancelled)
        return Stopped(tuple(incidents), cancelled)
