"""Consuming the registry's events: once each, in any order, waking the poster only when something changed."""

from datetime import timedelta

import pytest

from daily_sales.domain import Status
from daily_sales.handlers import MerchantEvents
from shared.contracts import (CloudEvent, ConnectionsChanged, DisconnectReason, OrgDisconnected, SetupCompleted,
                              SetupFinalised, StoreLink)

from .fakes import OTHER_TENANT, START, TENANT, FakeClock, FakeEvents, FakeLedger, Row

STEVE_1 = StoreLink(store_id="s-1", store_name="Steve Test Store", tenant_id=TENANT, organisation_name="Org 1")
STEVE_2 = StoreLink(store_id="s-2", store_name="Steve Test Store 2", tenant_id=OTHER_TENANT,
                    organisation_name="Org 2")


def completed(*links: StoreLink, at=START, causation=None) -> CloudEvent:
    data = SetupCompleted(merchant_id="m-1", merchant_name="Steve's Cycles", links=links or (STEVE_1,),
                          completed_by="u-1")
    return CloudEvent(data=data, source="/registry", time=at, causation_id=causation)


def changed(*links: StoreLink, at=START) -> CloudEvent:
    data = ConnectionsChanged(merchant_id="m-1", merchant_name="Steve's Cycles", summary="changed",
                              reason="store_connected", links=links)
    return CloudEvent(data=data, source="/registry", time=at)


def finalised(at=START) -> CloudEvent:
    return CloudEvent(data=SetupFinalised(merchant_id="m-1", finalised_by="helpdesk-1"), source="/registry", time=at)


def disconnected(tenant=TENANT, at=START) -> CloudEvent:
    data = OrgDisconnected(merchant_id="m-1", tenant_id=tenant, organisation_name="Org",
                           reason=DisconnectReason.MERCHANT_REQUEST, actor="u-1")
    return CloudEvent(data=data, source="/gateway", time=at)


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


@pytest.fixture
def wakes() -> Wakes:
    return Wakes()


@pytest.fixture
def handlers(ledger, wakes) -> MerchantEvents:
    return MerchantEvents(FakeEvents(ledger), FakeClock(), on_change=wakes)


async def test_completed_then_finalised_makes_the_stores_postable_and_wakes_the_poster(handlers, ledger, wakes):
    assert await handlers.setup_completed(completed(STEVE_1, STEVE_2))
    assert await ledger.postable_stores() == []
    assert await handlers.setup_finalised(finalised(START + timedelta(hours=1)))
    stores = await ledger.postable_stores()
    assert [(s.store_id, s.tenant_id, s.finalised_at) for s in stores] == [
        ("s-1", TENANT, START + timedelta(hours=1)), ("s-2", OTHER_TENANT, START + timedelta(hours=1))]
    assert wakes.count == 2


async def test_finalised_before_completed_ends_the_same(handlers, ledger):
    await handlers.setup_finalised(finalised(START + timedelta(hours=1)))
    await handlers.setup_completed(completed(STEVE_1))
    assert [s.store_id for s in await ledger.postable_stores()] == ["s-1"]


async def test_the_same_event_twice_changes_nothing_and_does_not_wake(handlers, ledger, wakes):
    event = completed()
    assert [await handlers.setup_completed(event), await handlers.setup_completed(event)] == [True, False]
    assert wakes.count == 1


async def test_a_resend_of_setup_completed_keeps_the_newer_map(handlers, ledger):
    original = completed(STEVE_1, STEVE_2)
    await handlers.setup_completed(original)
    await handlers.connections_changed(changed(STEVE_2, at=START + timedelta(minutes=1)))
    await handlers.setup_completed(completed(STEVE_1, STEVE_2, at=START + timedelta(days=1), causation=original.id))
    assert [link.store_id for link in ledger.merchants["m-1"].links] == ["s-2"]


async def test_org_disconnected_stops_posting_for_its_stores(handlers, ledger):
    await handlers.setup_completed(completed(STEVE_1, STEVE_2))
    await handlers.setup_finalised(finalised())
    assert await handlers.org_disconnected(disconnected(TENANT, START + timedelta(minutes=1)))
    assert [s.store_id for s in await ledger.postable_stores()] == ["s-2"]


async def test_a_late_older_map_cannot_bring_a_disconnected_org_back(handlers, ledger):
    await handlers.setup_finalised(finalised())
    await handlers.org_disconnected(disconnected(TENANT, START + timedelta(minutes=2)))
    await handlers.connections_changed(changed(STEVE_1, STEVE_2, at=START + timedelta(minutes=1)))
    assert [s.store_id for s in await ledger.postable_stores()] == ["s-2"]
    await handlers.connections_changed(changed(STEVE_1, STEVE_2, at=START + timedelta(minutes=3)))  # reconnected
    assert [s.store_id for s in await ledger.postable_stores()] == ["s-1", "s-2"]


async def test_connections_changed_makes_days_waiting_for_a_reconnection_due_now(handlers, ledger):
    await handlers.setup_completed(completed(STEVE_1, STEVE_2))
    day = START.date() - timedelta(days=1)
    later = START + timedelta(hours=1)
    ledger.rows[("s-1", day)] = Row("m-1", TENANT, Status.RECONNECT_NEEDED, later)
    ledger.rows[("s-2", day)] = Row("m-1", OTHER_TENANT, Status.FAILED, None)
    ledger.rows[("s-9", day)] = Row("m-9", TENANT, Status.RECONNECT_NEEDED, later)  # another merchant's store
    await handlers.connections_changed(changed(STEVE_1, STEVE_2, at=START + timedelta(minutes=1)))
    assert (ledger.rows[("s-1", day)].status, ledger.rows[("s-1", day)].next_attempt_at) == (Status.PENDING, START)
    assert ledger.rows[("s-2", day)].status is Status.FAILED
    assert ledger.rows[("s-9", day)].status is Status.RECONNECT_NEEDED


async def test_a_failing_transaction_keeps_nothing_not_even_the_claim(ledger, wakes):
    events, event = FakeEvents(ledger), completed()
    handlers = MerchantEvents(events, FakeClock(), on_change=wakes)
    events.fail_on_save = ConnectionResetError("database went away")
    with pytest.raises(ConnectionResetError):
        await handlers.setup_completed(event)
    assert ledger.merchants == {} and wakes.count == 0 and events.commits == 0
    assert await handlers.setup_completed(event)  # redelivered: applied this time
    assert [link.store_id for link in ledger.merchants["m-1"].links] == ["s-1"]
