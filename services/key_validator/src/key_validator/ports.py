"""What the validation use case needs from the outside world, as small Protocols."""

from datetime import datetime
from typing import Protocol

from shared import ports
from shared.contracts import CloudEvent, Store
from shared.ports import Clock
from shared.ratelimit import Claim, Reservation

from .domain import ApiKey, Attempt, KeyFacts, MerchantFacts


class CloudPosUnavailable(Exception):
    """Cloud POS could not answer (down, 5xx, timeout, nonsense): retryable, never the merchant's fault.
    The message names what failed, never a key or a token."""


class CloudPos(Protocol):
    """The Cloud POS platform API; every method raises CloudPosUnavailable when it cannot answer."""

    async def introspect(self, key: ApiKey) -> KeyFacts: ...
    async def merchant(self, merchant_id: str) -> MerchantFacts: ...
    async def stores(self, merchant_id: str) -> tuple[Store, ...]: ...


class ValidatorTransaction(Protocol):
    async def reserve(self, now: datetime, *claims: Claim) -> Reservation: ...
    async def release(self, reservation: Reservation) -> None: ...
    async def record(self, attempt: Attempt) -> None: ...
    async def publish(self, *events: CloudEvent) -> None: ...


UnitOfWork = ports.UnitOfWork[ValidatorTransaction]


class Fingerprint(Protocol):
    def __call__(self, key: ApiKey) -> str: ...
