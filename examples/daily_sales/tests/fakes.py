"""Hand-written in-memory fakes of the daily-sales ports; a unit of work commits only on a clean exit, like
PostgreSQL, and the ledger holds and finishes days by the same rules as the SQL."""

import copy
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from daily_sales.domain import (ClaimedDay, Connection, DaySales, Decision, DueDay, Invoice, Link, Merchant,
                                PostableStore, ProxyAnswer, Status, VatTotal)
from daily_sales.domain.outcomes import CLAIMABLE
from daily_sales.ports import CloudPosUnavailable, PlatformUnavailable

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday; "yesterday" is Sunday 1 March
TENANT = UUID("3f5c1b2a-8d4e-4c6f-9a1b-2c3d4e5f6a01")
OTHER_TENANT = UUID("3f5c1b2a-8d4e-4c6f-9a1b-2c3d4e5f6a02")


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def day_sales(store_id: str = "s-1", day: date = date(2026, 3, 1), *, net20: str = "100.00",
              tax20: str = "20.00", net0: str = "0.00", count: int = 3) -> DaySales:
    totals = [VatTotal(Decimal("20"), Decimal(net20), Decimal(tax20))]
    if Decimal(net0):
        totals.append(VatTotal(Decimal("0"), Decimal(net0), Decimal("0.00")))
    return DaySales(store_id, day, "GBP", count, tuple(totals))


@dataclass
class FakeSales:
    """Cloud POS: a fixed day per (store, date); unknown days have the default sales; `down` fails every call."""

    days: dict[tuple[str, date], DaySales | None] = field(default_factory=dict)
    down: bool = False
    calls: list[tuple[str, date]] = field(default_factory=list)

    async def day_of_sales(self, store_id: str, day: date) -> DaySales | None:
        self.calls.append((store_id, day))
        if self.down:
            raise CloudPosUnavailable("GET sales: ConnectError")
        return self.days.get((store_id, day), day_sales(store_id, day))


def posted(number: int = 1) -> ProxyAnswer:
    return ProxyAnswer(200, body={"Invoices": [{"InvoiceID": f"inv-{number}", "InvoiceNumber": f"INV-{number:04d}"}]})


def problem(status: int, code: str, retry_after: float | None = None, **extra: object) -> ProxyAnswer:
    return ProxyAnswer(status, problem={"type": f"https://errors.example/{code}", "title": code, "status": status,
                                        "detail": f"{code} detail", "code": code, **extra}, retry_after=retry_after)


@dataclass
class Sent:
    store_id: str
    invoice: Invoice
    idempotency_key: str


@dataclass
class FakeXero:
    """The platform API in front of Xero: scripted answers to the invoice PUT, taken in order (the last one
    repeats), every call recorded. Like Xero, a repeated Idempotency-Key gets the first answer again, errors
    included, until `forget_keys()` (Xero keeps keys a few minutes); a created invoice is found by Reference."""

    answers: list[ProxyAnswer | Exception] = field(default_factory=lambda: [posted()])
    connections: dict[str, Connection | None] = field(default_factory=dict)
    connection_down: bool = False
    search_answer: ProxyAnswer | None = None
    sent: list[Sent] = field(default_factory=list)
    connection_calls: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    invoices: dict[str, dict] = field(default_factory=dict)
    _by_key: dict[str, ProxyAnswer] = field(default_factory=dict)

    async def connection(self, store_id: str) -> Connection | None:
        self.connection_calls.append(store_id)
        if self.connection_down:
            raise PlatformUnavailable("GET connection: HTTP 503")
        return self.connections.get(store_id, Connection(store_id, TENANT, "Steve Test Store", "active"))

    async def create_invoice(self, store_id: str, invoice: Invoice, idempotency_key: str) -> ProxyAnswer:
        self.sent.append(Sent(store_id, invoice, idempotency_key))
        if idempotency_key in self._by_key:
            return self._by_key[idempotency_key]
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if answer.problem is None and answer.status != 429:  # the proxy's refusals and 429s never reach the store
            self._by_key[idempotency_key] = answer
        if 200 <= answer.status < 300 and answer.problem is None:
            made = dict(answer.body["Invoices"][0])
            self.invoices[invoice.reference] = made | {"Reference": invoice.reference, "Status": "AUTHORISED"}
        return answer

    async def find_invoices(self, store_id: str, reference: str) -> ProxyAnswer:
        self.searches.append(reference)
        if self.search_answer is not None:
            return self.search_answer
        found = [self.invoices[reference]] if reference in self.invoices else []
        return ProxyAnswer(200, body={"Invoices": found})

    def forget_keys(self) -> None:
        self._by_key.clear()


@dataclass
class Row:
    merchant_id: str
    tenant_id: UUID
    status: Status = Status.PENDING
    next_attempt_at: datetime | None = None
    attempts: int = 0
    redrives: int = 0
    problem: str | None = None
    invoice_id: str | None = None
    invoice_number: str | None = None


