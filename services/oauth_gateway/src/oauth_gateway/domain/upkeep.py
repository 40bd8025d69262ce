"""When each grant is next tended: a keep-alive (a token refresh) well inside Xero's 60-day idle expiry, a
/connections check every few minutes, a failed refresh retried within seconds (a lost answer leaves the old
refresh token 30 minutes of grace, not an hour), and jitter so that 20,000 grants never fall due together."""

from dataclasses import dataclass
from datetime import datetime, timedelta

XERO_REFRESH_GRACE = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class UpkeepPlan:
    keepalive_every: timedelta
    check_every: timedelta
    jitter: float = 0.1                              # next times land up to 10 % early, spread over that part
    retry_first: timedelta = timedelta(seconds=5)
    retry_longest: timedelta = timedelta(minutes=2)

    def __post_init__(self) -> None:
        if self.retry_longest * 4 >= XERO_REFRESH_GRACE:
            raise ValueError("failed refreshes must be retried several times inside Xero's 30-minute grace")

    def retry_in(self, failures: int) -> timedelta:
        """After the n-th failed refresh in a row: 5 s, 10 s, 20 s ... at most 2 minutes."""
        return min(self.retry_first * 2 ** max(0, failures - 1), self.retry_longest)

    def early(self, interval: timedelta, spread: float) -> timedelta:
        """`interval`, shortened by up to `jitter` of it (`spread` in [0, 1) draws where)."""
        return interval * (1 - self.jitter * spread)


@dataclass(frozen=True, slots=True)
class DueGrant:
    """A grant taken for upkeep (under a lease): what fell due, and what we know of its last refresh."""

    grant_id: str
    refreshed_at: datetime
    keepalive_due: bool
    check_due: bool
    failures: int = 0                 # refreshes that failed in a row

    def needs_refresh(self, plan: UpkeepPlan, now: datetime) -> bool:
        """A keep-alive refreshes only a grant nobody refreshed lately (the platform's own calls refresh busy
        grants), except after a failed refresh, which is always retried."""
        if not self.keepalive_due:
            return False
        return self.failures > 0 or now - self.refreshed_at >= plan.early(plan.keepalive_every, 1.0)


@dataclass(frozen=True, slots=True)
class Tended:
    """What one pass over a grant did. `refreshed`: None when no refresh was attempted; `checked`: None when
    the check was not due, False when it could not be made; `retry_check_in`: when the budget or Xero said
    to come back."""

    refreshed_at: datetime
    refreshed: bool | None = None
    checked: bool | None = None
    retry_check_in: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    next_keepalive_at: datetime
    next_check_at: datetime | None        # None: unchanged (the check was not due)
    failures: int


def next_schedule(plan: UpkeepPlan, due: DueGrant, tended: Tended, now: datetime, spread: float) -> Schedule:
    """The grant's next due times after a pass. A failed refresh comes back within seconds; otherwise the
    keep-alive falls due `keepalive_every` after the last refresh (whoever made it)."""
    if tended.refreshed is False:
        failures = due.failures + 1
        next_keepalive = now + plan.retry_in(failures)
    else:
        failures = 0
        next_keepalive = tended.refreshed_at + plan.early(plan.keepalive_every, spread)
    next_check = None
    if due.check_due:
        if tended.checked is False:
            wait = tended.retry_check_in or min(plan.check_every, timedelta(minutes=1))
            next_check = now + wait
        else:
            next_check = now + plan.early(plan.check_every, spread)
    return Schedule(next_keepalive, next_check, failures)
