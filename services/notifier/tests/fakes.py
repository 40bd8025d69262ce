"""Hand-written in-memory fakes of the notifier's ports; the store commits only on a clean exit."""

import asyncio
import copy
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from notifier.domain.delivery import AttemptResult, Claimed, Decision, NewDelivery, Outcome, Status, can_redrive
from notifier.domain.notifications import Notification
from notifier.views import AttemptView, DeliveryView

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
    notification: Notification
    cycle_attempts: int = 0


@dataclass
class State:
    rows: dict[UUID, Row] = field(default_factory=dict)
    inbox: set[tuple[str, UUID]] = field(default_factory=set)


class FakeTransaction:
    def __init__(self, state: State) -> None:
        self.state = state

    async def claim(self, consumer: str, event_id: UUID) -> bool:
        if (consumer, event_id) in self.state.inbox:
            return False
        self.state.inbox.add((consumer, event_id))
        return True

    async def record(self, deliveries: Sequence[NewDelivery]) -> None:
        for d in deliveries:
            n = d.notification
            self.state.rows.setdefault(d.delivery_id, Row(DeliveryView(
                delivery_id=d.delivery_id, event_id=n.event_id, kind=n.kind, channel=d.channel,
                merchant_id=n.merchant_id, status=Status.PENDING, attempts=0, redrives=0, next_attempt_at=d.due_at,
                last_error=None, created_at=d.due_at, delivered_at=None, parked_at=None), n))


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

    async def claim_due(self, now: datetime, limit: int, lease_until: datetime) -> list[Claimed]:
        due = sorted((r for r in self.committed.rows.values() if r.view.status is Status.PENDING
                      and r.view.next_attempt_at <= now), key=lambda r: r.view.next_attempt_at)[:limit]
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

    async def finish(self, claimed: Claimed, result: AttemptResult, decision: Decision, at: datetime) -> None:
        if self.fail_finish:
            self.fail_finish -= 1
            raise ConnectionError("database away")
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

    async def listing(self, status: Status | None, limit: int) -> list[DeliveryView]:
        views = [r.view for r in self.committed.rows.values() if status is None or r.view.status is status]
        return [v.model_copy(update={"history": []}) for v in views][:limit]


class ScriptedSender:
    """Answers from a script (the last answer repeats); keeps what it was asked to send."""

    def __init__(self, *answers: AttemptResult, delay: float = 0.0) -> None:
        self.answers = list(answers) or [AttemptResult(Outcome.DELIVERED, "ok")]
        self.delay = delay
        self.sent: list[tuple[UUID, Notification]] = []

    async def send(self, delivery_id: UUID, notification: Notification) -> AttemptResult:
        self.sent.append((delivery_id, notification))
        await asyncio.sleep(self.delay)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def transient(detail: str = "HTTP 503", retry_after: float | None = None) -> AttemptResult:
    return AttemptResult(Outcome.TRANSIENT, detail, 503, retry_after)


def permanent(detail: str = "HTTP 410") -> AttemptResult:
    return AttemptResult(Outcome.PERMANENT, detail, 410)

