"""What the daily-sales use cases need from the outside world, as small Protocols and the errors they raise.

Two third parties (Cloud POS for the sales, the gateway's platform API for Xero) and the service's own rows.
Consuming an event touches merchants and the ledger inside one transaction (`EventWork`); the poster's ledger
calls are one transaction each (`Ledger`), so no transaction is held open across an HTTP call.
"""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from shared.ports import Clock, UnitOfWork

from .domain import ClaimedDay, Connection, DaySales, Decision, DueDay, Invoice, Merchant, PostableStore, ProxyAnswer

__all__ = ["Clock", "UnitOfWork"]  # with everything below


class CloudPosUnavailable(Exception):
    """Cloud POS did not answer usefully (down, 5xx, timeout, nonsense): try the day again later."""


class PlatformUnavailable(Exception):
    """The platform API gave no usable answer (no connection, timeout, 5xx on the status call, our token
    refused): nothing is known about Xero, so the day is tried again later with the same idempotency key."""


class Sales(Protocol):
    async def day_of_sales(self, store_id: str, day: date) -> DaySales | None:
        """The store's sales that day; None when Cloud POS does not know the store."""
        ...


class XeroThroughPlatform(Protocol):
    """Xero as the platform API offers it: the service never sees a Xero token or picks a tenant itself."""

    async def connection(self, store_id: str) -> Connection | None:
        """The store's connection; None when it has none (404)."""
        ...

    async def create_invoice(self, store_id: str, invoice: Invoice, idempotency_key: str) -> ProxyAnswer:
        """`PUT .../proxy/api.xro/2.0/Invoices`: whatever came back, judged by the domain."""
        ...

    async def find_invoices(self, store_id: str, reference: str) -> ProxyAnswer:
        """`GET .../proxy/api.xro/2.0/Invoices?where=Reference=="<reference>"`."""
        ...


# --- rows inside one transaction of a consumed event ------------------------------------------------------
class MerchantRows(Protocol):
    async def lock(self, merchant_id: str) -> Merchant:
        """The merchant (an empty one the first time), locked until the transaction ends: the registry's topics
        are consumed concurrently, and one merchant's events must apply one at a time."""
        ...

    async def save(self, merchant: Merchant) -> None: ...


class PostingRows(Protocol):
    async def recheck(self, store_ids: Sequence[str], now: datetime) -> int:
        """Days of these stores waiting for a reconnection become due now; how many."""
        ...


class EventWork(Protocol):
    async def claim(self, consumer: str, event_id: UUID) -> bool: ...

    @property
    def merchants(self) -> MerchantRows: ...

    @property
    def postings(self) -> PostingRows: ...


# --- the poster's ledger: one transaction per call -------------------------------------------------------
class Ledger(Protocol):
    async def postable_stores(self) -> list[PostableStore]: ...

    async def plan(self, days: Sequence[DueDay], now: datetime) -> int:
        """Add the days not in the ledger yet as due now; how many were new."""
        ...

    async def claim_due(self, now: datetime, limit: int, lease_until: datetime) -> list[ClaimedDay]:
        """Hold up to `limit` due days (of stores still postable) until `lease_until`, skipping those another
        poster holds; a day whose holder died is due again once its lease ends."""
        ...

    async def finish(self, claimed: ClaimedDay, decision: Decision, now: datetime) -> bool:
        """Record how the attempt ended, unless another attempt took the day over meanwhile."""
        ...

    async def defer_tenant(self, tenant_id: UUID, until: datetime) -> int:
        """A 429: every pending day of that organisation's stores waits until `until`; how many."""
        ...
