"""Consuming the registry's events: each one updates the merchant's map or finalisation in the transaction of its
inbox claim (so a redelivered event changes nothing twice), then wakes the poster. No HTTP here: a slow Xero
must never hold up a Kafka partition."""

import logging
from collections.abc import Callable

from shared.contracts import (CloudEvent, ConnectionsChanged, OrgDisconnected, SetupCompleted, SetupFinalised,
                              StoreLink)

from .domain import Link, Merchant
from .domain import merchants as rules
from .ports import Clock, EventWork, UnitOfWork

CONSUMER = "daily_sales"
log = logging.getLogger(__name__)


def links_of(links: tuple[StoreLink, ...]) -> tuple[Link, ...]:
    return tuple(Link(link.store_id, link.store_name, link.tenant_id, link.organisation_name) for link in links)


class MerchantEvents:
    def __init__(self, unit_of_work: UnitOfWork[EventWork], clock: Clock,
                 on_change: Callable[[], None] = lambda: None) -> None:
        """`on_change` runs after a transaction that changed a merchant committed (the poster's wake)."""
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._on_change = on_change

    async def setup_completed(self, event: CloudEvent) -> bool:
        """The first map. A resend carries the map as it was at completion, so it must not replace a newer one."""
        data = event.data
        assert isinstance(data, SetupCompleted)
        resend = event.causation_id is not None
        return await self._apply(event, lambda merchant: rules.setup_completed(
            merchant, links_of(data.links), data.merchant_name, event.time, resend))

    async def connections_changed(self, event: CloudEvent) -> bool:
        """A whole new map; days that waited for a reconnection are tried again at once."""
        data = event.data
        assert isinstance(data, ConnectionsChanged)
        return await self._apply(event, lambda merchant: rules.with_map(
            merchant, links_of(data.links), event.time, data.merchant_name), recheck=True)

    async def setup_finalised(self, event: CloudEvent) -> bool:
        data = event.data
        assert isinstance(data, SetupFinalised)
        return await self._apply(event, lambda merchant: rules.finalised(merchant, data.finalised_by, event.time))

    async def org_disconnected(self, event: CloudEvent) -> bool:
        data = event.data
        assert isinstance(data, OrgDisconnected)
        return await self._apply(event, lambda merchant: rules.org_disconnected(merchant, data.tenant_id, event.time))

    async def _apply(self, event: CloudEvent, rule: Callable[[Merchant], Merchant | None], *,
                     recheck: bool = False) -> bool:
        """True when the event changed the merchant; False when it was seen before or changed nothing."""
        async with self._unit_of_work() as tx:
            if not await tx.claim(CONSUMER, event.id):
                return False
            changed = rule(await tx.merchants.lock(event.data.merchant_id))
            if changed is not None:
                await tx.merchants.save(changed)
                if recheck:
                    await tx.postings.recheck([link.store_id for link in changed.links], self._clock())
        if changed is None:
            log.info("%s %s for merchant %s changed nothing (older or a resend)", type(event.data).__name__,
                     event.id, event.data.merchant_id)
            return False
        log.info("%s %s: merchant %s finalised=%s, %d linked store(s)", type(event.data).__name__, event.id,
                 changed.merchant_id, changed.finalised_at is not None, len(changed.links))
        self._on_change()
        return True