class FakeLedger:
    """The ledger and the map in memory; `merchants` is shared with FakeEvents so both see one state."""

    def __init__(self, merchants: dict[str, Merchant] | None = None) -> None:
        self.merchants: dict[str, Merchant] = merchants if merchants is not None else {}
        self.rows: dict[tuple[str, date], Row] = {}
        self.deferred: list[tuple[UUID, datetime]] = []

    def link(self, store_id: str) -> tuple[Merchant, Link] | None:
        return next(((m, link) for m in self.merchants.values() if m.finalised_at for link in m.links
                     if link.store_id == store_id), None)

    async def postable_stores(self) -> list[PostableStore]:
        return [PostableStore(m.merchant_id, link.store_id, link.store_name, link.tenant_id, m.finalised_at)
                for m in self.merchants.values() for link in m.postable]

    async def plan(self, days: Sequence[DueDay], now: datetime) -> int:
        new = [d for d in days if (d.store_id, d.day) not in self.rows]
        for d in new:
            self.rows[(d.store_id, d.day)] = Row(d.merchant_id, d.tenant_id, next_attempt_at=now)
        return len(new)

    async def claim_due(self, now: datetime, limit: int, lease_until: datetime) -> list[ClaimedDay]:
        due = sorted((row.next_attempt_at, key) for key, row in self.rows.items()
                     if row.status in CLAIMABLE and row.next_attempt_at <= now and self.link(key[0]))
        claimed = []
        for _, (store_id, day) in due[:limit]:
            row, (merchant, link) = self.rows[(store_id, day)], self.link(store_id)
            resent = row.status is Status.POSTING
            row.status, row.attempts, row.next_attempt_at, row.tenant_id = (Status.POSTING, row.attempts + 1,
                                                                             lease_until, link.tenant_id)
            claimed.append(ClaimedDay(merchant.merchant_id, store_id, link.store_name, link.tenant_id, day,
                                      row.attempts, row.redrives, resent))
        return claimed

    async def finish(self, claimed: ClaimedDay, decision: Decision, now: datetime) -> bool:
        row = self.rows[(claimed.store_id, claimed.day)]
        if row.attempts != claimed.attempt or row.status is not Status.POSTING:
            return False
        row.status, row.next_attempt_at, row.problem = decision.status, decision.next_attempt_at, decision.problem
        row.invoice_id = decision.invoice_id or row.invoice_id
        row.invoice_number = decision.invoice_number or row.invoice_number
        return True

    async def defer_tenant(self, tenant_id: UUID, until: datetime) -> int:
        self.deferred.append((tenant_id, until))
        waiting = [r for r in self.rows.values() if r.tenant_id == tenant_id and r.status is Status.PENDING]
        for row in waiting:
            row.next_attempt_at = max(row.next_attempt_at, until)
        return len(waiting)


class _Tx:
    """One transaction over copies of the state; FakeEvents keeps them only when it commits."""

    def __init__(self, merchants: dict[str, Merchant], rows: dict[tuple[str, date], Row], claimed: set[UUID],
                 fail: Exception | None) -> None:
        self.merchant_rows, self.rows, self.claimed, self.fail = merchants, rows, claimed, fail
        self.merchants, self.postings = self, self

    async def claim(self, consumer: str, event_id: UUID) -> bool:
        if event_id in self.claimed:
            return False
        self.claimed.add(event_id)
        return True

    async def lock(self, merchant_id: str) -> Merchant:
        return self.merchant_rows.get(merchant_id, Merchant(merchant_id))

    async def save(self, merchant: Merchant) -> None:
        self.merchant_rows[merchant.merchant_id] = merchant
        if self.fail is not None:
            raise self.fail

    async def recheck(self, store_ids: Sequence[str], now: datetime) -> int:
        waiting = [r for (store_id, _), r in self.rows.items()
                   if store_id in store_ids and r.status is Status.RECONNECT_NEEDED]
        for row in waiting:
            row.status, row.next_attempt_at = Status.PENDING, now
        return len(waiting)


class FakeEvents:
    """The unit of work of the event handlers, over a FakeLedger's state; commits only on a clean exit."""

    def __init__(self, ledger: FakeLedger) -> None:
        self.ledger = ledger
        self.claimed: set[UUID] = set()
        self.commits = 0
        self.fail_on_save: Exception | None = None
        """Raised by the next transaction's save, after it wrote: like the database going away mid-transaction."""

    @asynccontextmanager
    async def __call__(self):
        tx = _Tx(dict(self.ledger.merchants), copy.deepcopy(self.ledger.rows), set(self.claimed), self.fail_on_save)
        self.fail_on_save = None
        yield tx
        self.ledger.merchants.clear()
        self.ledger.merchants.update(tx.merchant_rows)
        self.ledger.rows.clear()
        self.ledger.rows.update(tx.rows)
        self.claimed = tx.claimed
        self.commits += 1


def finalised_merchant(merchant_id: str = "m-1", *links: Link, at: datetime = START) -> Merchant:
    links = links or (Link("s-1", "Steve Test Store", TENANT, "Steve Test Store"),)
    return Merchant(merchant_id, "Steve's Cycles", at, "helpdesk", links, at)


def unfinalised(merchant: Merchant) -> Merchant:
    return replace(merchant, finalised_at=None, finalised_by=None)
