"""Posts the days each store owes, one invoice per store and day, through the platform API.

A run plans the due days into the ledger, then takes them one at a time: it holds the day (status `posting`,
committed BEFORE any call) and tries it: Cloud POS for the sales, the platform API for the store's connection,
then the invoice with `Idempotency-Key: daily-sales:<store>:<day>`. If the process dies mid-call, the row stays
`posting` until its lease ends; the next run re-sends the same request with the same key, and Xero answers
with the invoice it already made: one invoice, however often it was sent. Xero keeps a key only minutes, so a
retry first looks for an invoice with the day's Reference and re-sends only when there is none.

Several posters (in one or many processes) may run: days are held with SKIP LOCKED. A 429 pauses every day of
that organisation until Retry-After, in this batch and in the ledger, so nobody hammers Xero.
Tests drive it one step at a time with `run_once()` and a hand-moved clock.
"""

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from uuid import UUID

from .domain import (ClaimedDay, DayPolicy, Decision, DueDay, Invoice, InvoiceRules, Outcome, Refused,
                     RetryLater, RetryPolicy, Status, build_invoice, decide, judge_answer, judge_connection,
                     judge_search)
from .metrics import POSTINGS
from .ports import Clock, CloudPosUnavailable, Ledger, PlatformUnavailable, Sales, XeroThroughPlatform

log = logging.getLogger(__name__)
_RECORD_RETRIES = (0.5, 2.0, 5.0)


