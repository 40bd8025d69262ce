"""The dispatcher on fakes: sends due deliveries, retries on a schedule, parks, and is re-driven once."""

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from notifier.dispatcher import Dispatcher
from notifier.domain.delivery import AttemptResult, Channel, Outcome, RetryPolicy, Status
from notifier.handlers import DeliveryAdmin, NotifierHandlers
from notifier.metrics import PARKED
from shared.contracts.examples import ALL
from shared.contracts import CloudEvent

from .fakes import FakeClock, FakeStore, ScriptedSender, permanent, transient

SETUP = next(e for e in ALL if e.type.endswith("SetupCompleted.v1"))
POLICY = RetryPolicy(schedule=(5.0, 300.0))
DELIVERED = AttemptResult(Outcome.DELIVERED, "HTTP 204", 204)


@dataclass
class World:
    store: FakeStore = field(default_factory=FakeStore)
    clock: FakeClock = field(default_factory=FakeClock)
    email: ScriptedSender = field(default_factory=ScriptedSender)
    webhook: ScriptedSender = field(default_factory=ScriptedSender)

    def dispatcher(self, **options) -> Dispatcher:
        """Jitter pinned to its maximum, so each retry is due exactly one schedule step later."""
        return Dispatcher(self.store, {Channel.EMAIL: self.email, Channel.WEBHOOK: self.webhook}, self.clock,
                          POLICY, jitter=lambda: 1.0, **options)

    async def notify(self) -> None:
        await NotifierHandlers(self.store, (Channel.EMAIL, Channel.WEBHOOK), self.clock).notify(
            CloudEvent(data=SETUP, source="/t"))

    def statuses(self) -> dict[str, Status]:
        return {r.view.channel.value: r.view.status for r in self.store.committed.rows.values()}

    def statuses_all(self) -> list[Status]:
        return [r.view.status for r in self.store.committed.rows.values()]

    def history(self, sender: ScriptedSender) -> list[str]:
        return [a.outcome for a in self.store.committed.rows[sender.sent[0][0]].view.history]


@pytest.fixture
def world() -> World:
    return World()


async def test_due_deliveries_are_sent_once_on_each_channel(world):
    await world.notify()
    dispatcher = world.dispatcher()
    assert await dispatcher.run_once() == 2
    assert await dispatcher.run_once() == 0
    assert len(world.email.sent) == len(world.webhook.sent) == 1
    assert world.statuses() == {"email": Status.DELIVERED, "webhook": Status.DELIVERED}
    assert world.history(world.webhook) == ["delivered"]


async def test_a_failing_target_is_retried_on_schedule_and_nothing_is_lost(world):
    world.webhook.answers = [transient(), transient(), DELIVERED]
    await world.notify()
    dispatcher = world.dispatcher()
    assert await dispatcher.run_once() == 2
    world.clock.advance(seconds=4.9)
    assert await dispatcher.run_once() == 0  # not due before its time
    world.clock.advance(seconds=0.1)
    assert await dispatcher.run_once() == 1
    world.clock.advance(seconds=300)
    assert await dispatcher.run_once() == 1
    assert world.statuses()["webhook"] is Status.DELIVERED
    assert len({delivery_id for delivery_id, _ in world.webhook.sent}) == 1 and len(world.webhook.sent) == 3
    assert world.history(world.webhook) == ["transient", "transient", "delivered"]


async def test_an_exhausted_schedule_parks_and_a_redrive_sends_exactly_once_more(world):
    world.webhook.answers = [transient(), transient(), transient(), DELIVERED]
    await world.notify()
    dispatcher = world.dispatcher()
    for step in (0, 5, 300):
        world.clock.advance(seconds=step)
        await dispatcher.run_once()
    assert world.statuses()["webhook"] is Status.PARKED and len(world.webhook.sent) == 3
    world.clock.advance(hours=48)
    assert await dispatcher.run_once() == 0  # parked stays parked

    admin = DeliveryAdmin(world.store, world.clock)
    parked = (await admin.listing(Status.PARKED))[0].delivery_id
    assert (await admin.redrive(parked)).redriven
    assert await dispatcher.run_once() == 1
    again = await admin.redrive(parked)
    assert not again.redriven and again.delivery.status is Status.DELIVERED
    assert await dispatcher.run_once() == 0 and len(world.webhook.sent) == 4


