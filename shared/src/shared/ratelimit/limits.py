"""The pure part of the rate limiter: limits, claims, reservations and the sliding-window arithmetic."""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

_NOW = timedelta(0)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `max_hits` hits in any `window`."""

    max_hits: int
    window: timedelta

    def __post_init__(self) -> None:
        if self.max_hits < 1 or self.window <= _NOW:
            raise ValueError(f"a limit needs max_hits >= 1 and a positive window, got {self}")


@dataclass(frozen=True, slots=True)
class Claim:
    """One hit wanted from `bucket`, which `limit` governs."""

    bucket: str
    limit: Limit


@dataclass(frozen=True, slots=True)
class Reservation:
    """The hits taken (allowed), or how long until every claimed bucket has room again (refused)."""

    hit_ids: tuple[int, ...] = ()
    retry_after: timedelta = _NOW

    @property
    def allowed(self) -> bool:
        return self.retry_after <= _NOW

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds for a `Retry-After` header: rounded up, at least 1 when refused."""
        return 0 if self.allowed else max(1, math.ceil(self.retry_after.total_seconds()))


def wait_before_next(limit: Limit, expiries: Iterable[datetime], now: datetime) -> timedelta:
    """How long until the bucket admits one more hit, given its hits' expiry times (zero: right now).

    With n live hits and room for `max_hits`, the bucket has room once n - max_hits + 1 of them
    expired: the wait ends at the (n - max_hits + 1)-th earliest expiry.
    """
    live = sorted(e for e in expiries if e > now)
    if len(live) < limit.max_hits:
        return _NOW
    return live[len(live) - limit.max_hits] - now
