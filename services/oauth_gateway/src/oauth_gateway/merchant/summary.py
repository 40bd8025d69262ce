"""The summary of connected stores (read from connection_registry) and "I have finished connecting stores"."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from shared.contracts import BreakReason, XeroUser

from ..domain import refusals
from ..domain.completion import BEHIND
from ..domain.health import Health, StoreHealth
from ..domain.model import DEFAULT_CONSENT_TTL, ConnectionStatus, WebSession
from ..domain.platform import StoreConnection
from ..domain.refusals import Refusal
from ..ports import Clock, Registry, ServiceRefusal, ServiceUnavailable, SummaryWork, UnitOfWork
from .completions import sees_a_connected_store

log = logging.getLogger(__name__)
RegistryView = dict[str, Any]      # the registry's summary document (docs/internal-apis.md)


@dataclass(frozen=True, slots=True)
class AwaitingSelection:
    """A consent given at Xero with no organisation selected yet: "Select an Organisation" resumes it until
    `until` (the consent TTL), from any session of the merchant."""

    flow_id: UUID
    store_id: str
    store_name: str
    organisations: tuple[str, ...]
    until: datetime


@dataclass(frozen=True, slots=True)
class StoreRow:
    """One store's line on the stores page: `state` is `connected`, `reconnect_needed`, `disconnected` or
    `not_connected`; `awaiting` when a consent waits for its selection."""

    state: str
    organisation_name: str | None = None
    health: StoreHealth | None = None
    awaiting: "AwaitingSelection | None" = None

    @property
    def linked(self) -> bool:
        """Connected (working or not): it offers "Change organisation" or "Reconnect", never "Connect to Xero"."""
        return self.state in ("connected", "reconnect_needed")


@dataclass(frozen=True, slots=True)
class Summary:
    available: bool
    completed: bool = False
    organisations: list[dict] = field(default_factory=list)   # {tenant_id, organisation_name, stores: [...]}
    store_states: dict[str, dict] = field(default_factory=dict)
    health: tuple[StoreHealth, ...] = ()       # this gateway's own view: it is the one that sees breaks first
    awaiting: tuple[AwaitingSelection, ...] = ()   # the gateway's own too: the registry does not know the flows

    def awaiting_of(self, store_id: str) -> AwaitingSelection | None:
        return next((a for a in self.awaiting if a.store_id == store_id), None)

    @property
    def needs_attention(self) -> tuple[StoreHealth, ...]:
        return tuple(h for h in self.health if h.health is Health.RECONNECT_NEEDED)

    def of_store(self, store_id: str) -> StoreHealth | None:
        return next((h for h in self.health if h.store_id == store_id), None)

    def row_of(self, store_id: str) -> StoreRow:
        """The gateway's own links say whether a store is connected (the registry hears of a change a moment
        later, through Kafka); the registry remembers which stores were connected once and are no longer."""
        health, awaiting = self.of_store(store_id), self.awaiting_of(store_id)
        if health is not None:
            state = "reconnect_needed" if health.health is Health.RECONNECT_NEEDED else "connected"
            return StoreRow(state, health.organisation_name, health, awaiting)
        known = self.store_states.get(store_id) or {}
        ended = known.get("state") in ("connected", "disconnected")
        return StoreRow("disconnected" if ended else "not_connected", None, None, awaiting)

    @property
    def any_connected(self) -> bool:
        """ "I have finished connecting stores" is offered only once a store is connected."""
        return bool(self.health or self.organisations)


@dataclass(frozen=True, slots=True)
class Finished:
    first_time: bool        # False: the registry already knew
    recorded: bool = False  # the registry could not take it now: kept here, the helpdesk is told shortly


class Summaries:
    def __init__(self, unit_of_work: UnitOfWork[SummaryWork], clock: Clock, registry: Registry, *,
                 settle_timeout: float = 5.0, wanted_scopes: tuple[str, ...] = (),
                 consent_ttl: timedelta = DEFAULT_CONSENT_TTL) -> None:
        """`wanted_scopes`: what the app asks Xero for now; a connection granted less needs new permissions.
        `consent_ttl`: how long a consent waits for its selection."""
        self._unit_of_work = unit_of_work
        self._consent_ttl = consent_ttl
        self._wanted = wanted_scopes
        self._clock = clock
        self._registry = registry
        self._settle_timeout = settle_timeout

    async def read(self, session: WebSession) -> Summary:
        """The registry is the source of truth for the map; organisations this gateway has just ended are hidden
        at once, and each store's health (connected, or reconnect needed and why) is the gateway's own."""
        health, awaiting = await self.health(session.merchant_id), await self.awaiting(session.merchant_id)
        try:
            found = await self._registry.summary(session.merchant_id)
        except (ServiceUnavailable, ServiceRefusal) as error:
            log.warning("registry summary unavailable: %s", type(error).__name__)
            return Summary(available=False, health=health, awaiting=awaiting)
        if found is None:
            return Summary(available=True, health=health, awaiting=awaiting)
        async with self._unit_of_work() as tx:
            ours = {str(c.tenant_id): c.status for c in await tx.connections.of_merchant(session.merchant_id)}
        organisations = [o for o in found.get("organisations", []) if o.get("stores") and ours.get(
            str(o.get("tenant_id")), ConnectionStatus.ACTIVE) is ConnectionStatus.ACTIVE]
        return Summary(True, bool(found.get("completed")), organisations,
                       {s["store_id"]: s for s in found.get("stores", []) if "store_id" in s}, health, awaiting)

    async def awaiting(self, merchant_id: str) -> tuple[AwaitingSelection, ...]:
        """The merchant's consents still waiting for "Confirm Selection" (the newest one per store). One older
        than the store's current connection is not offered (say a Starter organisation refused, then the store
        connected through another consent): the sweep still tidies it up at Xero when its time is up."""
        now = self._clock()
        async with self._unit_of_work() as tx:
            flows = await tx.flows.awaiting_selection(merchant_id, now - self._consent_ttl)
            linked = {s.link.store_id: s.link.connected_at for s in await tx.store_links.of_merchant(merchant_id)}
        newest = {f.store_id: f for f in flows if f.authorised_at is not None}    # oldest first: the newest wins
        newest = {k: f for k, f in newest.items() if k not in linked or f.authorised_at >= linked[k]}
        return tuple(AwaitingSelection(f.flow_id, f.store_id, f.store_name, tuple(o.name for o in f.organisations),
                                       f.authorised_at + self._consent_ttl) for f in newest.values())

    async def health(self, merchant_id: str) -> tuple[StoreHealth, ...]:
        async with self._unit_of_work() as tx:
            linked = await tx.store_links.of_merchant(merchant_id)
            users = {g: (await tx.grants.get(g)) for g in {s.grant_id for s in linked}}
        return tuple(store_health(s, users[s.grant_id].xero_user if users[s.grant_id] else None, self._wanted)
                     for s in linked)

    async def settle(self, merchant_id: str, shows: Callable[[RegistryView], bool]) -> bool:
        """Wait (briefly, bounded) until the registry shows the merchant's own change.

        Our events reach the registry through Kafka, a moment after we redirect; without this the page
        that should "refresh and display a summary of the stores you have connected" would show the old one.
        """
        deadline = time.monotonic() + self._settle_timeout
        while True:
            try:
                found = await self._registry.summary(merchant_id)
            except (ServiceUnavailable, ServiceRefusal):
                return False
            if found is not None and shows(found):
                return True
            if time.monotonic() > deadline:
                log.info("registry has not yet applied the change for merchant %s", merchant_id)
                return False
            await asyncio.sleep(0.1)

    async def served_by(self, merchant_id: str) -> dict[str, list[str]]:
        """Which organisation already serves which stores, for the selection page (empty if unknown)."""
        try:
            found = await self._registry.summary(merchant_id)
        except (ServiceUnavailable, ServiceRefusal):
            return {}
        return {str(o.get("tenant_id")): [s.get("name", s.get("store_id", "")) for s in o.get("stores", [])]
                for o in (found or {}).get("organisations", [])}

    async def finish(self, session: WebSession) -> Finished | Refusal:
        """"I have finished connecting stores": the registry tells the helpdesk (SetupCompleted). When it cannot
        take it now (away, or not yet aware of a store we see connected: our events wait for Kafka), the request
        is kept and `merchant.completions` offers it again until it does; the merchant is told it is recorded."""
        try:
            status = await self._registry.complete(session.merchant_id, session.user_id)
        except ServiceUnavailable:
            return await self._keep(session, "registry_unavailable")
        except ServiceRefusal as refusal:
            if refusal.code in BEHIND:   # "nothing connected" (or no such merchant) may only mean "not yet"
                return await self._keep(session, f"registry_behind:{refusal.code}")
            return refusals.completion_refused(refusal.code, refusal.message)
        now = self._clock()
        async with self._unit_of_work() as tx:
            await tx.completions.end(session.merchant_id, now, f"delivered:{status}")  # one kept earlier, if any
            await tx.audit.record(now, session.user_id, "setup.completed", session.merchant_id, status=status)
        return Finished(first_time=status != 200)

    async def _keep(self, session: WebSession, why: str) -> Finished | Refusal:
        """Nothing is kept that the registry is sure to refuse: with no store connected here, say so now."""
        now = self._clock()
        async with self._unit_of_work() as tx:
            if not await sees_a_connected_store(tx, session.merchant_id):
                return refusals.nothing_connected()
            if await tx.completions.keep(session.merchant_id, session.user_id, now):
                await tx.audit.record(now, session.user_id, "setup.completion_recorded", session.merchant_id,
                                      reason=why)
        log.info("completion of merchant %s kept for later delivery (%s)", session.merchant_id, why)
        return Finished(first_time=True, recorded=True)


def store_connected(store_id: str, tenant_id: UUID) -> Callable[[RegistryView], bool]:
    return lambda found: any(s.get("store_id") == store_id and s.get("state") == "connected"
                             and s.get("tenant_id") == str(tenant_id) for s in found.get("stores", []))


def organisation_released(tenant_id: str) -> Callable[[RegistryView], bool]:
    return lambda found: not any(s.get("state") == "connected" and s.get("tenant_id") == tenant_id
                                 for s in found.get("stores", []))


def store_health(found: StoreConnection, user: XeroUser | None, wanted: tuple[str, ...] = ()) -> StoreHealth:
    link = found.link
    broken = found.connection_status is ConnectionStatus.BROKEN
    reason = None
    if not broken and found.missing_scopes(wanted):       # still works for what it was granted: no incident
        return StoreHealth(link.store_id, link.store_name or link.store_id, link.tenant_id, found.organisation_name,
                           Health.RECONNECT_NEEDED, BreakReason.NEW_PERMISSIONS_NEEDED, None, user)
    if broken:
        try:
            reason = BreakReason(found.status_reason or "")
        except ValueError:       # broken before reasons had names (e.g. "invalid_grant")
            reason = BreakReason.AUTHORISATION_EXPIRED if found.status_reason == "invalid_grant" else \
                BreakReason.REMOVED_IN_XERO
    return StoreHealth(link.store_id, link.store_name or link.store_id, link.tenant_id, found.organisation_name,
                       Health.RECONNECT_NEEDED if broken else Health.CONNECTED, reason, found.broken_since, user)