async def test_a_permanent_refusal_parks_at_once(world):
    parked_before = PARKED.labels("webhook")._value.get()
    world.webhook.answers = [permanent()]
    await world.notify()
    await world.dispatcher().run_once()
    assert world.statuses()["webhook"] is Status.PARKED and len(world.webhook.sent) == 1
    assert PARKED.labels("webhook")._value.get() == parked_before + 1, "the parked-notifications alert counts these"


async def test_a_hanging_target_is_cut_off_without_holding_up_the_other_channel(world):
    world.webhook.delay = 30
    await world.notify()
    await asyncio.wait_for(world.dispatcher(attempt_timeout=0.2).run_once(), 2)
    assert world.statuses() == {"email": Status.DELIVERED, "webhook": Status.PENDING}
    assert "no answer within" in world.store.committed.rows[world.webhook.sent[0][0]].view.last_error


async def test_an_attempt_whose_result_was_never_recorded_is_retried_after_its_lease(world):
    await world.notify()
    dispatcher = world.dispatcher(lease=60)
    now = world.clock()
    await world.store.claim_due(now, 10, now + timedelta(seconds=60))  # a dispatcher that then died
    assert await dispatcher.run_once() == 0
    world.clock.advance(seconds=60)
    assert await dispatcher.run_once() == 2
    assert world.history(world.webhook) == ["abandoned", "delivered"]


async def test_a_database_blink_while_recording_does_not_resend(world, monkeypatch):
    monkeypatch.setattr("notifier.dispatcher._RECORD_RETRIES", (0.01, 0.01))
    world.store.fail_finish = 2
    await world.notify()
    await world.dispatcher().run_once()
    assert world.statuses() == {"email": Status.DELIVERED, "webhook": Status.DELIVERED}
    assert len(world.webhook.sent) == 1


async def test_a_channel_removed_from_the_configuration_parks_its_deliveries(world):
    await world.notify()
    await Dispatcher(world.store, {Channel.EMAIL: world.email}, world.clock, POLICY).run_once()
    assert world.statuses() == {"email": Status.DELIVERED, "webhook": Status.PARKED}


async def test_a_wake_sends_a_new_delivery_without_waiting_for_the_poll(world):
    dispatcher = world.dispatcher()
    running = asyncio.create_task(dispatcher.run(poll_interval=60))
    try:
        await asyncio.sleep(0.05)  # the first pass found nothing and waits for a minute
        await world.notify()
        dispatcher.wake()
        for _ in range(100):
            if world.email.sent and world.webhook.sent:
                break
            await asyncio.sleep(0.01)
        assert len(world.email.sent) == len(world.webhook.sent) == 1
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


class Gauge:
    """A sender that counts the attempts in flight at once, per channel and in all."""

    def __init__(self, delay: float, both: Counter[str], channel: str) -> None:
        self.delay, self.both, self.channel, self.sent, self.most = delay, both, channel, [], Counter()

    async def send(self, delivery_id, notification) -> AttemptResult:  # noqa: ANN001
        self.sent.append(delivery_id)
        self.both[self.channel] += 1
        self.most[self.channel] = max(self.most[self.channel], self.both[self.channel])
        self.most["all"] = max(self.most["all"], self.both.total())
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.both[self.channel] -= 1
        return DELIVERED


