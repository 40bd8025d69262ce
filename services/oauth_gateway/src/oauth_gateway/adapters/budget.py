"""Xero's limits as one budget, shared through PostgreSQL by every gateway instance and every kind of call.

Xero's limits belong to the app: per tenant 5 calls in flight, 60 a minute and 5,000 a day; per app 10,000
a minute over all tenants, which tenantless calls (/connections) spend too. Built on `shared.ratelimit`:
the minute and day hits are kept; the in-flight hit is given back when the call ends (and expires on its
own after `lease`, should an instance die mid-call). The day and app-minute budgets are large, so they are
counted in time slices.

Sliding windows never admit more than the limit in any window of their length, so they never exceed
Xero's windows either, whatever Xero's windows are aligned to. But a call is stamped by our database
before it reaches Xero (queueing, a round trip, the network), so two calls we stamped a window apart may
reach Xero a little less than a window apart: every window is widened by `margin` (1 s) to absorb that.

A 429 from Xero holds a bucket for Retry-After (`shared.ratelimit.hold`), so every instance waits it out:
the tenant's minute, or the app minute (which every call claims) when the app minute is spent. A slot costs
one round trip to PostgreSQL (`take`) and one to give the in-flight hit back.
"""

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import asyncpg

from shared.ratelimit import Claim, Limit, Reservation, hold, release, take

from ..metrics import BUDGET_IN_FLIGHT, count_rate_limited, count_reservation
from ..ports import BudgetExhausted

__all__ = ["BudgetExhausted", "BudgetShare", "TenantBudget", "XeroLimits"]

_APP_MINUTE = "xero-app:minute"    # every call claims it, so holding it holds every tenant
_POLL = (0.05, 0.15)               # a full in-flight budget frees when any call ends: poll, with jitter
_LOGGED_UP_TO = 1_000             # a minute limit above this (only ever configured) is counted in slices
_SHARE_PARTS = 10                  # a share is granted per tenth of a minute, so it never comes as one burst
_CONCURRENT_BACKOFF = 1            # a concurrent-limit 429 clears when a call ends: block only briefly


