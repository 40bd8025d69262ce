"""Sliding-window rate limits kept in PostgreSQL, so every instance of a service shares one budget.

A `Claim` names a bucket (e.g. "merchant:m-1", "client:203.0.113.9", "xero-tenant:<id>") and its `Limit`
(at most `max_hits` hits per `window`; `slices` > 0 counts a large budget in time slices, see limits.py).
`reserve` takes one hit from every claimed bucket at once, or none when any bucket is full (then
`Reservation.retry_after` says when to come back and `refused_by` which bucket); `release` gives the hits
back, for callers that only count some outcomes (e.g. failed attempts). Both run inside the caller's
transaction; `take` is a reservation in a transaction of its own (one round trip), `hold` stops a bucket
giving anything until a time (e.g. a third party's Retry-After), `forget` empties a logged bucket. A service
applies `RATE_LIMIT_MIGRATIONS` once at start-up (after its runtime started).
"""

from .limits import Claim, Limit, Reservation, slice_expiry, slice_start, wait_before_next, wait_before_next_slice
from .postgres import RATE_LIMIT_MIGRATIONS, forget, hold, release, reserve, take

__all__ = ["RATE_LIMIT_MIGRATIONS", "Claim", "Limit", "Reservation", "forget", "hold", "release", "reserve",
           "slice_expiry", "take",
           "slice_start", "wait_before_next", "wait_before_next_slice"]
