"""Retention: rows past their keeping time are deleted, or their personal fields cleared, by one loop per service.

Each service lists its `Rule`s (which rows, how long they are kept, the statement) in its composition root and hands
them to `schedule`, which runs a `Pruner` round every `RetentionSettings.every_seconds` through
`ServiceRuntime.background`. Every statement touches at most `batch_size` rows (`FOR UPDATE SKIP LOCKED`: it never
waits for a row someone holds) in a transaction of its own, so pruning never holds locks or an old snapshot (xmin)
for long, whatever the backlog; `max_batches` bounds one round and the rest waits for the next. Append-only tables
(the audits) refuse DELETE by trigger unless the transaction names, in `retention.prune_before`, a time the row is
older than: ordinary deletes, and deletes of young rows, are still refused.

The inbox is the delicate one (docs/retention.md). A claim is what stops a redelivered event from applying twice,
and the topics keep events for ever (the registry's rebuild replays them), so a claim cannot simply go: instead the
database records a horizon, and `InboxHorizon.guard` (wrapped around every handler by `ServiceRuntime.consumes`) takes
an event older than the horizon as already applied. The horizon is announced first and claims behind it go only
`GRACE` later (minus `SKEW` for producers' clocks), so a consumer still holding the previous horizon (it rereads it
every `HORIZON_TTL` seconds) never misses a claim it needs. `RetentionSettings` checks that the horizon stays older
than any event that may still arrive for the first time (a dead letter replayed late, the longest tolerated lag).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
from prometheus_client import Counter

from .contracts.cloudevents import CloudEvent
from .metrics import REGISTRY
from .ports import Clock, utc_now
from .settings import RetentionSettings

if TYPE_CHECKING:
    from .runtime import ServiceRuntime

log = logging.getLogger(__name__)

GRACE = timedelta(minutes=30)
"""How long a horizon stands before the claims behind it go: far above `HORIZON_TTL` plus the longest transaction
a handler can hold (PostgreSQL ends it after `DatabaseSettings` limits of a few minutes)."""
SKEW = timedelta(hours=1)
"""Claims go this far behind the horizon: an event's time comes from its producer's clock, a claim's from ours."""
HORIZON_TTL = 60.0
"""Seconds a consumer reuses the horizon it read."""

PRUNED = Counter("retention_pruned_rows_total", "Rows deleted or anonymised past their retention",
                 ["service", "kind"], registry=REGISTRY)
HORIZON_SKIPS = Counter("inbox_horizon_skips_total", "Events older than the inbox horizon, taken as already applied",
                        ["service", "topic"], registry=REGISTRY)

