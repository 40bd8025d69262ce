"""Hand-written in-memory fakes of the notifier's ports; the store commits only on a clean exit."""

import asyncio
import copy
import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from notifier.domain.delivery import (
    AttemptResult,
    Channel,
    Claimed,
    Decision,
    NewDelivery,
    Outcome,
    Payload,
    Status,
    can_redrive,
)
from notifier.domain.incidents import Incident, MerchantNotice
from notifier.domain.notifications import Kind
from notifier.ports import CloudPosUnavailable
from notifier.views import AttemptView, DeliveryView, MerchantNotices

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@dataclass
class Row:
    view: DeliveryView
    notification: Payload
    cycle_attempts: int = 0


@dataclass
class State:
    rows: dict[UUID, Row] = field(default_factory=dict)
    inbox: set[tuple[str, UUID]] = field(default_factory=set)
    incidents: dict[tuple[UUID, str], Incident] = field(default_factory=dict)


def _record(state: State, deliveries: Sequence[NewDelivery]) -> None:
    for d in deliveries:
        n = d.notification
        state.rows.setdefault(d.delivery_id, Row(DeliveryView(
            delivery_id=d.delivery_id, event_id=n.event_id, kind=n.kind, channel=d.channel,
            merchant_id=n.merchant_id, incident_id=n.incident_id, status=Status.PENDING, attempts=0, redrives=0,
            next_attempt_at=d.due_at, last_error=None, created_at=d.created_at, delivered_at=None,
            parked_at=None), n))


class FakeIncidents:
    """The incident rows, with the adapter's rules: first facts win, restored stays restored."""

    def __init__(self, state: State) -> None:
        self.state = state

    async def open(self, incident: Incident) -> datetime | None:
        key = (incident.incident_id, incident.store_id)
        known = self.state.incidents.get(key)
        if known is None:
            self.state.incidents[key] = incident
            return None
        facts = {f.name: getattr(known, f.name) if getattr(known, f.name) is not None else getattr(incident, f.name)
                 for f in dataclasses.fields(Incident)}
        self.state.incidents[key] = Incident(**facts)
        return known.restored_at

    async def restore(self, merchant_id: str, store_id: str, incident_id: UUID, at: datetime) -> list[Incident]:
        key = (incident_id, store_id)
        named = self.state.incidents.get(key) or Incident(merchant_id, incident_id, store_id)
        named = self.state.incidents[key] = dataclasses.replace(named, restored_at=named.restored_at or at)
        older = [k for k, i in self.state.incidents.items() if k != key and i.merchant_id == merchant_id
                 and i.store_id == store_id and i.restored_at is None and i.since is not None and i.since <= at]
        for k in older:
            self.state.incidents[k] = dataclasses.replace(self.state.incidents[k], restored_at=at)
        return [named, *(self.state.incidents[k] for k in older)]

    async def stop_reminders(self, merchant_id: str, incident_id: UUID, at: datetime) -> list[Incident]:
        found = [k for k, i in self.state.incidents.items() if k[0] == incident_id and i.merchant_id == merchant_id]
        for k in found:
            i = self.state.incidents[k]
            self.state.incidents[k] = dataclasses.replace(i, reminders_stopped_at=i.reminders_stopped_at or at)
        return [self.state.incidents[k] for k in found]


