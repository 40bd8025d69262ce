"""Xero's API limits: per tenant 5 in flight, 60/minute, 5,000/day; per app 10,000/minute.

Windows are fixed and start at each tenant's first call, so each tenant resets at its own time.
Rejected calls are not counted. Time comes from the sandbox clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fastapi.responses import PlainTextResponse

from sandboxes.xero.clock import Clock
from sandboxes.xero.settings import XeroSandboxSettings


@dataclass
class Window:
    length: float
    limit: int
    start: float = -math.inf
    count: int = 0

    def roll(self, now: float) -> None:
        if now >= self.start + self.length:
            self.start, self.count = now, 0

    def full(self) -> bool:
        return self.count >= self.limit

    def remaining(self) -> int:
        return max(self.limit - self.count, 0)

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.start + self.length - now))


@dataclass
class TenantCounters:
    minute: Window
    day: Window
    in_flight: int = 0
    peak_in_flight: int = 0
    served: int = 0


@dataclass
class Decision:
    headers: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    def rejection(self) -> PlainTextResponse:
        """Plain-text 429 body, as Xero sends (clients must not parse it)."""
        return PlainTextResponse("Rate limit exceeded", status_code=429, headers=self.headers)


class RateLimiter:
    def __init__(self, clock: Clock, settings: XeroSandboxSettings) -> None:
        self.clock, self.settings = clock, settings
        self.reset()

    def reset(self) -> None:
        self.app = Window(60, self.settings.app_minute_limit)
        self.tenants: dict[str, TenantCounters] = {}

    def _tenant(self, tenant_id: str) -> TenantCounters:
        if tenant_id not in self.tenants:
            s = self.settings
            self.tenants[tenant_id] = TenantCounters(Window(60, s.tenant_minute_limit),
                                                     Window(86400, s.tenant_day_limit))
        return self.tenants[tenant_id]

    def app_call(self) -> Decision:
        """Tenantless calls (/connections) only count against, and only report, the app minute limit."""
        now = self.clock.timestamp()
        self.app.roll(now)
        if self.app.full():
            return Decision({"X-AppMinLimit-Remaining": "0", "X-Rate-Limit-Problem": "appminute",
                             "Retry-After": str(self.app.retry_after(now))}, "appminute")
        self.app.count += 1
        return Decision({"X-AppMinLimit-Remaining": str(self.app.remaining())})

    def acquire(self, tenant_id: str) -> Decision:
        """On success the caller must call release(tenant_id) when the request finishes."""
        now, t = self.clock.timestamp(), self._tenant(tenant_id)
        for window in (self.app, t.minute, t.day):
            window.roll(now)
        problem, window = None, None
        if self.app.full():
            problem, window = "appminute", self.app
        elif t.day.full():
            problem, window = "day", t.day
        elif t.minute.full():
            problem, window = "minute", t.minute
        elif t.in_flight >= self.settings.tenant_concurrent_limit:
            problem = "concurrent"
        if problem is None:
            for w in (self.app, t.minute, t.day):
                w.count += 1
            t.in_flight, t.served = t.in_flight + 1, t.served + 1
            t.peak_in_flight = max(t.peak_in_flight, t.in_flight)
        headers = {"X-DayLimit-Remaining": str(t.day.remaining()),
                   "X-MinLimit-Remaining": str(t.minute.remaining()),
                   "X-AppMinLimit-Remaining": str(self.app.remaining())}
        if problem:
            headers["X-Rate-Limit-Problem"] = problem
            if window is not None:
                headers["Retry-After"] = str(window.retry_after(now))
        return Decision(headers, problem)

    def snapshot(self) -> dict[str, dict]:
        """Per tenant, for tests: calls admitted, the most ever in flight at once, and what is left now."""
        return {tenant_id: {"calls": t.served, "peak_in_flight": t.peak_in_flight, "in_flight": t.in_flight,
                            "minute_remaining": t.minute.remaining(), "day_remaining": t.day.remaining()}
                for tenant_id, t in self.tenants.items()}

    def release(self, tenant_id: str) -> None:
        counters = self.tenants.get(tenant_id)
        if counters and counters.in_flight > 0:
            counters.in_flight -= 1
