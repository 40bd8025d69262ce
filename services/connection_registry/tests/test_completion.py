"""Completion, finalisation and resend on fakes, and that replaying what they published rebuilds them."""


from connection_registry.domain import Done, Refusal
from connection_registry.handlers import CONSUMER, Outcome, RegistryHandlers
from shared.contracts import SetupCompleted, SetupFinalised

from .fakes import FakeUnitOfWork
from .journey import ORG_A, ORG_B, Journey


async def connected(handlers: RegistryHandlers) -> Journey:
    j = Journey()
    for event in j.connected():
        await handlers.handle(event)
    return j


async def test_completion_is_recorded_once_and_publishes_one_setup_completed_with_the_map(handlers, uow):
    j = await connected(handlers)

    first = await handlers.complete("m-1", "u-7", None)
    again = await handlers.complete("m-1", "u-8", None)

    assert isinstance(first, Done) and first.change is not None
    assert isinstance(again, Done) and again.change is None and again.event_id == first.event_id
    (event,) = uow.committed.published(SetupCompleted)
    assert event.id == first.event_id and event.correlation_id == j.correlation
    assert event.data.completed_by == "u-7"
    assert [(link.store_id, link.tenant_id, link.organisation_name) for link in event.data.links] == [
        ("s-1", ORG_A, "Steve's Cycles Ltd"), ("s-2", ORG_A, "Steve's Cycles Ltd"),
        ("s-3", ORG_B, "Steve's Rentals Ltd")]
    assert uow.committed.timeline[-1].what == "Setup completed: 3 store(s) connected to 2 organisation(s)"
    assert (CONSUMER, event.id) in uow.committed.inbox  # a rebuild reading it back finds it applied


async def test_completion_needs_a_known_merchant_and_a_connected_store(handlers, uow):
    assert await handlers.complete("m-1", "u-1", None) == Refusal(
        "unknown_merchant", "No merchant m-1 is known: validate a Cloud POS API key first.")
    j = Journey()
    await handlers.handle(j.key_validated())

    refusal = await handlers.complete("m-1", "u-1", None)

    assert isinstance(refusal, Refusal) and refusal.code == "nothing_connected"
    assert uow.committed.outbox == []


async def test_finalisation_publishes_setup_finalised_once_and_only_after_completion(handlers, uow):
    await connected(handlers)
    assert (await handlers.finalise("m-1", "hd-ann")).code == "not_completed"  # type: ignore[union-attr]
    completed = await handlers.complete("m-1", "u-1", None)

    done = await handlers.finalise("m-1", "hd-ann")
    again = await handlers.finalise("m-1", "hd-bob")

    assert isinstance(done, Done) and done.change and isinstance(again, Done) and again.change is None
    (event,) = uow.committed.published(SetupFinalised)
    assert event.data.finalised_by == "hd-ann" and event.causation_id == completed.event_id  # type: ignore[union-attr]
    assert await handlers.awaiting_finalisation() == []


async def test_resend_republishes_the_recorded_completion_under_a_new_id_caused_by_the_original(handlers, uow):
    j = await connected(handlers)
    completed = await handlers.complete("m-1", "u-1", None)
    await handlers.handle(j.org_disconnected(ORG_B))  # the map changes after completion

    resent = await handlers.resend("m-1")

    original, copy = uow.committed.published(SetupCompleted)
    assert isinstance(resent, Done) and isinstance(completed, Done)
    assert copy.id == resent.event_id != original.id == completed.event_id
    assert copy.causation_id == original.id and copy.correlation_id == original.correlation_id
    assert copy.data == original.data  # the map as completed; the change went out as ConnectionsChanged
    assert uow.committed.timeline[-1].what == "Setup-completed notification resent to the helpdesk"
    assert uow.committed.merchants["m-1"].completion.event_id == original.id  # type: ignore[union-attr]


async def test_replaying_the_published_facts_rebuilds_the_same_state(handlers, uow):
    """What a rebuild does: the consumed events plus the registry's own SetupCompleted/SetupFinalised,
    in event-time order, into an empty registry whose outbox is ignored."""
    j = Journey()
    consumed = j.connected()
    for event in consumed:
        await handlers.handle(event)
    await handlers.complete("m-1", "u-1", None)
    await handlers.resend("m-1")
    await handlers.finalise("m-1", "hd-ann")
    later = j.org_disconnected(ORG_A, time=j.at(24 * 60))
    await handlers.handle(later)
    own = uow.committed.published(SetupCompleted) + uow.committed.published(SetupFinalised)

    rebuilt = FakeUnitOfWork()
    replay = RegistryHandlers(rebuilt)
    for event in sorted([*consumed, *own, later], key=lambda e: e.time):
        assert await replay.handle(event) is Outcome.APPLIED

    live, copy = uow.committed, rebuilt.committed
    assert (copy.merchants, copy.stores, copy.organisations, copy.grants, copy.timeline, copy.inbox) == (
        live.merchants, live.stores, live.organisations, live.grants, live.timeline, live.inbox)
