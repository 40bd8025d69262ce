"""Which trading days a store owes an invoice for, and the idempotency key that makes each one post once.

A store's first day is the day before its merchant was finalised ("yesterday" at finalisation, posted at
once); after that every day up to yesterday is due, so a service that was down for a few days catches up.
`catch_up_days` bounds how far back that goes. A pinned day (demo, tests) replaces all of that with one day.
"""

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True, slots=True)
class DayPolicy:
    catch_up_days: int = 7
    pinned: date | None = None

    def due(self, today: date, finalised_on: date) -> tuple[date, ...]:
        """The days to post, oldest first, given the stores' local date today and the finalisation's."""
        if self.pinned is not None:
            return (self.pinned,)
        latest = today - timedelta(days=1)
        first = max(finalised_on - timedelta(days=1), latest - timedelta(days=self.catch_up_days - 1))
        return tuple(first + timedelta(days=n) for n in range((latest - first).days + 1))


def idempotency_key(store_id: str, day: date, redrives: int = 0) -> str:
    """Stable per store and day, so a re-sent request (restart mid-call, timeout) returns Xero's first answer
    instead of a second invoice. A day an operator re-drives after a refusal gets a fresh key: Xero created
    nothing the first time, and must not just repeat its refusal."""
    key = f"daily-sales:{store_id}:{day.isoformat()}"
    return key if redrives == 0 else f"{key}:redrive-{redrives}"
