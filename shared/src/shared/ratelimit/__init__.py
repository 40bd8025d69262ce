"""Sliding-window rate limits kept in PostgreSQL, so every instance of a service shares one budget.

A `Claim` names a bucket (e.g. "merchant:m-1", "client:203.0.113.9", "xero-tenant:<id>") and its `Limit`
(at most `max_hits` hits per `window`). `reserve` takes one hit from every claimed bucket at once, or
none when any bucket is full (then `Reservation.retry_after` says when to come back); `release` gives the
hits back, for callers that only count some outcomes (e.g. failed attempts). Both run inside the caller's
transaction. A service applies `RATE_LIMIT_MIGRATIONS` once at start-up (after its runtime started).
"""

from .limits import Claim, Limit, Reservation, wait_before_next
from .postgres import RATE_LIMIT_MIGRATIONS, release, reserve

__all__ = ["RATE_LIMIT_MIGRATIONS", "Claim", "Limit", "Reservation", "release", "reserve", "wait_before_next"]
