"""The summary of connected stores (read from connection_registry) and "I have finished connecting stores"."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from ..domain import refusals
from ..domain.model import ConnectionStatus, WebSession
from ..domain.refusals import Refusal
from ..ports import Clock, Registry, ServiceRefusal, ServiceUnavailable, SummaryWork, UnitOfWork

log = logging.getLogger(__name__)
RegistryView = dict[str, Any]      # the registry's summary document (docs/internal-apis.md)


@dataclass(frozen=True, slots=True)
class Summary:
    available: bool
    completed: bool = False
    organisations: list[dict] = field(default_factory=list)   # {tenant_id, organisation_name, stores: [...]}
    store_states: dict[str, dict] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finished:
    first_time: bool        # False: the registry already knew


class Summaries:
    def __init__(self, unit_of_work: UnitOfWork[SummaryWork], clock: Clock, registry: Registry, *,
                 settle_timeout: float = 5.0) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._registry = registry
        self._settle_timeout = settle_timeout

    async def read(self, session: WebSession) -> Summary:
        """The registry is the source of truth; organisations this gateway has just ended are hidden at once."""
        try:
            found = await self._registry.summary(session.merchant_id)
        except (ServiceUnavailable, ServiceRefusal) as error:
            log.warning("registry summary unavailable: %s", type(error).__name__)
            return Summary(available=False)
        if found is None:
            return Summary(available=True)
        async with self._unit_of_work() as tx:
            ours = {str(c.tenant_id): c.status for c in await tx.connections.of_merchant(session.merchant_id)}
        organisations = [o for o in found.get("organisations", []) if o.get("stores") and ours.get(
            str(o.get("tenant_id")), ConnectionStatus.ACTIVE) is ConnectionStatus.ACTIVE]
        return Summary(True, bool(found.get("completed")), organisations,
                       {s["store_id"]: s for s in found.get("stores", []) if "store_id" in s})

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
        """"I have finished connecting stores": the registry tells the helpdesk (SetupCompleted)."""
        try:
            status = await self._registry.complete(session.merchant_id, session.user_id)
        except ServiceRefusal as refusal:
            if refusal.code == "nothing_connected":
                return refusals.nothing_connected()
            return refusals.completion_refused(refusal.code, refusal.message)
        except ServiceUnavailable:
            return refusals.registry_unavailable()
        async with self._unit_of_work() as tx:
            await tx.audit.record(self._clock(), session.user_id, "setup.completed", session.merchant_id,
                                  status=status)
        return Finished(first_time=status != 200)


def store_connected(store_id: str, tenant_id: UUID) -> Callable[[RegistryView], bool]:
    return lambda found: any(s.get("store_id") == store_id and s.get("state") == "connected"
                             and s.get("tenant_id") == str(tenant_id) for s in found.get("stores", []))


def organisation_released(tenant_id: str) -> Callable[[RegistryView], bool]:
    return lambda found: not any(s.get("state") == "connected" and s.get("tenant_id") == tenant_id
                                 for s in found.get("stores", []))
