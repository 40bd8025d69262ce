"""Getting events and notifications out: the outbox relay's publish rate, and the notifier's deliveries against a
slow receiver.

- relay: `--relay-events` outbox rows (~1 KB KeyValidated events) staged in a fresh database, addressed to a
  private 4-partition topic, then published by the real `OutboxRelay` with its production producer
  (idempotent, acks=all), batch after batch until none is pending: events/s and CPU ms per 1,000 events of this
  process, against the 5,000 events/s goal. Next to it, the pattern the relay must never fall back to: one
  `send_and_wait` per row (a few hundred rows), the rate of sequential sends.
- notify: `--notify-deliveries` webhook deliveries recorded in a fresh notifier database, sent by the real
  `Dispatcher` (`run()`, production concurrency settings) and `WebhookSender` (signed, guarded HTTP client) to
  a sink in a process of its own (bench.sink) that answers each POST after 20 ms; then the same with concurrency 1 (sequential
  sends, a tenth as many deliveries). Goal: >= 10 x the sequential rate.
The relay and the dispatcher run in this process (no service process): the figures are of these components.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
from aiokafka.admin import NewTopic

from local_infra.postgres import temporary_database
from notifier.adapters.guarded_http import guarded_client
from notifier.adapters.postgres import PgDeliveries, PgNotifierTransaction
from notifier.adapters.webhook import WebhookSender
from notifier.dispatcher import Dispatcher
from notifier.domain.delivery import Channel, RetryPolicy, plan
from notifier.domain.notifications import notification_for
from notifier.main import MIGRATIONS as NOTIFIER_MIGRATIONS
from shared.contracts import SetupCompleted
from shared.contracts.examples import LINK, key_validated
from shared.delivery import DELIVERY_MIGRATIONS, CloudEvent, OutboxRelay, apply_migrations, unit_of_work
from shared.delivery.outbox import _columns, idempotent_producer

from .harness import fmt, grid

if TYPE_CHECKING:
    from .harness import Config, Infra

RELAY_GOAL = 5000.0
NOTIFY_GOAL = 10.0
SINK_LATENCY = 0.020


async def run_relay(infra: Infra, cfg: Config, say: Callable[[str], None]) -> dict:
    topic = f"bench.relay.{uuid.uuid4().hex[:8]}"
    await infra.admin.create_topics([NewTopic(topic, 4, 1)])
    async with temporary_database(infra.admin_dsn, prefix="bench_relay") as dsn, \
            asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool:
        await apply_migrations(pool, DELIVERY_MIGRATIONS)
        producer = idempotent_producer(infra.bootstrap, "bench-relay")
        await producer.start()
        try:
            await _stage(pool, topic, cfg.relay_events)
            relay = OutboxRelay(pool, producer)
            started, cpu = time.perf_counter(), time.process_time()
            async with pool.acquire() as conn:
                while True:
                    async with conn.transaction():
                        sent, failure = await relay.publish_pending(conn)
                    if failure is not None:
                        raise failure
                    if not sent:
                        break
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            one_by_one = min(cfg.relay_events, max(50, cfg.relay_events // 40))
            rows = await pool.fetch("SELECT topic, record_key, value FROM delivery_outbox ORDER BY seq LIMIT $1",
                                    one_by_one)
            t0 = time.perf_counter()
            for r in rows:
                await producer.send_and_wait(r["topic"], value=r["value"], key=r["record_key"])
            sequential = len(rows) / (time.perf_counter() - t0)
        finally:
            await producer.stop()
    section = {"events": cfg.relay_events, "seconds": seconds, "events_per_second": cfg.relay_events / seconds,
               "cpu_ms_per_1k": cpu * 1e6 / cfg.relay_events, "sequential_events": len(rows),
               "sequential_per_second": sequential, "goal_events_per_second": RELAY_GOAL}
    say(f"relay: {section['events_per_second']:.0f} events/s ({cfg.relay_events} in {seconds:.2f}s); "
        f"one send_and_wait per row: {sequential:.0f}/s")
    return section


async def _stage(pool: asyncpg.Pool, topic: str, n: int) -> None:
    """Outbox rows as `add_to_outbox` writes them, addressed to the private topic (never the drain's)."""
    records = []
    for i in range(n):
        event = CloudEvent(data=key_validated(f"m-relay-{i % 1000}"), source="/bench")
        _, key, headers, value = _columns(event)
        records.append((event.id, topic, key, headers, value))
    async with pool.acquire() as conn:
        await conn.copy_records_to_table("delivery_outbox", records=records,
                                         columns=["event_id", "topic", "record_key", "headers", "value"])


async def run_notify(infra: Infra, cfg: Config, say: Callable[[str], None]) -> dict:
    async with _sink() as url:
        concurrent = await _deliver(infra, url, cfg.notify_deliveries, concurrency=None)
        sequential = await _deliver(infra, url, max(20, cfg.notify_deliveries // 10), concurrency=1)
    section = {"deliveries": cfg.notify_deliveries, "sink_latency_ms": SINK_LATENCY * 1000,
               "per_second": concurrent, "sequential_per_second": sequential, "ratio": concurrent / sequential,
               "goal_ratio": NOTIFY_GOAL}
    say(f"notifier: {concurrent:.0f} deliveries/s, sequential {sequential:.0f}/s ({section['ratio']:.1f} x)")
    return section


async def _deliver(infra: Infra, url: str, n: int, concurrency: int | None) -> float:
    """Deliveries per second of the real dispatcher (production concurrency settings unless `concurrency`)."""
    async with temporary_database(infra.admin_dsn, prefix="bench_notify") as dsn, \
            asyncpg.create_pool(dsn, min_size=20, max_size=20) as pool:  # warm, as a running service's
        await apply_migrations(pool, DELIVERY_MIGRATIONS, NOTIFIER_MIGRATIONS)
        now = datetime.now(UTC)
        planned = []
        for i in range(n):
            event = SetupCompleted(merchant_id=f"m-{i}", merchant_name=f"Merchant {i}", links=(LINK,),
                                   completed_by="bench")
            planned += plan(notification_for(uuid.uuid4(), now, event), (Channel.WEBHOOK,), now)
        async with unit_of_work(lambda: pool, PgNotifierTransaction)() as tx:
            await tx.record(planned)
        http = guarded_client(timeout=10.0, allow_loopback=True)
        options = {} if concurrency is None else {"concurrency": concurrency, "channel_concurrency": concurrency}
        dispatcher = Dispatcher(PgDeliveries(lambda: pool), {Channel.WEBHOOK: WebhookSender(
            url, "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", http)}, lambda: datetime.now(UTC), RetryPolicy(),
            **options)
        started = time.perf_counter()
        sending = asyncio.ensure_future(dispatcher.run(poll_interval=0.2))
        try:
            while await pool.fetchval("SELECT count(*) FROM helpdesk_deliveries WHERE status <> 'delivered'"):
                await asyncio.sleep(0.02)
            seconds = time.perf_counter() - started
        finally:
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
            await http.aclose()
    return n / seconds


@contextlib.asynccontextmanager
async def _sink() -> AsyncIterator[str]:
    """The receiver (bench.sink), in a process of its own, answering every POST with 204 after SINK_LATENCY."""
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.sink", str(SINK_LATENCY),
                                                   stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        port = int(await asyncio.wait_for(process.stdout.readline(), 30))
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        process.terminate()
        await process.wait()


def table(report: dict) -> str:
    """The relay's and the notifier's rows against their goals."""
    body = []
    if relay := report.get("relay"):
        rate = relay["events_per_second"]
        body.append(["outbox relay publish rate (events/s)", fmt(rate),
                     f"{relay['cpu_ms_per_1k']:.0f} ms CPU per 1k; one send_and_wait per row "
                     f"{relay['sequential_per_second']:.0f}/s", f">= {RELAY_GOAL:.0f}",
                     "yes" if rate >= RELAY_GOAL else "NO"])
    if notify := report.get("notify"):
        body.append([f"notifier deliveries/s, sink {notify['sink_latency_ms']:.0f} ms", fmt(notify["per_second"]),
                     f"sequential {notify['sequential_per_second']:.0f}/s: {notify['ratio']:.1f} x",
                     f">= {NOTIFY_GOAL:.0f} x sequential", "yes" if notify["ratio"] >= NOTIFY_GOAL else "NO"])
    if not body:
        return ""
    return "\n".join(["delivery out", *grid(["row", "measured", "detail", "goal", "met"], body)])