Handle = Callable[[CloudEvent], Awaitable[object]]
BatchHandle = Callable[[Sequence[CloudEvent]], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Rule:
    """One kind of row that goes once older than `keep`. `sql` takes the cutoff ($1) and the batch size ($2),
    touches at most $2 rows older than the cutoff (deleting them or clearing their personal fields) and answers
    with its command status. `append_only`: the table's trigger lets these deletes through."""

    kind: str
    keep: timedelta
    sql: str
    append_only: bool = False


@dataclass(frozen=True, slots=True)
class Horizon:
    horizon: datetime
    announced_at: datetime


def days(count: float) -> timedelta:
    return timedelta(days=count)


def delete_oldest(table: str, key: str, age: str, where: str = "true") -> str:
    """A batch DELETE of `table`'s rows whose `age` column is before $1 (and `where`), at most $2 of them, by `key`
    (a column, or "(a, b)")."""
    return (f"DELETE FROM {table} WHERE {key} IN (SELECT {key.strip('()')} FROM {table} WHERE {age} < $1"
            f" AND ({where}) ORDER BY {age} LIMIT $2 FOR UPDATE SKIP LOCKED)")


def outbox_rule(settings: RetentionSettings) -> Rule:
    """The delivery kit's published outbox rows (every service has them; the inbox is `Pruner`'s own step)."""
    return Rule("outbox", days(settings.outbox_days),
                delete_oldest("delivery_outbox", "seq", "published_at", "published_at IS NOT NULL"))


def rate_limit_rules(settings: RetentionSettings) -> tuple[Rule, ...]:
    """`shared.ratelimit`'s spent rows, for the services using it: the reservation deletes a few as it writes, but
    an idle limiter keeps its last ones, and their bucket names hold client addresses."""
    spent = min(timedelta(days=1), days(settings.client_address_days))  # every limit's window is a day at most
    return (Rule("rate_limit_hits", spent, delete_oldest("rate_limit_hits", "id", "expires_at")),
            Rule("rate_limit_slices", spent, delete_oldest("rate_limit_slices", "(bucket, slice_start)", "expires_at")),
            Rule("rate_limit_holds", spent, delete_oldest("rate_limit_holds", "bucket", "until")))


def inbox_step(now: datetime, current: Horizon | None, keep: timedelta) -> tuple[datetime | None, Horizon | None]:
    """(delete claims processed before this, then announce this horizon), each None for nothing to do. Claims go
    only behind a horizon announced at least `GRACE` ago, `SKEW` further back; the next horizon is announced then."""
    if current is not None and now - current.announced_at < GRACE:
        return None, None
    wanted = now - keep
    if current is None:
        return None, Horizon(wanted, now)
    return current.horizon - SKEW, Horizon(max(wanted, current.horizon), now)


def is_behind(event: CloudEvent, horizon: datetime | None) -> bool:
    """True when `event` is older than the inbox horizon: its claim may be gone, it counts as applied."""
    return horizon is not None and event.time < horizon


class InboxHorizon:
    """The horizon as consumers see it: reread every `ttl` seconds (the age counts from before the read)."""

    def __init__(self, service: str, pool: Callable[[], asyncpg.Pool], *, ttl: float = HORIZON_TTL,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._service = service
        self._pool = pool
        self._ttl = ttl
        self._monotonic = monotonic
        self._value: datetime | None = None
        self._read_at = float("-inf")

    async def current(self) -> datetime | None:
        started = self._monotonic()
        if started - self._read_at >= self._ttl:
            self._value = await self._pool().fetchval("SELECT horizon FROM delivery_inbox_horizon")
            self._read_at = started
        return self._value

    def guard(self, handle: Handle) -> Handle:
        """`handle`, except for events behind the horizon: those are counted, logged and left alone."""

        async def guarded(event: CloudEvent) -> object:
            if is_behind(event, await self.current()):
                HORIZON_SKIPS.labels(self._service, event.topic).inc()
                log.info("event %s (%s, %s) is older than the inbox horizon: taken as already applied",
                         event.id, event.type, event.time.isoformat())
                return None
            return await handle(event)

        return guarded

    def guard_batch(self, handle: BatchHandle) -> BatchHandle:
        """`guard` for a batch handler: the events behind the horizon are left out of the batch."""

        async def guarded(events: Sequence[CloudEvent]) -> object:
            horizon = await self.current()
            kept = [event for event in events if not is_behind(event, horizon)]
            for event in (event for event in events if is_behind(event, horizon)):
                HORIZON_SKIPS.labels(self._service, event.topic).inc()
                log.info("event %s (%s, %s) is older than the inbox horizon: taken as already applied",
                         event.id, event.type, event.time.isoformat())
            return await handle(kept) if kept else None

        return guarded


class Pruner:
    """One service's pruning round: each rule in batches, then the inbox horizon step."""

    def __init__(self, service: str, pool: Callable[[], asyncpg.Pool], rules: Iterable[Rule],
                 settings: RetentionSettings, clock: Clock = utc_now, pause: float = 0.05) -> None:
        self._service = service
        self._pool = pool
        self._rules = tuple(rules)
        self._settings = settings
        self._clock = clock
        self._pause = pause

    async def run_once(self) -> dict[str, int]:
        """Rows pruned per kind this round."""
        now = self._clock()
        pruned = {rule.kind: await self._isolated(rule.kind, self._prune(rule, now - rule.keep))
                  for rule in self._rules}
        pruned["inbox"] = await self._isolated("inbox", self._inbox(now))
        if any(pruned.values()):
            log.info("%s retention pruned %s", self._service, {k: n for k, n in pruned.items() if n})
        return pruned

    async def _isolated(self, kind: str, pruning: Awaitable[int]) -> int:
        """One kind failing (the database away, a table another release dropped) leaves the others to run."""
        try:
            return await pruning
        except Exception as error:  # noqa: BLE001 - logged; the next round tries again
            log.warning("%s retention of %s failed, will retry next round: %r", self._service, kind, error)
            return 0

    async def _prune(self, rule: Rule, cutoff: datetime) -> int:
        total = 0
        for _ in range(self._settings.max_batches):
            async with self._pool().acquire() as conn, conn.transaction():
                if rule.append_only:
                    await conn.execute("SELECT set_config('retention.prune_before', $1, true)", cutoff.isoformat())
                status = await conn.execute(rule.sql, cutoff, self._settings.batch_size)
            done = int(status.rsplit(" ", 1)[-1])
            total += done
            PRUNED.labels(self._service, rule.kind).inc(done)
            if done < self._settings.batch_size:
                break
            await asyncio.sleep(self._pause)  # let others in between batches
        return total

    async def _inbox(self, now: datetime) -> int:
        row = await self._pool().fetchrow("SELECT horizon, announced_at FROM delivery_inbox_horizon")
        prune_before, announce = inbox_step(now, Horizon(*row) if row else None, days(self._settings.inbox_days))
        pruned = 0
        if prune_before is not None:
            pruned = await self._prune(Rule("inbox", timedelta(0), _DELETE_CLAIMS), prune_before)
        if announce is not None:
            await self._pool().execute(
                "INSERT INTO delivery_inbox_horizon (horizon, announced_at) VALUES ($1, $2) ON CONFLICT (singleton)"
                " DO UPDATE SET horizon = greatest(delivery_inbox_horizon.horizon, excluded.horizon),"
                " announced_at = excluded.announced_at", announce.horizon, announce.announced_at)
        return pruned


_DELETE_CLAIMS = delete_oldest("delivery_inbox", "(consumer, event_id)", "processed_at")


def schedule(runtime: "ServiceRuntime", settings: RetentionSettings, *rules: Rule, clock: Clock = utc_now) -> Pruner:
    """Prune the outbox, the inbox and `rules` every `settings.every_seconds` (when enabled); the pruner, for tests."""
    from .runtime import every

    pruner = Pruner(runtime.name, lambda: runtime.pool, (outbox_rule(settings), *rules), settings, clock)
    if settings.enabled:
        runtime.background("retention", every(settings.every_seconds, pruner.run_once))
    return pruner
