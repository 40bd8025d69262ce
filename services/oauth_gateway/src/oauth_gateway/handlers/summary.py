"""The summary of connected stores (read from connection_registry) and "I have finished connecting stores"."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from ..domain.model import ConnectionStatus, WebSession
from ..domain.problems import Problem
from ..ports import ServiceRefusal, ServiceUnavailable
from .common import Deps

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Summary:
    available: bool
    completed: bool = False
    organisations: list[dict] = field(default_factory=list)   # {tenant_id, organisation_name, stores: [...]}
    store_states: dict[str, dict] = field(default_factory=dict)


async def read_summary(deps: Deps, session: WebSession) -> Summary:
    """The registry is the source of truth; organisations this gateway has just ended are hidden at once."""
    try:
        found = await deps.registry.summary(session.merchant_id)
    except (ServiceUnavailable, ServiceRefusal) as error:
        log.warning("registry summary unavailable: %s", type(error).__name__)
        return Summary(available=False)
    if found is None:
        return Summary(available=True)
    async with deps.unit_of_work() as tx:
        ours = {str(c.tenant_id): c.status for c in await tx.connections_of_merchant(session.merchant_id)}
    organisations = [o for o in found.get("organisations", []) if o.get("stores")
                     and ours.get(str(o.get("tenant_id")), ConnectionStatus.ACTIVE) is ConnectionStatus.ACTIVE]
    return Summary(True, bool(found.get("completed")), organisations,
                   {s["store_id"]: s for s in found.get("stores", []) if "store_id" in s})


async def settle(deps: Deps, merchant_id: str, shows: Callable[[dict[str, Any]], bool],
                 timeout: float = 5.0) -> bool:
    """Wait (briefly, bounded) until the registry shows the merchant's own change.

    Our events reach the registry through Kafka, a moment after we redirect; without this the page
    that should "refresh and display a summary of the stores you have connected" would show the old one.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = await deps.registry.summary(merchant_id)
        except (ServiceUnavailable, ServiceRefusal):
            return False
        if found is not None and shows(found):
            return True
        if time.monotonic() > deadline:
            log.info("registry has not yet applied the change for merchant %s", merchant_id)
            return False
        await asyncio.sleep(0.1)


def store_connected(store_id: str, tenant_id: UUID) -> Callable[[dict[str, Any]], bool]:
    return lambda found: any(s.get("store_id") == store_id and s.get("state") == "connected"
                             and s.get("tenant_id") == str(tenant_id) for s in found.get("stores", []))


def organisation_released(tenant_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda found: not any(s.get("state") == "connected" and s.get("tenant_id") == tenant_id
                                 for s in found.get("stores", []))


async def served_by(deps: Deps, merchant_id: str) -> dict[str, list[str]]:
    """Which organisation already serves which stores, for the selection page (empty if unknown)."""
    try:
        found = await deps.registry.summary(merchant_id)
    except (ServiceUnavailable, ServiceRefusal):
        return {}
    return {str(o.get("tenant_id")): [s.get("name", s.get("store_id", "")) for s in o.get("stores", [])]
            for o in (found or {}).get("organisations", [])}


async def finish(deps: Deps, session: WebSession) -> str:
    try:
        status = await deps.registry.complete(session.merchant_id, session.user_id)
    except ServiceRefusal as refusal:
        if refusal.code == "nothing_connected":
            raise Problem(409, "nothing_connected", "No stores are connected yet",
                          "Connect at least one store to a Xero organisation before you tell us you have "
                          "finished.") from None
        raise Problem(400, refusal.code, "We could not record that you have finished", refusal.message) from None
    except ServiceUnavailable:
        raise Problem(503, "registry_unavailable", "We could not record that just now",
                      "Please try again in a moment.") from None
    async with deps.unit_of_work() as tx:
        await tx.audit(deps.clock(), session.user_id, "setup.completed", session.merchant_id, status=status)
    return ("Thank you - we already knew you had finished." if status == 200 else
            "Thank you. The Citrus-Lime Helpdesk Team will now arrange to complete the remaining setup steps "
            "to finalise the integration with Cloud POS and your Xero account.")