class FakeTransaction:
    """Every row kind of one transaction, like `PgNotifierTransaction`."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.incidents = FakeIncidents(state)

    @property
    def deliveries(self) -> "FakeTransaction":
        return self

    async def claim(self, consumer: str, event_id: UUID) -> bool:
        if (consumer, event_id) in self.state.inbox:
            return False
        self.state.inbox.add((consumer, event_id))
        return True

    async def record(self, deliveries: Sequence[NewDelivery]) -> None:
        known = set(self.state.rows)
        _record(self.state, deliveries)
        for d in deliveries:
            row = self.state.rows[d.delivery_id]
            if d.delivery_id in known and isinstance(d.notification, MerchantNotice) \
                    and row.view.status is Status.PENDING and row.view.attempts == 0:
                for store in d.notification.stores:
                    row.notification = row.notification.with_store(store) or row.notification

    async def withdraw(self, merchant_id: str, incident_ids: Sequence[UUID], kinds: Sequence[Kind], at: datetime,
                       why: str, store_id: str | None = None) -> int:
        cancelled = 0
        for row in self.state.rows.values():
            v = row.view
            if (v.merchant_id == merchant_id and v.incident_id in incident_ids and v.kind in kinds
                    and v.channel is Channel.MERCHANT_EMAIL and v.status in (Status.PENDING, Status.PARKED)):
                left = row.notification.withdrawn(store_id)
                if left is None:
                    row.view = v.model_copy(update={"status": Status.CANCELLED, "cancelled_at": at,
                                                    "next_attempt_at": None, "last_error": f"cancelled: {why}"})
                    cancelled += 1
                else:
                    row.notification = left
        return cancelled


class FakeStore:
    """Both the consumer's unit of work and the dispatcher's Deliveries, over one in-memory state."""

    def __init__(self) -> None:
        self.committed = State()
        self.fail_finish = 0

    @asynccontextmanager
    async def __call__(self):
        tx = FakeTransaction(copy.deepcopy(self.committed))
        yield tx
        self.committed = tx.state

    async def claim_due(self, now: datetime, limit: int, lease_until: datetime,
                        room: Mapping[Channel, int] | None = None) -> list[Claimed]:
        due = sorted((r for r in self.committed.rows.values() if r.view.status is Status.PENDING
                      and r.view.next_attempt_at <= now), key=lambda r: r.view.next_attempt_at)
        seen: Counter[Channel] = Counter()
        turns = []
        for row in due:  # the channels in turns, each up to its room
            seen[row.view.channel] += 1
            if room is None or seen[row.view.channel] <= room.get(row.view.channel, 0):
                turns.append((seen[row.view.channel], row))
        due = [row for _, row in sorted(turns, key=lambda t: t[0])][:limit]
        claimed = []
        for row in due:
            v = row.view
            for i, a in enumerate(v.history):
                if a.outcome == "in_flight":
                    v.history[i] = a.model_copy(update={"outcome": "abandoned", "finished_at": now})
            row.cycle_attempts += 1
            row.view = v.model_copy(update={"attempts": v.attempts + 1, "next_attempt_at": lease_until,
                                            "history": [*v.history, AttemptView(
                                                attempt=v.attempts + 1, started_at=now, finished_at=None,
                                                outcome="in_flight", status_code=None, detail=None)]})
            claimed.append(Claimed(v.delivery_id, v.channel, row.notification, v.attempts + 1, row.cycle_attempts))
        return claimed

    async def finish(self, claimed: Claimed, result: AttemptResult, decision: Decision, at: datetime,
                     follow_ups: Sequence[NewDelivery] = ()) -> None:
        if self.fail_finish:
            self.fail_finish -= 1
            raise ConnectionError("database away")
        _record(self.committed, follow_ups)
        row = self.committed.rows[claimed.delivery_id]
        v = row.view
        history = [a.model_copy(update={"finished_at": at, "outcome": result.outcome.value,
                                        "status_code": result.status_code, "detail": result.detail})
                   if a.attempt == claimed.attempt else a for a in v.history]
        update: dict = {"history": history}
        if v.attempts == claimed.attempt and v.status is Status.PENDING:
            update |= {"status": decision.status, "next_attempt_at": decision.next_attempt_at,
                       "last_error": None if decision.status is Status.DELIVERED else decision.note,
                       "delivered_at": at if decision.status is Status.DELIVERED else None,
                       "parked_at": at if decision.status is Status.PARKED else None}
        row.view = v.model_copy(update=update)

    async def redrive(self, delivery_id: UUID, now: datetime) -> tuple[bool, DeliveryView] | None:
        row = self.committed.rows.get(delivery_id)
        if row is None:
            return None
        if not can_redrive(row.view.status):
            return False, row.view
        row.cycle_attempts = 0
        row.view = row.view.model_copy(update={"status": Status.PENDING, "next_attempt_at": now,
                                               "parked_at": None, "redrives": row.view.redrives + 1})
        return True, row.view

    async def get(self, delivery_id: UUID) -> DeliveryView | None:
        row = self.committed.rows.get(delivery_id)
        return row.view if row else None

    async def listing(self, status: Status | None, limit: int, *, offset: int = 0, merchant_id: str | None = None,
                      newest_first: bool = False) -> list[DeliveryView]:
        key = (lambda v: (v.parked_at, v.delivery_id)) if status is Status.PARKED else \
            (lambda v: (v.created_at, v.delivery_id))
        views = sorted(self._matching(status, merchant_id), key=key, reverse=newest_first)
        return [v.model_copy(update={"history": []}) for v in views][offset:offset + limit]

    async def count(self, status: Status | None, merchant_id: str | None = None) -> int:
        return len(self._matching(status, merchant_id))

    async def notices(self, merchant_ids: Sequence[str]) -> list[MerchantNotices]:
        found = []
        for merchant_id in sorted(set(merchant_ids)):
            views = self._matching(None, merchant_id)
            sent = [v for v in views if v.channel is Channel.MERCHANT_EMAIL and v.status is Status.DELIVERED]
            if views:
                found.append(MerchantNotices(
                    merchant_id=merchant_id, emails_sent=len(sent),
                    reminders_sent=sum(v.kind is Kind.MERCHANT_REMINDER for v in sent),
                    setup_reminders_sent=sum(v.kind is Kind.MERCHANT_SETUP_REMINDER for v in sent),
                    last_sent_at=max((v.delivered_at for v in sent), default=None),
                    parked=sum(v.status is Status.PARKED for v in views)))
        return found

    def _matching(self, status: Status | None, merchant_id: str | None) -> list[DeliveryView]:
        return [r.view for r in self.committed.rows.values() if (status is None or r.view.status is status)
                and (merchant_id is None or r.view.merchant_id == merchant_id)]


class ScriptedSender:
    """Answers from a script (the last answer repeats); keeps what it was asked to send."""

    def __init__(self, *answers: AttemptResult, delay: float = 0.0) -> None:
        self.answers = list(answers) or [AttemptResult(Outcome.DELIVERED, "ok")]
        self.delay = delay
        self.sent: list[tuple[UUID, Payload]] = []

    async def send(self, delivery_id: UUID, notification: Payload) -> AttemptResult:
        self.sent.append((delivery_id, notification))
        await asyncio.sleep(self.delay)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def transient(detail: str = "HTTP 503", retry_after: float | None = None) -> AttemptResult:
    return AttemptResult(Outcome.TRANSIENT, detail, 503, retry_after)


def permanent(detail: str = "HTTP 410") -> AttemptResult:
    return AttemptResult(Outcome.PERMANENT, detail, 410)



class FakeContacts:
    """Cloud POS's merchants and their contact emails; `down` makes every lookup fail like an outage."""

    def __init__(self, emails: dict[str, str | None] | None = None) -> None:
        self.emails = dict(emails or {})
        self.down = False
        self.asked: list[str] = []

    async def contact_email(self, merchant_id: str) -> str | None:
        self.asked.append(merchant_id)
        if self.down:
            raise CloudPosUnavailable("GET merchant: HTTP 503")
        return self.emails.get(merchant_id)


class SentMail:
    """Stands in for the SMTP relay: keeps each message handed over and answers `delivered`."""

    def __init__(self) -> None:
        self.messages: list = []

    async def __call__(self, message, _relay) -> AttemptResult:  # noqa: ANN001 - the adapter's `deliver`
        self.messages.append(message)
        return AttemptResult(Outcome.DELIVERED, "SMTP 250 ok")
