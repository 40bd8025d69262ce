"""The graph rules through the handlers, on fakes: states, cascade, derived events, parking, lateness."""


from connection_registry.domain import OrgState, StoreState
from connection_registry.handlers import Outcome, RegistryHandlers
from shared.contracts import ConnectionsChanged, DisconnectReason, StoreDisconnected

from .fakes import FakeUnitOfWork
from .journey import ORG_A, ORG_B, Journey


async def play(handlers: RegistryHandlers, *events) -> list[Outcome]:
    return [await handlers.handle(e) for e in events]


def states(uow: FakeUnitOfWork) -> dict[str, tuple[StoreState, object, str | None]]:
    return {s.store_id: (s.state, s.tenant_id, s.reason) for s in uow.committed.stores.values()}


async def test_the_journey_builds_the_graph_with_explicit_store_states(handlers, uow):
    j = Journey()
    kv, sc1, os1, os2, sc3, _ = events = j.connected()

    assert await play(handlers, kv, sc1) == [Outcome.APPLIED] * 2
    assert states(uow)["s-1"] == (StoreState.AUTHORISED, None, None)
    assert states(uow)["s-2"] == (StoreState.ELIGIBLE, None, None)

    await play(handlers, *events[2:])
    assert states(uow) == {"s-1": (StoreState.CONNECTED, ORG_A, None), "s-2": (StoreState.CONNECTED, ORG_A, None),
                           "s-3": (StoreState.CONNECTED, ORG_B, None)}
    graph = uow.committed.graph("m-1")
    assert {t: o.state for t, o in graph.organisations.items()} == {ORG_A: OrgState.AUTHORISED,
                                                                     ORG_B: OrgState.AUTHORISED}
    assert set(graph.grants) == {"g-1", "g-2"}
    assert graph.stores["s-1"].connected_at == os1.time and graph.stores["s-2"].grant_id == "g-1"
    assert [t.what for t in uow.committed.timeline] == [
        "Cloud POS API key 'Xero API Client' validated; 3 store(s) eligible",
        "Store 'Store 1' authorised Xero access (grant g-1) to 2 organisation(s): Steve's Cycles Ltd, "
        "Steve's Rentals Ltd",
        "Store 'Store 1' connected to organisation 'Steve's Cycles Ltd'",
        "Store 'Store 2' connected to organisation 'Steve's Cycles Ltd'",
        "Store 'Store 3' authorised Xero access (grant g-2) to 1 organisation(s): Steve's Rentals Ltd",
        "Store 'Store 3' connected to organisation 'Steve's Rentals Ltd'"]
    assert [t.occurred_at for t in uow.committed.timeline] == [e.time for e in events]
    assert all(t.correlation_id == j.correlation for t in uow.committed.timeline)
    assert uow.committed.outbox == []  # nothing to tell anyone before completion


async def test_an_organisation_disconnect_cascades_to_each_of_its_stores_with_one_event_each(handlers, uow):
    j = Journey()
    await play(handlers, *j.connected())
    od = j.org_disconnected(ORG_A)

    await handlers.handle(od)

    assert states(uow) == {"s-1": (StoreState.DISCONNECTED, ORG_A, "removed_in_xero"),
                           "s-2": (StoreState.DISCONNECTED, ORG_A, "removed_in_xero"),
                           "s-3": (StoreState.CONNECTED, ORG_B, None)}
    published = uow.committed.published(StoreDisconnected)
    assert sorted(e.data.store_id for e in published) == ["s-1", "s-2"]
    assert {(e.causation_id, e.correlation_id, e.data.reason) for e in published} == {
        (od.id, j.correlation, DisconnectReason.REMOVED_IN_XERO)}
    assert all(e.source == "/cloudpos-xero/connection_registry" and e.subject == e.data.store_id for e in published)
    assert uow.committed.published(ConnectionsChanged) == []  # not completed yet
    assert uow.committed.graph("m-1").organisations[ORG_A].state is OrgState.DISCONNECTED
    cascade = uow.committed.timeline[-3:]
    assert cascade[0].what == ("Organisation 'Steve's Cycles Ltd' disconnected (removed_in_xero); "
                               "2 store(s) disconnected")
    assert [(t.store_id, t.event_id, t.causation_id) for t in cascade[1:]] == [
        (e.data.store_id, e.id, od.id) for e in published]


async def test_derived_event_ids_are_deterministic(uow):
    j = Journey()
    events = [*j.connected(), j.org_disconnected(ORG_A)]
    other = FakeUnitOfWork()
    for target in (uow, other):
        await play(RegistryHandlers(target), *events)
    assert [e.id for e in uow.committed.outbox] == [e.id for e in other.committed.outbox]
    assert uow.committed.timeline == other.committed.timeline


async def test_moving_a_connected_store_to_another_organisation_disconnects_it_as_replaced(handlers, uow):
    j = Journey()
    await play(handlers, *j.connected())
    move = j.org_selected("s-1", ORG_B, "g-1")

    await handlers.handle(move)

    assert states(uow)["s-1"] == (StoreState.CONNECTED, ORG_B, None)
    (left,) = uow.committed.published(StoreDisconnected)
    assert (left.data.tenant_id, left.data.reason, left.causation_id) == (ORG_A, DisconnectReason.REPLACED, move.id)


