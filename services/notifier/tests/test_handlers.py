"""Consuming an event records one delivery per channel, once; operators re-drive only parked ones."""

from uuid import uuid4

from notifier.domain.delivery import Channel, Status
from notifier.handlers import DeliveryAdmin, NotifierHandlers
from shared.contracts.examples import ALL
from shared.contracts import CloudEvent

from .fakes import START, FakeClock, FakeStore

SETUP = next(e for e in ALL if e.type.endswith("SetupCompleted.v1"))
CHANGED = next(e for e in ALL if e.type.endswith("ConnectionsChanged.v1"))
BOTH = (Channel.EMAIL, Channel.WEBHOOK)


async def test_an_event_records_one_pending_delivery_per_channel_due_now():
    store = FakeStore()
    assert await NotifierHandlers(store, BOTH, FakeClock()).notify(CloudEvent(data=SETUP, source="/t")) == 2
    views = list(r.view for r in store.committed.rows.values())
    assert sorted(v.channel for v in views) == ["email", "webhook"]
    assert {(v.status, v.next_attempt_at, v.attempts) for v in views} == {(Status.PENDING, START, 0)}


async def test_the_same_event_twice_records_nothing_more():
    store = FakeStore()
    handlers = NotifierHandlers(store, BOTH, FakeClock())
    event = CloudEvent(data=CHANGED, source="/t")
    await handlers.notify(event)
    before = dict(store.committed.rows)
    assert await handlers.notify(event) == 0
    assert store.committed.rows == before


async def test_only_configured_channels_get_deliveries():
    store = FakeStore()
    handlers = NotifierHandlers(store, (Channel.WEBHOOK,), FakeClock())
    await handlers.notify(CloudEvent(data=SETUP, source="/t"))
    assert [r.view.channel for r in store.committed.rows.values()] == [Channel.WEBHOOK]
    assert await NotifierHandlers(FakeStore(), (), FakeClock()).notify(CloudEvent(data=SETUP, source="/t")) == 0


async def test_redrive_of_an_unknown_or_not_parked_delivery_changes_nothing():
    store, clock = FakeStore(), FakeClock()
    await NotifierHandlers(store, BOTH, clock).notify(CloudEvent(data=SETUP, source="/t"))
    admin = DeliveryAdmin(store, clock)
    assert await admin.redrive(uuid4()) is None
    pending = next(iter(store.committed.rows))
    result = await admin.redrive(pending)
    assert not result.redriven and result.delivery.status is Status.PENDING and result.delivery.redrives == 0


async def test_the_dispatcher_is_woken_after_recording_and_not_for_a_duplicate():
    woken: list[int] = []
    store = FakeStore()
    handlers = NotifierHandlers(store, BOTH, FakeClock(), on_recorded=lambda: woken.append(len(store.committed.rows)))
    event = CloudEvent(data=SETUP, source="/t")
    await handlers.notify(event)
    await handlers.notify(event)
    assert woken == [2]  # once, after both deliveries were committed
