"""What the registry's use cases need from the outside world, as small Protocols."""

from contextlib import AbstractAsyncContextManager
from typing import Protocol
from uuid import UUID

from .domain import Change, StoreRecord


class RegistryTransaction(Protocol):
    async def claim(self, consumer: str, event_id: UUID) -> bool: ...
    async def stores_of(self, merchant_id: str) -> dict[str, StoreRecord]: ...
    async def apply(self, change: Change) -> None: ...


class UnitOfWork(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[RegistryTransaction]: ...
