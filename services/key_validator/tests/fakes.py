"""Hand-written in-memory fakes of the key validator's ports; commit only on a clean exit, like PostgreSQL."""

import itertools
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from key_validator.domain import ApiKey, Attempt, KeyFacts, MerchantFacts
from key_validator.ports import CloudPosUnavailable
from shared.contracts import CloudEvent, Store
from shared.ratelimit import Claim, Reservation, wait_before_next


class FakeClock:
    def __init__(self, now: datetime = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class FakeCloudPos:
    """Cloud POS's answers by plain key and merchant; `down` makes every call fail like an outage."""

    keys: dict[str, KeyFacts] = field(default_factory=dict)
    merchants: dict[str, MerchantFacts] = field(default_factory=dict)
    store_lists: dict[str, tuple[Store, ...]] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)

    def add_merchant(self, merchant_id: str, name: str, licence: str = "pro_plus", stores: int = 2) -> None:
        self.merchants[merchant_id] = MerchantFacts(merchant_id, name, licence)
        self.store_lists[merchant_id] = tuple(Store(store_id=f"{merchant_id}-s{i}", name=f"{name} {i}")
                                              for i in range(1, stores + 1))

    def add_key(self, plain: str, key_id: str, merchant_id: str, service: str = "xero", *, revoked: bool = False,
                label: str = "Xero API Client") -> None:
        revoked_at = datetime(2026, 1, 12, tzinfo=UTC) if revoked else None
        self.keys[plain] = KeyFacts(not revoked, key_id, label, service, merchant_id, revoked_at)

    async def introspect(self, key: ApiKey) -> KeyFacts:
        self._call("introspect")
        return self.keys.get(key.reveal(), KeyFacts(active=False))

    async def merchant(self, merchant_id: str) -> MerchantFacts:
        self._call("merchant")
        return self.merchants[merchant_id]

    async def stores(self, merchant_id: str) -> tuple[Store, ...]:
        self._call("stores")
        return self.store_lists[merchant_id]

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if what in self.down or "all" in self.down:
            raise CloudPosUnavailable(f"{what}: fake outage")


@dataclass
class FakeState:
    attempts: list[Attempt] = field(default_factory=list)
    hits: dict[int, tuple[str, datetime]] = field(default_factory=dict)
    outbox: list[CloudEvent] = field(default_factory=list)


_ids = itertools.count(1)


class FakeTransaction:
    def __init__(self, committed: FakeState) -> None:
        self.state = replace(committed, attempts=list(committed.attempts), hits=dict(committed.hits),
                             outbox=list(committed.outbox))

    async def reserve(self, now: datetime, *claims: Claim) -> Reservation:
        waits = [wait_before_next(c.limit, [e for b, e in self.state.hits.values() if b == c.bucket], now)
                 for c in claims]
        if max(waits) > timedelta(0):
            return Reservation(retry_after=max(waits))
        ids = tuple(next(_ids) for _ in claims)
        self.state.hits.update({i: (c.bucket, now + c.limit.window) for i, c in zip(ids, claims, strict=True)})
        return Reservation(hit_ids=ids)

    async def release(self, reservation: Reservation) -> None:
        for hit in reservation.hit_ids:
            self.state.hits.pop(hit, None)

    async def record(self, attempt: Attempt) -> None:
        self.state.attempts.append(attempt)

    async def publish(self, *events: CloudEvent) -> None:
        self.state.outbox.extend(events)


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.committed = FakeState()
        self.transactions = 0

    @asynccontextmanager
    async def __call__(self):
        self.transactions += 1
        tx = FakeTransaction(self.committed)
        yield tx
        self.committed = tx.state

    def live_hits(self, bucket: str, now: datetime) -> int:
        return sum(1 for b, expires in self.committed.hits.values() if b == bucket and expires > now)


# The fake platform's demo: Steve (Pro Plus) holds a Xero key, a revoked one and a Bike Rental Manager key;
# Basil (Pro) holds a Xero key. Keys are well-formed and distinctive, so a leak is easy to grep for.
STEVE, BASIL = "m-steve", "m-basil"
XERO_KEY = "cpk_fakeXeroKeyForSteve_0123456789abcdefABCDEF"
REVOKED_KEY = "cpk_fakeRevokedXeroKey_0123456789abcdefABCDEF"
BRM_KEY = "cpk_fakeBikeRentalKey_0123456789abcdefABCDEFG"
BASIL_KEY = "cpk_fakeXeroKeyForBasil_0123456789abcdefABCDEF"
UNKNOWN_KEY = "cpk_fakeKeyNobodyIssued_0123456789abcdefABCDE"
FINGERPRINT_SECRET = b"test-fingerprint-secret-0123456789"


def demo_cloudpos() -> FakeCloudPos:
    cloudpos = FakeCloudPos()
    cloudpos.add_merchant(STEVE, "Steve's Cycles", "pro_plus", stores=3)
    cloudpos.add_merchant(BASIL, "Basil's Bakery", "pro", stores=1)
    cloudpos.add_key(XERO_KEY, "k-steve-xero", STEVE)
    cloudpos.add_key(REVOKED_KEY, "k-steve-revoked", STEVE, revoked=True)
    cloudpos.add_key(BRM_KEY, "k-steve-brm", STEVE, "bike_rental_manager", label="Bike Rental Manager API Client")
    cloudpos.add_key(BASIL_KEY, "k-basil-xero", BASIL)
    return cloudpos
