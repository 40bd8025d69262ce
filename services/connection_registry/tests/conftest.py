"""The fakes-backed registry most handler and page tests start from (a test file may override either fixture)."""

import pytest

from connection_registry.handlers import RegistryHandlers

from .fakes import FakeReads, FakeUnitOfWork, StepClock


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def handlers(uow: FakeUnitOfWork) -> RegistryHandlers:
    return RegistryHandlers(uow, FakeReads(uow), clock=StepClock())
