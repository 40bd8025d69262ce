"""Connection health on fakes: ConnectionBroken / ConnectionRestored, out of order and replayed, and the words."""

from dataclasses import replace
from uuid import UUID, uuid4

import pytest

from connection_registry.domain import RECONNECT_NEEDED, Change, Graph, Park, StoreState, reason_in_words
from connection_registry.domain.health import REASON_WORDS, connection_broken, connection_restored
from connection_registry.domain.model import Merchant, Organisation, OrgState, StoreRecord
from connection_registry.handlers import Outcome, RegistryHandlers
from shared.contracts import BreakReason, CloudEvent, ConnectionBroken, ConnectionRestored, examples

from .fakes import FakeUnitOfWork
from .journey import ORG_A, ORG_B, STEVE, Journey

INCIDENT, LATER = UUID("00000000-0000-4000-8000-00000000000a"), UUID("00000000-0000-4000-8000-00000000000b")


async def play(handlers: RegistryHandlers, *events: CloudEvent) -> list[Outcome]:
    return [await handlers.handle(e) for e in events]


def store(uow: FakeUnitOfWork, store_id: str = "s-1") -> StoreRecord:
    return uow.committed.graph("m-1").stores[store_id]


async def completed(handlers: RegistryHandlers) -> Journey:
    j = Journey()
    await play(handlers, *j.connected())
    await handlers.complete("m-1", "u-1", None)
    return j


# --- the rules themselves, on the shared contract examples (the brief's own words) -------------------------

def steve_graph() -> Graph:
    """Steve's merchant with one store, 'Steve Test Store', connected to the organisation of the same name."""
    link = examples.LINK
    merchant = Merchant("m-1", "Steve's Cycles", "pro_plus", "k-1")
    store_ = StoreRecord("m-1", link.store_id, link.store_name, StoreState.CONNECTED, link.tenant_id,
                         grant_id="g-1", connected_at=examples.BROKEN_AT.replace(hour=8),
                         changed_at=examples.BROKEN_AT.replace(hour=8))
    org = Organisation("m-1", link.tenant_id, link.organisation_name, OrgState.AUTHORISED, "g-1", examples.CONNECTION,
                       examples.BROKEN_AT.replace(hour=8), authorised_by=examples.STEVE)
    return Graph("m-1", merchant, {store_.store_id: store_}, {org.tenant_id: org})


def example(kind: type) -> CloudEvent:
    data = next(e for e in examples.ALL if isinstance(e, kind))
    return CloudEvent(data=data, source="/cloudpos-xero/oauth_gateway", time=examples.BROKEN_AT.replace(minute=31))


def test_a_break_keeps_the_link_marks_the_store_and_says_why_in_plain_words():
    graph = steve_graph()

    change = connection_broken(graph, example(ConnectionBroken))

    assert isinstance(change, Change) and change.publish == ()
    (broken,) = change.stores
    assert (broken.state, broken.tenant_id, broken.status) == (StoreState.CONNECTED, examples.TENANT, RECONNECT_NEEDED)
    assert (broken.broken.incident_id, broken.broken.reason, broken.broken.since) == (  # type: ignore[union-attr]
        examples.INCIDENT, BreakReason.REMOVED_IN_XERO, examples.BROKEN_AT)
    assert graph.updated(stores=change.stores).links() == graph.links()  # the map line stays
    (line,) = change.timeline
    assert (line.what, line.reason, line.actor) == (
        "Steve Test Store needs reconnecting: the app was removed inside Xero", "removed_in_xero", "xero")


def test_a_restore_of_the_same_incident_puts_the_store_back_to_connected():
    graph = steve_graph()
    broken = connection_broken(graph, example(ConnectionBroken))
    assert isinstance(broken, Change)
    restored_event = replace(example(ConnectionRestored), time=examples.BROKEN_AT.replace(hour=10))

    change = connection_restored(graph.updated(stores=broken.stores), restored_event)

    assert isinstance(change, Change) and change.publish == ()
    (restored,) = change.stores
    assert (restored.status, restored.tenant_id, restored.broken) == ("connected", examples.TENANT, None)
    assert restored.incident.reason is BreakReason.REMOVED_IN_XERO  # type: ignore[union-attr]
    assert [t.what for t in change.timeline] == [
        "Steve Test Store reconnected to 'Steve Test Store' (same organisation)"]


@pytest.mark.parametrize("reason", list(BreakReason))
def test_every_break_reason_has_its_own_words(reason):
    words = reason_in_words(reason)
    assert words == REASON_WORDS[reason] and words != reason_in_words("something_new")
    assert reason.value not in words


def test_unknown_reasons_still_read_as_a_sentence():
    assert reason_in_words(None) == reason_in_words("grant_invalid") == "the connection to Xero stopped working"


