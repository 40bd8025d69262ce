"""The producer side under faults: the outbox relay killed between the broker's ack and marking its rows, and
a long transaction holding back PostgreSQL's xmin while the outbox keeps flowing. The events are
KeyValidated (one new merchant each), staged in an outbox database of their own and consumed by
connection_registry in this process, so the checker is the same as for the consumer cases: each event applied
exactly once (`support.count_effects`), and on the topic as often as the case says."""

import asyncio
import os
import signal
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from shared.contracts import topics
from shared.delivery import (DELIVERY_MIGRATIONS, CloudEvent, OutboxRelay, apply_migrations, idempotent_producer,
                             outbox_backlog, transaction)

from ..support.kafka import eventually, read_topic
from .conftest import FaultInfra
from .support import Workload, count_handled, settle
from .test_registry_faults import database, group, registry_in_process

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.faults]
LAUNCHER = Path(__file__).with_name("relay_launcher.py")
FULL = os.environ.get("FAULTS_FULL") == "1"
SNAPSHOT_HELD = 120 if FULL else 10
"""Seconds the REPEATABLE READ snapshot is held: minutes in the full run (CI), a short look in `make test`."""
BASELINE = 10
"""Seconds of the same load without the snapshot, measured first."""
OLDEST_BOUND = 5.0
"""Seconds: the oldest unpublished outbox row stays younger than this, snapshot or not."""


@asynccontextmanager
async def outbox_database(infra: FaultInfra, name: str) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """A database with the delivery kit's tables, standing for a producing service's own."""
    async with database(infra, name) as dsn, asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool:
        await apply_migrations(pool, DELIVERY_MIGRATIONS)
        yield dsn, pool


async def stage(pool: asyncpg.Pool, events: list[CloudEvent]) -> None:
    async with transaction(pool) as tx:
        await tx.publish(*events)


async def unpublished(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM delivery_outbox WHERE published_at IS NULL")


async def on_topic(bootstrap: str, workload: Workload) -> Counter[str]:
    """How often each of the workload's events is on KeyValidated (by `ce_id`); notes their partitions."""
    ours = {str(i) for i in workload.ids}
    records = [r for r in await read_topic(bootstrap, topics.KEY_VALIDATED, expect=workload.n, timeout=60)
               if dict(r.headers).get("ce_id", b"").decode() in ours]
    workload.partitions |= {r.partition for r in records}
    return Counter(dict(r.headers)["ce_id"].decode() for r in records)


async def relay_process(dsn: str, bootstrap: str, log: Path, *,
                        pause: bool = False) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(LAUNCHER), dsn, bootstrap, *(["--pause-before-marking"] if pause else []),
        stdout=asyncio.subprocess.PIPE, stderr=log.open("ab"))


async def said(process: asyncio.subprocess.Process, word: str, timeout: float = 60) -> str:
    async def read() -> str:
        while line := (await process.stdout.readline()).decode():  # type: ignore[union-attr]
            if line.startswith(word):
                return line.strip()
        raise AssertionError(f"the relay process ended without saying {word!r} (exit {await process.wait()})")
    return await asyncio.wait_for(read(), timeout)


@pytest.mark.timeout(180)
async def test_relay_sigkilled_between_the_brokers_ack_and_marking_the_rows(fault_infra, monkeypatch, tmp_path):
    """The relay runs as a process (tests/faults/relay_launcher.py) that stops right before marking its acked
    batch; SIGKILL lands there. The restarted relay publishes the same rows again: every event is on the
    topic twice with the same `ce_id`; the registry handles both copies and applies each event once."""
    handled = count_handled(monkeypatch)
    workload, log = Workload(40), tmp_path / "relay.log"
    async with (outbox_database(fault_infra, "fault_relay_out") as (source_dsn, source),
                database(fault_infra, "fault_relay_reg") as dsn, registry_in_process(fault_infra, dsn, group())):
        await stage(source, workload.events)
        first = await relay_process(source_dsn, fault_infra.bootstrap, log, pause=True)
        try:
            acked = await said(first, "acked")
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        left_unmarked = await unpublished(source)
        second = await relay_process(source_dsn, fault_infra.bootstrap, log)
        try:
            await eventually(lambda: _none_left(source), timeout=60, what="the restarted relay to publish")
        finally:
            second.terminate()
            await second.wait()
        copies = await on_topic(fault_infra.bootstrap, workload)
        await eventually(lambda: _true(all(handled[str(i)] >= 2 for i in workload.ids)), timeout=60,
                         what="the registry to handle both copies of every event")
        count = await settle(dsn, workload)
    assert acked == f"acked {workload.n}" and left_unmarked == workload.n, (acked, left_unmarked)
    assert copies == Counter({str(i): 2 for i in workload.ids}), "each event on the topic exactly twice"
    count.assert_exactly_once(workload)