class DailyPoster:
    def __init__(self, ledger: Ledger, sales: Sales, xero: XeroThroughPlatform, clock: Clock, *,
                 local_date: Callable[[datetime], date], days: DayPolicy = DayPolicy(),
                 rules: InvoiceRules = InvoiceRules(), retry: RetryPolicy = RetryPolicy(), batch_size: int = 20,
                 lease_seconds: float = 300.0, attempt_timeout: float = 120.0,
                 jitter: Callable[[], float] = random.random) -> None:
        """`local_date`: the stores' calendar date at a moment (their time zone decides what "yesterday" is)."""
        self._ledger = ledger
        self._sales = sales
        self._xero = xero
        self._clock = clock
        self._local_date = local_date
        self._days = days
        self._rules = rules
        self._retry = retry
        self._batch_size = batch_size
        self._lease = timedelta(seconds=lease_seconds)
        self._attempt_timeout = attempt_timeout
        self._jitter = jitter
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """A merchant was finalised or its map changed in this process: post now, not at the next poll."""
        self._woken.set()

    async def run_once(self) -> int:
        """Plan the due days, then try up to a batch of them; returns how many were tried. Each day is held
        just before its attempt, so its lease only has to outlive that one attempt."""
        await self.plan(self._clock())
        paused: dict[UUID, datetime] = {}
        for tried in range(self._batch_size):
            now = self._clock()
            claimed = await self._ledger.claim_due(now, 1, now + self._lease)
            if not claimed:
                return tried
            await self._one(claimed[0], paused)
        return self._batch_size

    async def plan(self, now: datetime) -> int:
        """Write every day a postable store owes into the ledger (days already there are left as they are)."""
        today = self._local_date(now)
        days = [DueDay(s.merchant_id, s.store_id, s.tenant_id, day)
                for s in await self._ledger.postable_stores()
                for day in self._days.due(today, self._local_date(s.finalised_at))]
        return await self._ledger.plan(days, now) if days else 0

    async def run(self, poll_interval: float) -> None:
        """Until cancelled: drain what is due, then wait for `wake()` or the next poll; back off while the
        database is away (nothing is lost: the ledger says what is left)."""
        backoff = poll_interval
        while True:
            try:
                tried = await self.run_once()
                backoff = poll_interval
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database blinked: the next round picks up where this stopped
                log.warning("posting round interrupted; retrying in %.1fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
                continue
            if tried < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), poll_interval)
                self._woken.clear()

    async def _one(self, item: ClaimedDay, paused: dict[UUID, datetime]) -> None:
        until = paused.get(item.tenant_id)
        if until is not None:  # this organisation answered 429 earlier in the batch: do not even ask
            outcome: Outcome = RetryLater("waiting for the organisation's rate limit",
                                          (until - self._clock()).total_seconds(), rate_limited=True)
        else:
            outcome = await self._attempt(item)
        decision = decide(outcome, item.attempt, self._clock(), self._retry, self._jitter)
        await self._record(item, decision)
        if isinstance(outcome, RetryLater) and outcome.rate_limited and decision.next_attempt_at is not None:
            paused[item.tenant_id] = decision.next_attempt_at
            await self._ledger.defer_tenant(item.tenant_id, decision.next_attempt_at)
        _log(item, outcome, decision)

    async def _attempt(self, item: ClaimedDay) -> Outcome:
        """Every failure to get an answer is "try later": the same key makes the re-send harmless."""
        try:
            async with asyncio.timeout(self._attempt_timeout):
                return await self._post(item)
        except TimeoutError:
            return RetryLater(f"no answer within {self._attempt_timeout:.0f}s")
        except CloudPosUnavailable as error:
            return RetryLater(f"Cloud POS unavailable: {error}")
        except PlatformUnavailable as error:
            return RetryLater(f"platform API unavailable: {error}")

    async def _post(self, item: ClaimedDay) -> Outcome:
        sales = await self._sales.day_of_sales(item.store_id, item.day)
        if sales is None:
            return Refused(f"Cloud POS does not know store {item.store_id}")
        invoice = build_invoice(sales, item.store_name, self._rules)
        if not isinstance(invoice, Invoice):
            return invoice
        connection = await self._xero.connection(item.store_id)
        if (not_now := judge_connection(connection)) is not None:
            return not_now
        if connection is not None and connection.missing_scopes:
            log.warning("store %s must reconnect Xero to grant %s; posting with what it granted", item.store_id,
                        ", ".join(connection.missing_scopes))
        if item.attempt > 1:  # an earlier attempt may have reached Xero: look before sending again
            found = judge_search(await self._xero.find_invoices(item.store_id, invoice.reference), invoice.reference)
            if found is not None:
                return found
        return judge_answer(await self._xero.create_invoice(item.store_id, invoice, item.idempotency_key))

    async def _record(self, item: ClaimedDay, decision: Decision) -> None:
        """A posted invoice must not be left `posting` because the database blinked: retry the write (if it
        still fails, the lease ends and the re-send with the same key finds the same invoice)."""
        for delay in _RECORD_RETRIES:
            try:
                await self._ledger.finish(item, decision, self._clock())
                return
            except Exception:  # noqa: BLE001 - retried below; the last failure propagates
                log.warning("recording %s %s failed; retrying in %.1fs", item.store_id, item.day, delay,
                            exc_info=True)
                await asyncio.sleep(delay)
        await self._ledger.finish(item, decision, self._clock())


def _log(item: ClaimedDay, outcome: Outcome, decision: Decision) -> None:
    POSTINGS.labels(decision.status.value).inc()
    what = (f"store {item.store_id} day {item.day} attempt {item.attempt}"
            f"{' (re-sent after an interrupted attempt)' if item.resent else ''}: {decision.status.value}")
    if decision.status is Status.POSTED:
        log.info("%s as invoice %s (%s)", what, decision.invoice_number, decision.invoice_id)
    elif decision.status is Status.FAILED:
        log.error("%s, a person must look: %s", what, decision.problem)
    elif isinstance(outcome, RetryLater) and outcome.alarm:
        log.error("%s, check DAILY_SALES_PLATFORM_API__TOKEN: %s", what, decision.problem)
    else:
        log.info("%s %s%s", what, decision.problem or "",
                 f", next try at {decision.next_attempt_at:%Y-%m-%d %H:%M:%S}" if decision.next_attempt_at else "")