def test_a_break_for_a_store_not_connected_yet_waits_for_its_org_selected():
    graph = steve_graph()
    graph = graph.updated(stores=(replace(graph.stores["s-1"], state=StoreState.AUTHORISED, tenant_id=None),))

    assert connection_broken(graph, example(ConnectionBroken)) == Park("OrgSelected connecting store s-1")


# --- through the handlers --------------------------------------------------------------------------------------

async def test_a_break_after_completion_publishes_nothing_and_keeps_the_map(handlers, uow):
    j = await completed(handlers)
    published, links = list(uow.committed.outbox), uow.committed.graph("m-1").links()

    assert await handlers.handle(j.broken("s-1", ORG_A, INCIDENT)) is Outcome.APPLIED

    assert uow.committed.outbox == published  # neither ConnectionsChanged nor StoreDisconnected
    assert uow.committed.graph("m-1").links() == links
    assert (store(uow).state, store(uow).status) == (StoreState.CONNECTED, RECONNECT_NEEDED)
    assert store(uow, "s-2").status == "connected"  # the same organisation's other store is not broken
    assert uow.committed.timeline[-1].what == "Store 1 needs reconnecting: the app was removed inside Xero"
    assert [g.merchant_id for g in await handlers.needing_attention()] == ["m-1"]


async def test_restored_to_another_organisation_the_link_follows_and_nothing_is_published(handlers, uow):
    j = await completed(handlers)
    broken = j.broken("s-1", ORG_A, INCIDENT, BreakReason.ORGANISATION_DELETED)
    await handlers.handle(broken)
    published = list(uow.committed.outbox)

    await handlers.handle(j.restored("s-1", ORG_B, INCIDENT, broken.data.since, same_organisation=False))

    assert (store(uow).status, store(uow).tenant_id, store(uow).state) == ("connected", ORG_B, StoreState.CONNECTED)
    assert uow.committed.outbox == published
    assert uow.committed.timeline[-1].what == "Store 1 reconnected to 'Steve's Rentals Ltd' (another organisation)"
    assert await handlers.needing_attention() == []


async def test_a_restore_to_an_organisation_never_authorised_waits_for_its_consent(handlers, uow):
    j = Journey()
    kv, sc1, os1 = j.connected()[:3]
    await play(handlers, kv, sc1, os1)
    other = uuid4()
    broken = j.broken("s-1", ORG_A, INCIDENT)
    await handlers.handle(broken)
    restored = j.restored("s-1", ORG_A, INCIDENT, broken.data.since)
    restored = replace(restored, data=restored.data.model_copy(update={"tenant_id": other}))

    assert await handlers.handle(restored) is Outcome.PARKED
    assert [p.waiting_for for p in uow.committed.parked.values()] == [
        f"StoreConnected or OrgSelected naming organisation {other}"]
    assert store(uow).status == RECONNECT_NEEDED


async def test_a_break_arriving_after_its_restore_does_not_leave_the_store_broken(handlers, uow):
    j = await completed(handlers)
    broken = j.broken("s-1", ORG_A, INCIDENT, BreakReason.AUTHORISATION_EXPIRED)
    restored = j.restored("s-1", ORG_A, INCIDENT, broken.data.since)

    assert await play(handlers, restored, broken) == [Outcome.APPLIED] * 2

    assert store(uow).status == "connected" and store(uow).broken is None
    assert store(uow).incident.reason is BreakReason.AUTHORISATION_EXPIRED  # type: ignore[union-attr]
    assert [t.what for t in uow.committed.timeline[-2:]] == [
        "Store 1 reconnected to 'Steve's Cycles Ltd' (same organisation)",
        "Store 1: its break (the Xero authorisation expired or was withdrawn) arrived after it was reconnected; "
        "recorded, it stays connected"]
    assert uow.committed.timeline[-1].reason == "superseded"


async def test_either_order_leaves_the_same_rows(handlers, uow):
    """Live (restore first) and a rebuild (event-time order) must agree on every store and organisation row."""
    j = Journey()
    connected = j.connected()
    broken = j.broken("s-1", ORG_A, INCIDENT)
    restored = j.restored("s-1", ORG_B, INCIDENT, broken.data.since, same_organisation=False)
    await play(handlers, *connected, restored, broken)

    in_order = FakeUnitOfWork()
    await play(RegistryHandlers(in_order), *connected, broken, restored)

    assert in_order.committed.stores == uow.committed.stores
    assert in_order.committed.organisations == uow.committed.organisations


async def test_an_older_break_after_a_newer_restore_is_superseded(handlers, uow):
    j = await completed(handlers)
    old = j.broken("s-1", ORG_A, INCIDENT, time=j.at(30))
    newer = j.restored("s-1", ORG_A, LATER, j.at(40), time=j.at(45))

    await play(handlers, newer, old)

    assert store(uow).status == "connected"
    assert uow.committed.timeline[-1].reason == "superseded"