@dataclass
class Flow:
    """What the relay achieved under a steady load for one phase."""

    staged: list[CloudEvent] = field(default_factory=list)
    oldest: list[float] = field(default_factory=list)    # sampled age of the oldest unpublished row, seconds
    latencies: list[float] = field(default_factory=list)  # published_at - created_at per row, seconds
    seconds: float = 0.0

    def summary(self) -> str:
        q = statistics.quantiles(self.latencies, n=100)
        return (f"{len(self.staged)} events in {self.seconds:.0f} s ({len(self.staged) / self.seconds:.0f}/s):"
                f" latency p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, max {max(self.latencies):.2f} s;"
                f" oldest unpublished max {max(self.oldest):.2f} s")


async def flow(pool: asyncpg.Pool, seconds: float, *, per_tick: int = 5, tick: float = 0.1) -> Flow:
    """Stage `per_tick` events every `tick` for `seconds` (one transaction each, as a service would), sample
    the outbox's oldest pending row meanwhile, then wait for the relay to catch up and read the latencies."""
    result, began = Flow(), time.monotonic()
    while (elapsed := time.monotonic() - began) < seconds:
        events = Workload(per_tick, stores=1).events
        await stage(pool, events)
        result.staged += events
        result.oldest.append((await outbox_backlog(pool))[1])
        await asyncio.sleep(max(0.0, tick - (time.monotonic() - began - elapsed)))
    result.seconds = time.monotonic() - began
    await eventually(lambda: _none_left(pool), timeout=60, what="the relay to catch up")
    result.latencies = [r["latency"] for r in await pool.fetch(
        "SELECT extract(epoch FROM published_at - created_at)::float8 AS latency FROM delivery_outbox"
        " WHERE event_id = ANY($1)", [e.id for e in result.staged])]
    return result


@pytest.mark.timeout(SNAPSHOT_HELD + BASELINE + 180)
async def test_outbox_keeps_flowing_while_a_snapshot_holds_xmin(fault_infra):
    """A REPEATABLE READ transaction in another session keeps its snapshot (and so the database's xmin: no
    row version the relay's updates leave behind can be vacuumed) for minutes, while the service keeps
    staging events. Measured: the same load first without, then with the snapshot held. Bound: the oldest
    unpublished row stays younger than OLDEST_BOUND s; every event is published exactly once."""
    async with outbox_database(fault_infra, "fault_xmin") as (dsn, pool):
        producer = idempotent_producer(fault_infra.bootstrap, "fault-xmin-relay")
        await producer.start()
        relay = asyncio.create_task(OutboxRelay(pool, producer).run())
        holder = await asyncpg.connect(dsn)
        try:
            without = await flow(pool, BASELINE)
            await holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            await holder.fetchval("SELECT count(*) FROM delivery_outbox")   # the snapshot is taken here
            xmin_held = await pool.fetchval("SELECT backend_xmin IS NOT NULL FROM pg_stat_activity WHERE pid = $1",
                                            holder.get_server_pid())
            held = await flow(pool, SNAPSHOT_HELD)
            dead = await pool.fetchval("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'delivery_outbox'")
            await holder.execute("ROLLBACK")
        finally:
            relay.cancel()
            await asyncio.gather(relay, return_exceptions=True)
            await producer.stop()
            await holder.close()
    everything = Workload(0)
    everything.events = without.staged + held.staged
    copies = await on_topic(fault_infra.bootstrap, everything)
    print(f"without the snapshot: {without.summary()}\nwith it held {SNAPSHOT_HELD} s: {held.summary()};"
          f" dead row versions kept {dead}")
    assert xmin_held, "the holding session kept no snapshot"
    assert max(without.oldest) < OLDEST_BOUND and max(held.oldest) < OLDEST_BOUND, (without.summary(),
                                                                                   held.summary())
    assert copies == Counter({str(e.id): 1 for e in everything.events}), "each event on the topic exactly once"
    assert len(everything.partitions) > 1


async def _none_left(pool: asyncpg.Pool) -> bool:
    return await unpublished(pool) == 0


async def _true(value: bool) -> bool:
    return value