@dataclass(frozen=True, slots=True)
class XeroLimits:
    """Xero's published limits (the defaults); tests configure small ones over short windows."""

    concurrent: int = 5
    per_minute: int = 60
    per_day: int = 5_000
    app_per_minute: int = 10_000
    minute: timedelta = timedelta(minutes=1)
    day: timedelta = timedelta(days=1)
    margin: timedelta = timedelta(seconds=1)   # see the module docstring
    lease: timedelta = timedelta(minutes=1)    # longer than any call (timeouts are seconds)
    day_slices: int = 96                       # 15-minute slices: a day's window reads at most 98 rows
    app_minute_slices: int = 60


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One try: the in-flight hit to give back when the call ends (granted), or what held it up."""

    granted: Reservation | None = None
    limit: str = "none"
    wait: float = 0.0              # before trying again
    retry_after: float = 0.0       # told to a caller that will not wait that long


def _refused(limit: str, wait: timedelta) -> _Attempt:
    seconds = wait.total_seconds()
    return _Attempt(limit=limit, wait=seconds, retry_after=seconds)


class TenantBudget:
    """Every Xero call takes a `slot` first; a 429 from Xero is reported with `back_off`."""

    def __init__(self, pool: Callable[[], asyncpg.Pool], limits: XeroLimits = XeroLimits(), *,
                 max_wait: float = 10.0) -> None:
        """`max_wait`: how long `slot` waits for room unless a call says otherwise."""
        self._pool = pool
        self._max_wait = max_wait
        self._in_flight = Limit(limits.concurrent, limits.lease)
        self._minute = Limit(limits.per_minute, limits.minute + limits.margin,   # exact while small (Xero's 60)
                             slices=0 if limits.per_minute <= _LOGGED_UP_TO else limits.app_minute_slices)
        self._day = Limit(limits.per_day, limits.day + limits.margin, slices=limits.day_slices)
        self._app_minute = Limit(limits.app_per_minute, limits.minute + limits.margin,
                                 slices=limits.app_minute_slices)

    @asynccontextmanager
    async def slot(self, tenant_id: UUID | None, *, max_wait: float | None = None) -> AsyncIterator[None]:
        """Room for one call to Xero, held while it runs; BudgetExhausted when none comes within `max_wait`.

        A tenant's call spends the tenant's minute and day and the app minute, and holds one of the
        tenant's in-flight slots; a tenantless call (`None`) spends the app minute only.
        """
        in_flight = await self._acquire(tenant_id, self._max_wait if max_wait is None else max_wait)
        BUDGET_IN_FLIGHT.inc()
        try:
            yield
        finally:
            BUDGET_IN_FLIGHT.dec()
            if in_flight.hit_ids:          # one DELETE: no transaction needed around it
                await release(self._pool(), in_flight)

    def app_slot(self, *, max_wait: float | None = None) -> AbstractAsyncContextManager[None]:
        """A tenantless call's slot (the app minute only): `slot(None)`."""
        return self.slot(None, max_wait=max_wait)

    async def back_off(self, tenant_id: UUID | None, seconds: int, problem: str | None = None) -> None:
        """Xero said 429: every instance waits `seconds` before calling for the tenant, or for any tenant when
        the app minute is spent (problem "appminute", or a tenantless call, which only that limit governs).
        A concurrent-limit 429 clears as soon as a call ends, so it holds for a second at most."""
        count_rate_limited(problem)
        problem = (problem or "").lower()
        bucket = _APP_MINUTE if problem == "appminute" or tenant_id is None else f"xero-tenant:{tenant_id}:minute"
        if problem == "concurrent":
            seconds = min(seconds, _CONCURRENT_BACKOFF)
        await hold(self._pool(), bucket, seconds)

    async def _acquire(self, tenant_id: UUID | None, max_wait: float) -> Reservation:
        """Try, and wait what the budget says, until granted or the wait would pass `max_wait`."""
        started, held_by = time.monotonic(), "none"
        while True:
            attempt = await self._try(tenant_id)
            waited = time.monotonic() - started
            if attempt.granted is not None:
                count_reservation(held_by, "granted" if held_by == "none" else "waited", waited)
                return attempt.granted
            held_by = attempt.limit
            if waited + attempt.wait > max_wait:
                count_reservation(held_by, "refused", waited)
                raise BudgetExhausted(held_by, max(1, math.ceil(attempt.retry_after)))
            await asyncio.sleep(attempt.wait)

    async def _try(self, tenant_id: UUID | None) -> _Attempt:
        """One reservation in one round trip (shared.ratelimit.take): the tenant's minute, day and in-flight
        slot and the app minute, all or nothing; a held bucket (a 429 from Xero) refuses as "blocked"."""
        app = Claim(_APP_MINUTE, self._app_minute)
        if tenant_id is None:
            taken = await take(self._pool(), app)
        else:
            tenant = f"xero-tenant:{tenant_id}"
            taken = await take(self._pool(), Claim(f"{tenant}:minute", self._minute), Claim(f"{tenant}:day", self._day),
                               Claim(f"{tenant}:in-flight", self._in_flight), app)
        if taken.allowed:                 # of the logged claims (the minute's, the in-flight slot's), the last
            return _Attempt(granted=Reservation(hit_ids=taken.hit_ids[-1:]))
        refused_by = str(taken.refused_by)
        limit = "blocked" if taken.held else "appminute" if refused_by == _APP_MINUTE else {
            "in-flight": "concurrent", "minute": "minute", "day": "day"}[refused_by.rsplit(":", 1)[-1]]
        if limit == "concurrent":         # frees when any call ends: poll rather than wait out the lease
            return _Attempt(limit=limit, wait=random.uniform(*_POLL), retry_after=1)
        return _refused(limit, taken.retry_after)


class BudgetShare:
    """At most `share` of the app minute for one kind of background work (upkeep), on top of the app budget every
    call already claims: a sweep of 20,000 grants can never crowd out the platform's calls, however many
    instances run it. Spread over tenths of a minute (200 per 6 s, not 2,000 in the first seconds of a minute),
    counted in time slices (one round trip per turn). No margin: the app minute each call also claims has it."""

    def __init__(self, pool: Callable[[], asyncpg.Pool], name: str, share: float,
                 limits: XeroLimits = XeroLimits()) -> None:
        self._pool = pool
        per_tenth = max(1, int(limits.app_per_minute * share / _SHARE_PARTS))
        self._claim = Claim(f"xero-app:{name}", Limit(per_tenth, limits.minute / _SHARE_PARTS, slices=6))
        self.name = name

    async def turn(self, *, max_wait: float) -> None:
        started = time.monotonic()
        while True:
            taken = await take(self._pool(), self._claim)
            if taken.allowed:
                count_reservation(self.name, "granted", time.monotonic() - started)
                return
            wait = taken.retry_after.total_seconds() + random.uniform(*_POLL)   # instances do not wake together
            if time.monotonic() - started + wait > max_wait:
                count_reservation(self.name, "refused", time.monotonic() - started)
                raise BudgetExhausted(self.name, max(1, math.ceil(wait)))
            await asyncio.sleep(wait)
