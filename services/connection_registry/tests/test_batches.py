"""`RegistryHandlers.handle_batch` on fakes: a partition's events in one transaction leave exactly what handling
them one by one leaves. (Real Kafka + PostgreSQL, a poison record among 500: test_registry_batches.py.)"""

from connection_registry.erasure import Erasure
from connection_registry.handlers import Outcome, RegistryHandlers

from .fakes import FakeKeys, FakeUnitOfWork, StepClock
from .journey import ORG_A, Journey


def interleaved() -> list:
    """Two merchants' journeys interleaved, an early event (parked, then applied) and a repeat within the batch."""
    steve, jane = Journey("m-1"), Journey("m-2")
    early = steve.org_selected("s-1", ORG_A, "g-1")          # before its store and grant are known: parked
    events = [early]
    for one, other in zip(steve.connected(), jane.connected(), strict=True):
        events += [one, other]
    events.insert(5, events[3])                              # the relay published one event twice
    return events


async def test_a_batch_leaves_what_one_by_one_leaves_with_the_same_outcomes() -> None:
    events = interleaved()
    one_by_one, batched = FakeUnitOfWork(), FakeUnitOfWork()
    singles = [await RegistryHandlers(one_by_one).handle(event) for event in events]

    outcomes = await RegistryHandlers(batched).handle_batch(events)

    assert outcomes == singles
    assert outcomes[0] is Outcome.PARKED and outcomes[5] is Outcome.DUPLICATE
    assert batched.committed == one_by_one.committed
    assert not batched.committed.parked                      # the early one was applied within the batch


async def test_a_batch_already_applied_changes_nothing() -> None:
    uow, events = FakeUnitOfWork(), interleaved()
    handlers = RegistryHandlers(uow)
    await handlers.handle_batch(events)
    before = uow.committed

    assert set(await handlers.handle_batch(events)) == {Outcome.DUPLICATE}
    assert uow.committed == before


async def test_an_erased_merchants_events_in_a_batch_are_ignored_and_the_others_applied() -> None:
    uow = FakeUnitOfWork()
    handlers = RegistryHandlers(uow)
    await Erasure(uow, FakeKeys(), clock=StepClock()).erase("m-1", "ops:olivia", "HD-1")

    outcomes = await handlers.handle_batch([Journey("m-1").key_validated(), Journey("m-2").key_validated()])

    assert outcomes == [Outcome.ERASED, Outcome.APPLIED]
    assert set(uow.committed.merchants) == {"m-2"}
