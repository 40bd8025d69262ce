"""The registry's use cases on fakes: fast, no I/O."""

from dataclasses import replace
from uuid import uuid4

import pytest

from connection_registry.domain import StoreState
from connection_registry.handlers import RegistryHandlers
from shared.contracts import CloudEvent, Store
from shared.contracts.examples import key_validated

from .fakes import FakeUnitOfWork


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def handlers(uow: FakeUnitOfWork) -> RegistryHandlers:
    return RegistryHandlers(uow)


async def test_a_validated_key_makes_every_listed_store_eligible(handlers, uow):
    assert await handlers.key_validated(CloudEvent(data=key_validated("m-1", stores=3), source="/t"))

    stores = uow.committed.stores
    assert sorted(s.store_id for s in stores.values()) == ["s-1", "s-2", "s-3"]
    assert {s.state for s in stores.values()} == {StoreState.ELIGIBLE}
    assert uow.committed.merchants["m-1"].licence == "pro_plus"
    assert [t.what for t in uow.committed.timeline] == [
        "Cloud POS API key 'Xero API Client' validated; 3 store(s) eligible"]


async def test_the_same_event_twice_changes_nothing_the_second_time(handlers, uow):
    event = CloudEvent(data=key_validated("m-1"), source="/t")
    await handlers.key_validated(event)
    before = uow.committed

    assert not await handlers.key_validated(event)
    assert uow.committed == before


async def test_a_new_validation_keeps_connected_stores_connected_and_renames(handlers, uow):
    await handlers.key_validated(CloudEvent(data=key_validated("m-1", stores=2), source="/t"))
    key = ("m-1", "s-1")
    tenant = uuid4()
    uow.committed.stores[key] = replace(uow.committed.stores[key], state=StoreState.CONNECTED, tenant_id=tenant)

    renamed = key_validated("m-1", stores=2).model_copy(
        update={"stores": (Store(store_id="s-1", name="Renamed"), Store(store_id="s-2", name="Two"))})
    await handlers.key_validated(CloudEvent(data=renamed, source="/t"))

    assert uow.committed.stores[key].state is StoreState.CONNECTED
    assert uow.committed.stores[key].tenant_id == tenant
    assert uow.committed.stores[key].name == "Renamed"
    assert len(uow.committed.timeline) == 2
