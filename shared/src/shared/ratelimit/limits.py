"""The pure part of the rate limiter: limits, claims, reservations and the sliding-window arithmetic.

Two kinds of limit. A logged limit keeps one row per hit and is exact; it reads up to `max_hits` rows per
reservation, so it suits small budgets (5 a quarter hour, 60 a minute). A counted limit (`slices` > 0)
keeps one row per bucket per time slice with a hit count, so a reservation reads at most `slices` + 2
rows whatever the budget (5,000 a day, 10,000 a minute). It counts every hit of every slice that overlaps
the window, including hits of the oldest slice that already left it: it over-counts by up to one slice,
so it never lets more than `max_hits` through in any window, and sometimes refuses a little early.
"""

import math
from itertools import accumulate
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_NOW = timedelta(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # slices are aligned to it, so every instance agrees on them


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `max_hits` hits in any `window`; counted in `slices` time slices when `slices` > 0."""

    max_hits: int
    window: timedelta
    slices: int = 0

    def __post_init__(self) -> None:
        if self.max_hits < 1 or self.window <= _NOW or self.slices < 0:
            raise ValueError(f"a limit needs max_hits >= 1, a positive window and slices >= 0, got {self}")
        if self.slices and self.window / self.slices <= _NOW:
            raise ValueError(f"{self} has slices shorter than a microsecond")

    @property
    def counted(self) -> bool:
        return self.slices > 0

    @property
    def slice_length(self) -> timedelta:
        return self.window / self.slices


@dataclass(frozen=True, slots=True)
class Claim:
    """One hit wanted from `bucket`, which `limit` governs (a bucket is always used with the same limit)."""

    bucket: str
    limit: Limit


@dataclass(frozen=True, slots=True)
class Reservation:
    """The hits taken (allowed), or how long until every claimed bucket has room again (refused).

    `hit_ids` are the logged hits, `slice_hits` the (bucket, slice start) of the counted ones; `refused_by`
    names the bucket with the longest wait, the one `retry_after` is about (`held`: it was held, not full).
    """

    hit_ids: tuple[int, ...] = ()
    retry_after: timedelta = _NOW
    slice_hits: tuple[tuple[str, datetime], ...] = ()
    refused_by: str | None = None
    held: bool = False          # refused because `refused_by` is held (postgres.hold), not because it is full

    @property
    def allowed(self) -> bool:
        return self.retry_after <= _NOW

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds for a `Retry-After` header: rounded up, at least 1 when refused."""
        return 0 if self.allowed else max(1, math.ceil(self.retry_after.total_seconds()))


def wait_before_next(limit: Limit, expiries: Iterable[datetime], now: datetime) -> timedelta:
    """How long until a logged bucket admits one more hit, given its hits' expiry times (zero: right now).

    With n live hits and room for `max_hits`, the bucket has room once n - max_hits + 1 of them
    expired: the wait ends at the (n - max_hits + 1)-th earliest expiry.
    """
    live = sorted(e for e in expiries if e > now)
    if len(live) < limit.max_hits:
        return _NOW
    return live[len(live) - limit.max_hits] - now


def slice_start(limit: Limit, at: datetime) -> datetime:
    """The start of the counted limit's slice that holds the instant `at`."""
    length = limit.slice_length
    return _EPOCH + length * ((at - _EPOCH) // length)


def slice_expiry(limit: Limit, start: datetime) -> datetime:
    """When the slice starting at `start` stops overlapping the window: its end plus the window."""
    return start + limit.slice_length + limit.window


def wait_before_next_slice(limit: Limit, counts: Mapping[datetime, int], now: datetime) -> timedelta:
    """How long until a counted bucket admits one more hit, given its hit count per slice start.

    The window counts every slice that overlaps it; the bucket has room once enough of the oldest
    slices left the window for the rest to hold fewer than `max_hits`.
    """
    live = sorted((start, hits) for start, hits in counts.items() if slice_expiry(limit, start) > now and hits > 0)
    must_leave = sum(hits for _, hits in live) - limit.max_hits + 1
    if must_leave <= 0:
        return _NOW
    gone = accumulate(hits for _, hits in live)   # all of them leaving always suffices: max_hits >= 1
    return next(slice_expiry(limit, start) - now for (start, _), left in zip(live, gone) if left >= must_leave)