async def test_any_later_restore_ends_an_open_incident(handlers, uow):
    j = await completed(handlers)
    await handlers.handle(j.broken("s-1", ORG_A, INCIDENT))

    await handlers.handle(j.restored("s-1", ORG_A, LATER, j.time))

    assert store(uow).status == "connected" and store(uow).incident.incident_id == LATER  # type: ignore[union-attr]


async def test_an_older_restore_of_another_incident_leaves_a_new_break_open(handlers, uow):
    j = await completed(handlers)
    stale = j.restored("s-1", ORG_A, INCIDENT, j.at(20), time=j.at(25))
    await handlers.handle(j.broken("s-1", ORG_A, LATER, time=j.at(30)))

    await handlers.handle(stale)

    assert store(uow).status == RECONNECT_NEEDED and store(uow).broken.incident_id == LATER  # type: ignore[union-attr]
    assert uow.committed.timeline[-1].reason == "superseded"


async def test_a_break_older_than_the_stores_last_link_change_is_superseded(handlers, uow):
    j = await completed(handlers)
    await handlers.handle(j.org_selected("s-1", ORG_B, "g-1", time=j.at(30)))

    await handlers.handle(j.broken("s-1", ORG_A, INCIDENT, time=j.at(20)))

    assert store(uow).status == "connected" and store(uow).tenant_id == ORG_B


async def test_redelivered_breaks_and_restores_change_nothing(handlers, uow):
    j = await completed(handlers)
    broken = j.broken("s-1", ORG_A, INCIDENT)
    events = [broken, j.restored("s-1", ORG_A, INCIDENT, broken.data.since)]
    await play(handlers, *events)
    before = uow.committed

    assert await play(handlers, *events) == [Outcome.DUPLICATE] * 2
    assert uow.committed == before


async def test_the_same_incident_published_again_under_a_new_id_is_only_noted(handlers, uow):
    j = await completed(handlers)
    broken = j.broken("s-1", ORG_A, INCIDENT)
    await handlers.handle(broken)
    rows = uow.committed.stores.copy()

    await handlers.handle(replace(broken, id=uuid4()))

    assert uow.committed.stores == rows
    assert uow.committed.timeline[-1].what == f"Store 1: incident {INCIDENT} was already recorded"


async def test_a_new_link_after_a_disconnection_starts_healthy(handlers, uow):
    """The merchant disconnected a broken store's organisation and connected it again: no restore will come."""
    j = await completed(handlers)
    await handlers.handle(j.broken("s-3", ORG_B, INCIDENT))
    await handlers.handle(j.org_disconnected(ORG_B, reason="merchant_request"))
    assert store(uow, "s-3").status == "disconnected"

    await handlers.handle(j.org_selected("s-3", ORG_A, "g-1"))

    assert store(uow, "s-3").status == "connected" and store(uow, "s-3").incident is None


async def test_the_xero_user_who_authorised_an_organisation_is_kept_on_it(handlers, uow):
    j = Journey()
    kv, sc1, _, os2, sc3, os3 = j.connected()
    await play(handlers, kv, sc1, j.org_selected("s-1", ORG_A, "g-1", authorised_by=STEVE), os2, sc3, os3)

    orgs = uow.committed.graph("m-1").organisations
    assert orgs[ORG_A].authorised_by == STEVE  # s-2's later OrgSelected without a user keeps it
    assert orgs[ORG_B].authorised_by is None


async def test_reconnecting_to_another_organisation_org_selected_first_moves_the_map_as_any_selection(handlers, uow):
    """The gateway publishes OrgSelected then ConnectionRestored; applied in that order, the OrgSelected moves
    the store as it always has (StoreDisconnected `replaced`, ConnectionsChanged) and the restore only notes it."""
    j = await completed(handlers)
    broken = j.broken("s-1", ORG_A, INCIDENT)
    await handlers.handle(broken)
    before = len(uow.committed.outbox)

    await handlers.handle(j.org_selected("s-1", ORG_B, "g-1"))
    assert store(uow).status == "connected"  # a new link starts healthy
    await handlers.handle(j.restored("s-1", ORG_B, INCIDENT, broken.data.since, same_organisation=False))

    assert (store(uow).tenant_id, store(uow).status) == (ORG_B, "connected")
    assert [type(e.data).__name__ for e in uow.committed.outbox[before:]] == ["StoreDisconnected",
                                                                             "ConnectionsChanged"]
    assert uow.committed.timeline[-1].what == "Store 1 reconnected to 'Steve's Rentals Ltd' (another organisation)"
