"""The notifier's PostgreSQL adapter on a real server: several dispatchers never send one delivery twice,
a lost attempt is taken over after its lease, and concurrent re-drives re-drive once."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from notifier.adapters.postgres import PgDeliveries, PgNotifierTransaction
from notifier.dispatcher import Dispatcher
from notifier.domain.delivery import AttemptResult, Channel, Outcome, RetryPolicy, Status
from notifier.domain.notifications import Notification
from notifier.handlers import DeliveryAdmin, NotifierHandlers
from notifier.main import MIGRATIONS
from shared.contracts import SetupCompleted
from shared.contracts.examples import LINK
from shared.delivery import DELIVERY_MIGRATIONS, CloudEvent, apply_migrations, unit_of_work

from .fakes import FakeClock

pytestmark = pytest.mark.postgres
BOTH = (Channel.EMAIL, Channel.WEBHOOK)


class SlowCountingSender:
    def __init__(self, answer: Outcome = Outcome.DELIVERED) -> None:
        self.sent: Counter[UUID] = Counter()
        self.answer = answer

    async def send(self, delivery_id: UUID, notification: Notification) -> AttemptResult:
        self.sent[delivery_id] += 1
        await asyncio.sleep(0.05)
        return AttemptResult(self.answer, "test", 204 if self.answer is Outcome.DELIVERED else 503)


@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=2, max_size=20)
    await apply_migrations(pool, DELIVERY_MIGRATIONS, MIGRATIONS)
    yield pool
    await pool.close()


async def notify(pool, clock, events: int) -> None:
    handlers = NotifierHandlers(unit_of_work(lambda: pool, PgNotifierTransaction), BOTH, clock)
    for i in range(events):
        event = SetupCompleted(merchant_id=f"m-{i}", merchant_name=f"Merchant {i}", links=(LINK,), completed_by="u")
        await handlers.notify(CloudEvent(data=event, source="/tests"))


async def test_four_dispatchers_send_each_of_sixty_deliveries_exactly_once(pool):
    clock, sender = FakeClock(datetime.now(UTC)), SlowCountingSender()
    await notify(pool, clock, 30)
    dispatchers = [Dispatcher(PgDeliveries(lambda: pool), {c: sender for c in BOTH}, clock, RetryPolicy(),
                              batch_size=7) for _ in range(4)]

    async def drain(dispatcher: Dispatcher) -> None:
        while await dispatcher.run_once():
            pass

    await asyncio.gather(*(drain(d) for d in dispatchers))
    assert len(sender.sent) == 60 and set(sender.sent.values()) == {1}
    assert await pool.fetchval("SELECT count(*) FROM helpdesk_deliveries WHERE status = 'delivered'") == 60
    assert await pool.fetchval("SELECT count(*) FROM helpdesk_delivery_attempts WHERE outcome = 'delivered'") == 60


async def test_recording_the_same_event_again_adds_nothing(pool):
    clock = FakeClock(datetime.now(UTC))
    handlers = NotifierHandlers(unit_of_work(lambda: pool, PgNotifierTransaction), BOTH, clock)
    event = CloudEvent(data=SetupCompleted(merchant_id="m-1", merchant_name="M", links=(LINK,), completed_by="u"),
                       source="/tests")
    assert [await handlers.notify(event), await handlers.notify(event)] == [2, 0]
    assert await pool.fetchval("SELECT count(*) FROM helpdesk_deliveries") == 2


async def test_an_attempt_lost_with_its_dispatcher_is_taken_over_after_the_lease(pool):
    clock, sender = FakeClock(datetime.now(UTC)), SlowCountingSender()
    await notify(pool, clock, 1)
    deliveries = PgDeliveries(lambda: pool)
    await deliveries.claim_due(clock(), 10, clock() + timedelta(seconds=120))  # then the process died
    dispatcher = Dispatcher(deliveries, {c: sender for c in BOTH}, clock, RetryPolicy(), lease=120)
    assert await dispatcher.run_once() == 0
    clock.at += timedelta(seconds=120)
    assert await dispatcher.run_once() == 2
    [webhook] = await pool.fetch("SELECT delivery_id FROM helpdesk_deliveries WHERE channel = 'webhook'")
    view = await deliveries.get(webhook["delivery_id"])
    assert view.status is Status.DELIVERED and view.attempts == 2
    assert [a.outcome for a in view.history] == ["abandoned", "delivered"]


async def test_concurrent_redrives_of_a_parked_delivery_redrive_it_once(pool):
    clock = FakeClock(datetime.now(UTC))
    await notify(pool, clock, 1)
    deliveries = PgDeliveries(lambda: pool)
    failing = SlowCountingSender(Outcome.PERMANENT)
    await Dispatcher(deliveries, {c: failing for c in BOTH}, clock, RetryPolicy()).run_once()
    admin = DeliveryAdmin(deliveries, clock)
    [parked, _] = await admin.listing(Status.PARKED)
    results = await asyncio.gather(*(admin.redrive(parked.delivery_id) for _ in range(5)))
    assert [r.redriven for r in results].count(True) == 1
    assert (await admin.get(parked.delivery_id)).redrives == 1
    assert await admin.redrive(uuid4()) is None


async def test_the_channels_are_leased_in_turns_each_within_its_room(pool):
    clock, sender = FakeClock(datetime.now(UTC)), SlowCountingSender()
    webhook_only = NotifierHandlers(unit_of_work(lambda: pool, PgNotifierTransaction), (Channel.WEBHOOK,), clock)
    for i in range(5):  # a backlog on one channel, due first
        await webhook_only.notify(CloudEvent(data=SetupCompleted(merchant_id=f"m-{i}", merchant_name="M", links=(LINK,),
                                                                 completed_by="u"), source="/tests"))
    clock.advance(seconds=1)
    await notify(pool, clock, 1)
    deliveries, lease = PgDeliveries(lambda: pool), clock() + timedelta(seconds=60)
    first = await deliveries.claim_due(clock(), 2, lease)
    assert sorted(c.channel for c in first) == [Channel.EMAIL, Channel.WEBHOOK]
    rest = await deliveries.claim_due(clock(), 10, lease, {Channel.WEBHOOK: 2, Channel.EMAIL: 5})
    assert sorted(c.channel for c in rest) == [Channel.WEBHOOK, Channel.WEBHOOK], "the email was leased already"
