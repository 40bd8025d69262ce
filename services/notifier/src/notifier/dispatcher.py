"""Sends recorded deliveries: leases due rows, tries each once, records the attempt and the next step.

Several dispatchers (in one or many processes) may run: a delivery is leased with SKIP LOCKED, so
only one of them tries it; a crash mid-attempt leaves the lease to expire and the attempt marked
`abandoned`. A merchant's reminders are deliveries due later: they wait here like retries, across restarts.
Tests drive it one step at a time with `run_once()` and a hand-moved clock.

Bounded concurrency: `run()` keeps up to `concurrency` attempts in flight, leasing more as each one ends (a slow
receiver's 20 ms per send would cap one-at-a-time sending at 50/s), never more than `channel_concurrency` on one
channel (one destination), and leases the channels' due deliveries in turns: a hanging or flooded destination
leaves room, and a place in the queue, for the others.
"""

import asyncio
import contextlib
import logging
import random
from collections import Counter
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
                 helpdesk: tuple[Channel, ...] = (), concurrency: int = 32, channel_concurrency: int = 16) -> None:
        """`helpdesk`: the channels that hear of a merchant email which found no contact email. `concurrency`:
        attempts in flight in `run()`; `channel_concurrency`: of those, the most on one channel."""
        self._deliveries = deliveries
        self._senders = senders
        self._helpdesk = helpdesk
        self._clock = clock
        self._policy = policy
        self._batch_size = batch_size
        self._attempt_timeout = attempt_timeout
        self._lease = timedelta(seconds=lease)
        self._jitter = jitter
        self._concurrency = concurrency
        self._channel_concurrency = min(channel_concurrency, concurrency)
        self._in_flight: Counter[Channel] = Counter()
        self._freed = asyncio.Event()   # an attempt ended or a delivery was recorded here: lease again

    def wake(self) -> None:
        """A delivery was just recorded in this process: try it now rather than at the next poll."""
        self._freed.set()

    async def run_once(self) -> int:
        """Try every delivery due now (up to a batch, `channel_concurrency` per channel), concurrently; returns
        how many were tried."""
        claimed = await self._claim(self._batch_size)
        await asyncio.gather(*(self._attempt_logged(c) for c in claimed))
        return len(claimed)

    async def run(self, poll_interval: float = 1.0) -> None:
        """Until cancelled: `concurrency` lanes send what the feeder leases as lanes free up; the feeder waits
        for `wake()` or the next poll (deliveries recorded by other instances, retries falling due) once nothing
        more is due, and backs off while the database is away."""
        queue: asyncio.Queue[Claimed] = asyncio.Queue()
        await asyncio.gather(self._feed(queue, poll_interval), *(self._lane(queue) for _ in range(self._concurrency)))

    async def _feed(self, queue: asyncio.Queue[Claimed], poll_interval: float) -> None:
        backoff = poll_interval
        while True:
            self._freed.clear()
            limit = min(self._batch_size, self._room())
            try:
                claimed = await self._claim(limit) if limit > 0 else []
                backoff = poll_interval
            except asyncio.CancelledError:
                raise
            except Exception:  # database away: keep going, nothing is lost
                log.warning("dispatcher interrupted; retrying in %.1fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            for item in claimed:
                queue.put_nowait(item)
            if limit > 0 and len(claimed) == limit and self._room():
                continue   # maybe more is due, and there is room for it
            # Nothing more due where there is room, or no room: lease again when an attempt ends (its channel may
            # have more due), a delivery is recorded here (`wake`), or at the poll (other instances, retries).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), poll_interval)

    def _room(self) -> int:
        """How many more attempts may start now: free lanes, and room on the channels (each up to its share)."""
        free = self._concurrency - sum(self._in_flight.values())
        return min(free, sum(max(0, self._channel_concurrency - self._in_flight[c]) for c in Channel))

    async def _lane(self, queue: asyncio.Queue[Claimed]) -> None:
        while True:
            await self._attempt_logged(await queue.get())

    async def _claim(self, limit: int) -> list[Claimed]:
        """Lease up to `limit` due deliveries, the channels in turns, each channel up to its room; counted in
        flight until their attempt ends."""
        room = {c: self._channel_concurrency - self._in_flight[c] for c in Channel}
        now = self._clock()
        claimed = await self._deliveries.claim_due(now, limit, now + self._lease, room)
        self._in_flight.update(c.channel for c in claimed)
        return claimed

    async def _attempt_logged(self, item: Claimed) -> None:
        try:
            await self._attempt(item)
        except Exception:  # noqa: BLE001 - the attempt stays leased: retried once its lease expires
            log.exception("could not record attempt %d of delivery %s; its lease will expire and it is retried",
                          item.attempt, item.delivery_id)
        finally:
            self._in_flight[item.channel] -= 1
            self._freed.set()

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