class SlowLeases:
    """The store, its leases taking 15 ms (a database round trip): attempts end while one is being taken."""

    def __init__(self, store) -> None:  # noqa: ANN001
        self._store = store

    async def claim_due(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        await asyncio.sleep(0.015)
        return await self._store.claim_due(*args, **kwargs)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._store, name)


class Staggered(Gauge):
    """Attempts that end one at a time (10, 20, 30 ms, ...), as a real receiver's do."""

    def __init__(self, both: Counter[str], channel: str) -> None:
        super().__init__(0.0, both, channel)

    async def send(self, delivery_id, notification) -> AttemptResult:  # noqa: ANN001
        self.delay = 0.01 * (1 + len(self.sent) % 3)
        return await super().send(delivery_id, notification)


@contextlib.asynccontextmanager
async def running(dispatcher: Dispatcher):
    task = asyncio.create_task(dispatcher.run(poll_interval=60))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check, timeout: float = 5.0) -> None:  # noqa: ANN001
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def test_run_keeps_up_to_its_concurrency_in_flight_and_leases_more_as_each_attempt_ends(world):
    both: Counter[str] = Counter()
    email, webhook = Gauge(0.05, both, "email"), Gauge(0.05, both, "webhook")
    for _ in range(30):
        await world.notify()
    dispatcher = Dispatcher(world.store, {Channel.EMAIL: email, Channel.WEBHOOK: webhook}, world.clock, POLICY,
                            batch_size=20, concurrency=8, channel_concurrency=8)
    async with running(dispatcher):
        await until(lambda: set(world.statuses_all()) == {Status.DELIVERED})
    assert len(set(email.sent)) == len(email.sent) == 30 and len(set(webhook.sent)) == len(webhook.sent) == 30
    assert max(email.most["all"], webhook.most["all"]) == 8, "bounded, and the bound is used"


async def test_a_hanging_destination_keeps_only_its_share_of_the_lanes(world):
    both: Counter[str] = Counter()
    email, webhook = Gauge(0.01, both, "email"), Gauge(30, both, "webhook")
    for _ in range(10):
        await world.notify()
    dispatcher = Dispatcher(world.store, {Channel.EMAIL: email, Channel.WEBHOOK: webhook}, world.clock, POLICY,
                            attempt_timeout=60, concurrency=4, channel_concurrency=3)
    async with running(dispatcher):
        await until(lambda: len(email.sent) == 10)
        assert webhook.most["webhook"] == 3 and len(webhook.sent) == 3


async def test_the_channels_are_leased_in_turns(world):
    handlers = NotifierHandlers(world.store, (Channel.WEBHOOK,), world.clock)
    for _ in range(5):  # a backlog on one channel, due first
        await handlers.notify(CloudEvent(data=SETUP, source="/t"))
    world.clock.advance(seconds=1)
    await NotifierHandlers(world.store, (Channel.EMAIL,), world.clock).notify(CloudEvent(data=SETUP, source="/t"))
    assert await world.dispatcher(batch_size=2).run_once() == 2
    assert len(world.email.sent) == len(world.webhook.sent) == 1


async def test_one_busy_channel_is_fed_as_its_attempts_end_not_at_the_next_poll(world):
    """Its lanes full, an ending attempt frees room for one: leasing that one is not "nothing more is due" (the
    other channels' room, and the free lanes, do not make it so), so the rest never waits for the poll (60 s)."""
    both: Counter[str] = Counter()
    webhook = Staggered(both, "webhook")
    handlers = NotifierHandlers(world.store, (Channel.WEBHOOK,), world.clock)
    for _ in range(12):
        await handlers.notify(CloudEvent(data=SETUP, source="/t"))
    dispatcher = Dispatcher(SlowLeases(world.store), {Channel.WEBHOOK: webhook}, world.clock, POLICY,
                            concurrency=8, channel_concurrency=3)
    async with running(dispatcher):
        await until(lambda: len(webhook.sent) == 12)
    assert webhook.most["webhook"] == 3
