""""Send reminder" on fakes: who may be reminded, once a day at most, and replaying the event rebuilds it."""

from datetime import timedelta

from connection_registry.domain import Done, Refusal
from connection_registry.handlers import RegistryHandlers
from shared.contracts import SetupReminderRequested

from .fakes import FakeReads, FakeUnitOfWork, StepClock
from .journey import Journey

DAY = timedelta(days=1)


async def connected(handlers: RegistryHandlers, merchant: str = "m-1") -> None:
    for event in Journey(merchant).connected():
        await handlers.handle(event)


async def test_a_reminder_names_the_connected_stores_the_agent_and_the_first_connection(handlers, uow):
    await connected(handlers)

    done = await handlers.remind("m-1", "alice@helpdesk.test", DAY)

    assert isinstance(done, Done) and done.change is not None
    (event,) = uow.committed.published(SetupReminderRequested)
    graph = uow.committed.graph("m-1")
    assert event.data.requested_by == "alice@helpdesk.test" and event.data.links == graph.links()
    assert event.data.connected_since == graph.connected_since() == min(s.connected_at for s in graph.connected())
    assert uow.committed.merchants["m-1"].reminders_sent == 1
    assert uow.committed.timeline[-1].what == "Reminder to finish the setup emailed to the merchant (3 store(s) connected)"


async def test_no_reminder_for_an_unknown_a_finished_or_an_unconnected_merchant_nor_twice_a_day(handlers, uow):
    assert (await handlers.remind("m-1", "a", DAY)).code == "unknown_merchant"  # type: ignore[union-attr]
    j = Journey("m-1")
    await handlers.handle(j.connected()[0])                         # the key only: nothing connected
    assert (await handlers.remind("m-1", "a", DAY)).code == "nothing_connected"  # type: ignore[union-attr]
    await connected(handlers, "m-2")
    assert isinstance(await handlers.remind("m-2", "a", DAY), Done)
    again = await handlers.remind("m-2", "b", DAY)
    await handlers.complete("m-2", "u-1", None)
    finished = await handlers.remind("m-2", "a", timedelta(0))

    assert isinstance(again, Refusal) and again.code == "reminded_recently"
    assert isinstance(finished, Refusal) and finished.code == "already_completed"
    assert len(uow.committed.published(SetupReminderRequested)) == 1


async def test_replaying_the_published_reminder_rebuilds_the_same_merchant_row(handlers, uow):
    consumed = Journey().connected()
    for event in consumed:
        await handlers.handle(event)
    await handlers.remind("m-1", "alice@helpdesk.test", DAY)

    rebuilt = FakeUnitOfWork()
    replay = RegistryHandlers(rebuilt, FakeReads(rebuilt), clock=StepClock())
    for event in consumed + uow.committed.published(SetupReminderRequested):
        await replay.handle(event)

    assert rebuilt.committed.merchants["m-1"] == uow.committed.merchants["m-1"]


async def test_validating_the_key_again_keeps_the_reminders_so_the_daily_limit_holds(handlers, uow):
    j = Journey("m-1")
    for event in j.connected():
        await handlers.handle(event)
    assert isinstance(await handlers.remind("m-1", "a", DAY), Done)

    await handlers.handle(j.key_validated(stores=3))                  # the merchant validates a key again
    again = await handlers.remind("m-1", "b", DAY)

    assert uow.committed.merchants["m-1"].reminders_sent == 1
    assert isinstance(again, Refusal) and again.code == "reminded_recently"