async def test_changes_after_completion_publish_connections_changed_with_the_whole_map(handlers, uow):
    j = Journey()
    await play(handlers, *j.connected())
    await handlers.complete("m-1", "u-1", None)

    od = j.org_disconnected(ORG_B, DisconnectReason.GRANT_INVALID)
    await handlers.handle(od)
    await handlers.handle(j.org_selected("s-3", ORG_A, "g-1"))

    changed = uow.committed.published(ConnectionsChanged)
    assert [(c.data.reason, c.causation_id == od.id) for c in changed] == [("grant_invalid", True),
                                                                          ("store_connected", False)]
    assert changed[0].data.summary == ("Organisation 'Steve's Rentals Ltd' disconnected (grant_invalid): 1 store(s) "
                                       "no longer post to Xero: 'Store 3'")
    assert [link.store_id for link in changed[0].data.links] == ["s-1", "s-2"]
    assert [(link.store_id, link.tenant_id) for link in changed[1].data.links] == [
        ("s-1", ORG_A), ("s-2", ORG_A), ("s-3", ORG_A)]


async def test_an_event_for_an_unknown_store_is_parked_then_applied_when_the_key_is_validated(handlers, uow):
    j = Journey()
    kv, sc1, os1, os2, sc3, os3 = j.connected()

    assert await play(handlers, os1, sc1, j.org_disconnected(ORG_B, time=j.at(30))) == [Outcome.PARKED] * 3
    assert {p.waiting_for for p in uow.committed.parked.values()} == {
        "KeyValidated listing store s-1", "KeyValidated for the merchant"}
    assert uow.committed.timeline == []

    assert await handlers.handle(kv) is Outcome.APPLIED

    assert uow.committed.parked == {}
    assert states(uow)["s-1"] == (StoreState.CONNECTED, ORG_A, None)
    assert [t.what.split(" ")[0:2] for t in uow.committed.timeline] == [
        ["Cloud", "POS"], ["Store", "'Store"], ["Store", "'Store"], ["Organisation", "'Steve's"]]


async def test_org_selected_waits_for_the_store_connected_that_announced_its_grant(handlers, uow):
    j = Journey()
    kv, sc1, os1, *_ = j.connected()
    await handlers.handle(kv)

    assert await handlers.handle(os1) is Outcome.PARKED
    assert [p.waiting_for for p in uow.committed.parked.values()] == ["StoreConnected announcing grant g-1"]
    await handlers.handle(sc1)

    assert states(uow)["s-1"] == (StoreState.CONNECTED, ORG_A, None)
    assert uow.committed.parked == {}


async def test_a_late_event_is_recorded_as_superseded_and_changes_nothing(handlers, uow):
    j = Journey()
    kv, sc1, os1, *_ = j.connected()
    early_disconnect = j.org_disconnected(ORG_A, time=j.at(2.5))  # before os1 (minute 3), delivered after it
    await play(handlers, kv, sc1, os1)

    await handlers.handle(early_disconnect)

    assert states(uow)["s-1"] == (StoreState.CONNECTED, ORG_A, None)
    assert uow.committed.published(StoreDisconnected) == []
    assert uow.committed.timeline[-1].what.endswith(
        "0 store(s) disconnected; it was authorised again later, so it stays authorised")
    assert uow.committed.graph("m-1").organisations[ORG_A].state is OrgState.AUTHORISED


async def test_redelivering_every_event_changes_nothing(handlers, uow):
    events = [*Journey().connected()]
    await play(handlers, *events)
    before = uow.committed

    assert await play(handlers, *events, *events) == [Outcome.DUPLICATE] * 12
    assert uow.committed == before


async def test_a_selection_older_than_its_organisations_disconnection_is_superseded(handlers, uow):
    j = Journey()
    kv, sc1, os1, *_ = j.connected()
    delayed = j.org_selected("s-2", ORG_A, "g-1", time=j.at(3.5))  # chosen before A was lost, delivered after
    await play(handlers, kv, sc1, os1, j.org_disconnected(ORG_A, time=j.at(4)))

    await handlers.handle(delayed)

    assert states(uow)["s-2"] == (StoreState.ELIGIBLE, None, None)
    assert uow.committed.timeline[-1].reason == "superseded"
    assert uow.committed.timeline[-1].what == ("OrgSelected for store 'Store 2' arrived after a newer change "
                                               "(2026-03-01 08:04:00); recorded, not applied")


async def test_selecting_the_same_organisation_again_changes_no_link_and_tells_no_one(handlers, uow):
    j = Journey()
    events = j.connected()
    await play(handlers, *events)
    await handlers.complete("m-1", "u-1", None)
    published = len(uow.committed.outbox)

    await handlers.handle(j.org_selected("s-1", ORG_A, "g-1"))

    store = uow.committed.graph("m-1").stores["s-1"]
    assert (store.state, store.tenant_id, store.connected_at) == (StoreState.CONNECTED, ORG_A, events[2].time)
    assert len(uow.committed.outbox) == published
    assert uow.committed.timeline[-1].what == "Store 'Store 1' re-selected organisation 'Steve's Cycles Ltd' (unchanged)"


async def test_a_parked_event_says_what_it_is_waiting_for_now():
    """Arriving before the merchant's key, a disconnect waits for the key; once the key is known and the
    organisation still is not, it waits for the organisation (the helpdesk sees the current reason)."""
    uow = FakeUnitOfWork()
    handlers = RegistryHandlers(uow)
    journey = Journey("m-1")
    never = journey.org_disconnected(ORG_B)

    await handlers.handle(never)
    assert [p.waiting_for for p in uow.committed.parked.values()] == ["KeyValidated for the merchant"]

    await handlers.handle(journey.key_validated(stores=1))
    assert [p.waiting_for for p in uow.committed.parked.values()] == [
        f"StoreConnected or OrgSelected naming organisation {ORG_B}"]
