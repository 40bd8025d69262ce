"""Sends recorded deliveries: leases due rows, tries each once, records the attempt and the next step.

Several dispatchers (in one or many processes) may run: a delivery is leased with SKIP LOCKED, so
only one of them tries it; a crash mid-attempt leaves the lease to expire and the attempt marked
`abandoned`. A merchant's reminders are deliveries due later: they wait here like retries, across restarts.
Tests drive it one step at a time with `run_once()` and a hand-moved clock.
"""

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from datetime import timedelta

from .domain.delivery import (
    AttemptResult,
    Channel,
    Claimed,
    Decision,
    NewDelivery,
    Outcome,
    RetryPolicy,
    Status,
    after_attempt,
)
from .domain.health import follow_ups
from .metrics import NOTIFICATIONS, PARKED
from .ports import Clock, Deliveries, Sender

log = logging.getLogger(__name__)
_RECORD_RETRIES = (0.5, 2.0, 5.0)


class Dispatcher:
    def __init__(self, deliveries: Deliveries, senders: Mapping[Channel, Sender], clock: Clock,
                 policy: RetryPolicy, *, batch_size: int = 20, attempt_timeout: float = 30.0,
                 lease: float = 120.0, jitter: Callable[[], float] = random.random,
                 helpdesk: tuple[Channel, ...] = ()) -> None:
        """`helpdesk`: the channels that hear of a merchant email which found no contact email."""
        self._deliveries = deliveries
        self._senders = senders
        self._helpdesk = helpdesk
        self._clock = clock
        self._policy = policy
        self._batch_size = batch_size
        self._attempt_timeout = attempt_timeout
        self._lease = timedelta(seconds=lease)
        self._jitter = jitter
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """A delivery was just recorded in this process: try it now rather than at the next poll."""
        self._woken.set()

    async def run_once(self) -> int:
        """Try every delivery due now (up to a batch), concurrently; returns how many were tried."""
        now = self._clock()
        claimed = await self._deliveries.claim_due(now, self._batch_size, now + self._lease)
        results = await asyncio.gather(*(self._attempt(c) for c in claimed), return_exceptions=True)
        for item, result in zip(claimed, results, strict=True):
            if isinstance(result, BaseException):
                log.error("could not record attempt %d of delivery %s; its lease will expire and it is "
                          "retried", item.attempt, item.delivery_id, exc_info=result)
        return len(claimed)

    async def run(self, poll_interval: float = 1.0) -> None:
        """Until cancelled: drain due deliveries, then wait for `wake()` or the next poll (deliveries recorded
        by other instances, retries falling due); back off while the database is away."""
        backoff = poll_interval
        while True:
            try:
                tried = await self.run_once()
                backoff = poll_interval
            except asyncio.CancelledError:
                raise
            except Exception:  # database away: keep going, nothing is lost
                log.warning("dispatcher interrupted; retrying in %.1fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if tried < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), poll_interval)
            self._woken.clear()

    async def _attempt(self, item: Claimed) -> None:
        result = await self._send(item)
        decision = after_attempt(result, item.cycle_attempt, self._policy, self._clock(), self._jitter)
        then = follow_ups(item, result, self._helpdesk, self._clock())
        await self._record(item, result, decision, then)
        NOTIFICATIONS.labels(str(item.channel), result.outcome.value).inc()
        if then:
            self.wake()
        if decision.status is Status.PARKED:
            PARKED.labels(str(item.channel)).inc()
            log.error("%s delivery %s (%s, event %s) PARKED after attempt %d: %s; re-drive it with "
                      "POST /v1/deliveries/%s/redrive", item.channel, item.delivery_id, item.notification.kind,
                      item.notification.event_id, item.attempt, decision.note, item.delivery_id)
        elif decision.status is Status.PENDING:
            log.info("%s delivery %s attempt %d failed, %s", item.channel, item.delivery_id,
                     item.attempt, decision.note)

    async def _send(self, item: Claimed) -> AttemptResult:
        sender = self._senders.get(item.channel)
        if sender is None:
            return AttemptResult(Outcome.PERMANENT, f"the {item.channel} channel is not configured any more")
        try:
            async with asyncio.timeout(self._attempt_timeout):
                return await sender.send(item.delivery_id, item.notification)
        except TimeoutError:
            return AttemptResult(Outcome.TRANSIENT, f"no answer within {self._attempt_timeout:.0f}s")
        except Exception as error:  # a bug in a sender must not stop the others  # noqa: BLE001
            log.exception("sender %s failed on delivery %s", item.channel, item.delivery_id)
            return AttemptResult(Outcome.TRANSIENT, f"sender error {type(error).__name__}")

    async def _record(self, item: Claimed, result: AttemptResult, decision: Decision,
                      then: list[NewDelivery]) -> None:
        """A sent notification must not be sent again because the database blinked: retry the write."""
        for delay in _RECORD_RETRIES:
            try:
                await self._deliveries.finish(item, result, decision, self._clock(), then)
                return
            except Exception:  # noqa: BLE001 - retried below; the last failure propagates
                log.warning("recording attempt %d of %s failed; retrying in %.1fs", item.attempt,
                            item.delivery_id, delay, exc_info=True)
                await asyncio.sleep(delay)
        await self._deliveries.finish(item, result, decision, self._clock(), then)
