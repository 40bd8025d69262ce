"""Nothing lost, nothing doubled: connection_registry consuming KeyValidated events (one new merchant each)
from a private real Kafka into a private real PostgreSQL while we break things. Every case ends with the
checker in `support.count_effects`: per event exactly one inbox row and one timeline row, per merchant
exactly its stores, and poison on the dead-letter topic, not in the database."""

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import asyncpg
import pytest

from connection_registry.main import build_app
from connection_registry.settings import RegistrySettings
from local_infra.postgres import temporary_database
from shared.contracts.topics import dead_letter_topic

from ..support.kafka import eventually, read_topic
from ..support.services import REGISTRY_CONSOLE, registry_console_env
from .conftest import FaultInfra
from .support import Workload, count_effects, count_handled, produce, settle

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.faults, pytest.mark.timeout(180)]
IDLE_IN_TRANSACTION = 20
"""Seconds; the SIGSTOP case's registry processes run with this idle_in_transaction_timeout_seconds (the
default is 60): above the 10 s Kafka session timeout, so the case shows the other instance waiting on the
frozen transaction's locks and going on once PostgreSQL has ended that session."""
TOKENS = {"api_token": "fault-suite-api-token-0001"}
LONG_CUT = 15
"""Seconds; longer than aiokafka's default consumer session timeout (10 s)."""


@asynccontextmanager
async def database(infra: FaultInfra, name: str) -> AsyncIterator[str]:
    async with temporary_database(infra.postgres.dsn, prefix=name) as dsn:
        yield dsn


@asynccontextmanager
async def registry_in_process(infra: FaultInfra, dsn: str, group: str) -> AsyncIterator[None]:
    app = build_app(RegistrySettings(database={"url": dsn}, **REGISTRY_CONSOLE,
                                     kafka={"bootstrap_servers": infra.bootstrap, "consumer_group": group}, **TOKENS))
    async with app.router.lifespan_context(app):
        yield


def registry_process(infra: FaultInfra, dsn: str, group: str, log: str,
                     settings: dict[str, str] | None = None) -> "asyncio.subprocess.Process":
    env = os.environ | registry_console_env() | (settings or {}) | {
                        "CONNECTION_REGISTRY_DATABASE__URL": dsn, "CONNECTION_REGISTRY_HTTP__PORT": "0",
                        "CONNECTION_REGISTRY_HTTP__INTERNAL_PORT": "0",   # two instances: no fixed probe port
                        "CONNECTION_REGISTRY_KAFKA__BOOTSTRAP_SERVERS": infra.bootstrap,
                        "CONNECTION_REGISTRY_KAFKA__CONSUMER_GROUP": group,
                        "CONNECTION_REGISTRY_API_TOKEN": TOKENS["api_token"]}
    return asyncio.create_subprocess_exec(sys.executable, "-m", "connection_registry", env=env,
                                          stdout=open(log, "ab"), stderr=asyncio.subprocess.STDOUT)  # noqa: SIM115


async def some_landed(dsn: str, workload: Workload, at_least: int, *, timeout: float = 60) -> None:
    async def enough() -> bool:
        return (await count_effects(dsn, workload)).inbox >= at_least
    await eventually(enough, timeout=timeout, what=f"{at_least} events to be handled")


async def mid_stream(dsn: str, workload: Workload) -> None:
    """The fault must hit while events are still pending, or the case proves nothing."""
    handled = (await count_effects(dsn, workload)).inbox
    assert handled < workload.n, f"the fault came too late: all {workload.n} events were already handled"


def group() -> str:
    return f"fault-{uuid4().hex[:8]}"


async def test_every_event_delivered_twice_is_applied_once(fault_infra):
    workload = Workload(150)
    async with database(fault_infra, "fault_twice") as dsn, registry_in_process(fault_infra, dsn, group()):
        await produce(fault_infra.bootstrap, workload.events, workload=workload, times=2)
        (await settle(dsn, workload)).assert_exactly_once(workload)


async def test_poison_interleaved_goes_to_dead_letters_and_the_rest_is_applied_once(fault_infra):
    workload, name = Workload(60), group()
    async with database(fault_infra, "fault_poison") as dsn, registry_in_process(fault_infra, dsn, name):
        poisons = await produce(fault_infra.bootstrap, workload.events, workload=workload, poison_every=10)
        (await settle(dsn, workload)).assert_exactly_once(workload)
        dead = await read_topic(fault_infra.bootstrap, dead_letter_topic(name), expect=poisons, timeout=30)
        assert len(dead) == poisons == 18
        assert {dict(r.headers)["dlq_consumer"] for r in dead} == {name.encode()}


async def test_broker_killed_and_restarted_mid_stream(fault_infra):
    first, second = Workload(300), Workload(100)
    async with database(fault_infra, "fault_broker") as dsn, registry_in_process(fault_infra, dsn, group()):
        await produce(fault_infra.bootstrap, first.events, workload=first)
        await some_landed(dsn, first, 20)
        await asyncio.to_thread(fault_infra.broker.kill)
        await mid_stream(dsn, first)
        await asyncio.sleep(2)
        await asyncio.to_thread(fault_infra.broker.restart)
        await produce(fault_infra.bootstrap, second.events, workload=second)
        (await settle(dsn, first, timeout=120)).assert_exactly_once(first)
        (await settle(dsn, second, timeout=60)).assert_exactly_once(second)


async def test_postgres_killed_and_restarted_strictly_mid_stream(fault_infra):
    """Progress before the kill, work still outstanding at it, progress after the restart. Nothing can be
    applied while PostgreSQL is down, so the first count after the restart bounds what the kill left done."""
    workload = Workload(400)
    async with database(fault_infra, "fault_pg") as dsn, registry_in_process(fault_infra, dsn, group()):
        await produce(fault_infra.bootstrap, workload.events, workload=workload)
        await some_landed(dsn, workload, 20)
        await asyncio.to_thread(fault_infra.postgres.kill)
        await asyncio.sleep(2)
        await asyncio.to_thread(fault_infra.postgres.restart)
        restarted = time.monotonic()
        at_kill = (await count_effects(dsn, workload)).inbox
        assert 20 <= at_kill < workload.n, f"the kill was not mid-stream: {at_kill} of {workload.n} handled"
        await some_landed(dsn, workload, at_kill + 1, timeout=60)
        resumed_after = time.monotonic() - restarted
        count = await settle(dsn, workload, timeout=120)
    print(f"postgres killed with {at_kill} of {workload.n} handled; progress {resumed_after:.1f} s after restart")
    count.assert_exactly_once(workload)


async def test_link_to_the_broker_cut_and_restored_mid_stream(fault_infra):
    """A short cut (5 s, below the 10 s session timeout): the consumer keeps its partitions."""
    workload = Workload(300)
    async with database(fault_infra, "fault_link") as dsn, registry_in_process(fault_infra, dsn, group()):
        await produce(fault_infra.bootstrap, workload.events, workload=workload)
        await some_landed(dsn, workload, 20)
        fault_infra.proxy.cut()
        await mid_stream(dsn, workload)
        await asyncio.sleep(5)
        fault_infra.proxy.restore()
        (await settle(dsn, workload, timeout=120)).assert_exactly_once(workload)


@pytest.mark.faults_full
@pytest.mark.timeout(240)
async def test_link_cut_longer_than_the_session_timeout_redelivers_and_the_inbox_absorbs_it(fault_infra,
                                                                                             monkeypatch):
    """A 15 s cut against aiokafka's 10 s session timeout: the broker expires the member, the commits made
    across the cut fail, and once the link is back the group rebalances and the consumer starts again from
    the last committed offsets: records already applied are handled again (counted per event id at the
    consumer's handler), and the inbox absorbs them."""
    handled = count_handled(monkeypatch)
    workload, name = Workload(600), group()
    async with database(fault_infra, "fault_long_cut") as dsn, registry_in_process(fault_infra, dsn, name):
        await produce(fault_infra.bootstrap, workload.events, workload=workload)
        await some_landed(dsn, workload, 20)
        fault_infra.proxy.cut()
        try:
            await mid_stream(dsn, workload)
            await asyncio.sleep(LONG_CUT)
        finally:
            fault_infra.proxy.restore()
        count = await settle(dsn, workload, timeout=120)
    ours = {str(i) for i in workload.ids}
    again = {event_id: n for event_id, n in handled.items() if event_id in ours and n > 1}
    print(f"{len(again)} of {workload.n} events handled more than once after a {LONG_CUT} s cut")
    assert again, "nothing was delivered again: the cut did not outlast the session"
    count.assert_exactly_once(workload)


@pytest.mark.faults_full
async def test_consumer_process_sigkilled_mid_stream_and_restarted(fault_infra, tmp_path):
    workload, name, log = Workload(400), group(), str(tmp_path / "registry.log")
    async with database(fault_infra, "fault_sigkill") as dsn:
        first = await registry_process(fault_infra, dsn, name, log)
        try:
            await produce(fault_infra.bootstrap, workload.events, workload=workload)
            await some_landed(dsn, workload, 30)
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        handled = (await count_effects(dsn, workload)).inbox
        second = await registry_process(fault_infra, dsn, name, log)
        try:
            count = await settle(dsn, workload, timeout=120)
        finally:
            second.terminate()
            await second.wait()
        assert handled < workload.n, "the kill came too late to be mid-stream"
        count.assert_exactly_once(workload)


@pytest.mark.faults_full
@pytest.mark.timeout(300)
async def test_consumer_paused_past_its_session_timeout_then_resumed(fault_infra, tmp_path):
    """Two instances in one group sharing KeyValidated's six partitions; one is SIGSTOPped
    mid-stream INSIDE a transaction. That is the case that used to stall: the frozen transaction's
    uncommitted inbox claim (and its merchant's advisory lock) blocked the other instance's claim of the same
    event for as long as the process stayed frozen. Now the other instance takes the partitions over once the
    paused one's Kafka session times out (aiokafka default 10 s), waits on those locks until PostgreSQL ends
    the frozen session (`idle_in_transaction_session_timeout`, DatabaseSettings), and finishes the whole
    workload while the paused one is still frozen. SIGCONT: the resumed instance finds its transaction gone
    and retries; its claims find the events applied: nothing lands twice."""
    workload, name = Workload(1000), group()
    logs = [str(tmp_path / "registry-a.log"), str(tmp_path / "registry-b.log")]
    limits = {"CONNECTION_REGISTRY_DATABASE__IDLE_IN_TRANSACTION_TIMEOUT_SECONDS": str(IDLE_IN_TRANSACTION)}
    async with database(fault_infra, "fault_pause") as dsn:
        processes = [await registry_process(fault_infra, dsn, name, logs[0], limits)]
        try:
            await eventually(lambda: _true(assigned(logs[0]) is not None), timeout=60, what="instance A to join")
            processes.append(await registry_process(fault_infra, dsn, name, logs[1], limits))
            await eventually(lambda: _true(all(map(assigned, logs))), timeout=90,
                             what="both instances to hold KeyValidated partitions")
            await produce(fault_infra.bootstrap, workload.events, workload=workload)
            await some_landed(dsn, workload, 30)
            holder, paused_at, frozen = await pause_inside_a_transaction(processes, dsn)
            stopped_at = (await count_effects(dsn, workload)).inbox
            try:   # everything, the frozen claim's event included, lands while the holder is still frozen
                await settle(dsn, workload, timeout=IDLE_IN_TRANSACTION + 60 - (time.monotonic() - paused_at))
                assert not (await count_effects(dsn, workload)).lost, "not all landed while paused"
            except AssertionError as error:
                raise AssertionError(f"{error}\n{await postgres_view(dsn)}\n{log_tails(logs)}") from None
            finished_after = time.monotonic() - paused_at
            survivors = await sessions(dsn)
            processes[holder].send_signal(signal.SIGCONT)
            await asyncio.sleep(3)  # give the resumed process time to push any late write
            count = await settle(dsn, workload, timeout=60)
        finally:
            for process in processes:
                if process.returncode is None:
                    process.send_signal(signal.SIGCONT)
                    process.terminate()
                    await process.wait()
        print(f"paused with {stopped_at} of {workload.n} handled; all handled {finished_after:.1f} s after it")
        assert stopped_at < workload.n, "the pause came too late to be mid-stream"
        assert not frozen & survivors, "PostgreSQL did not end the frozen instance's session"
        assert finished_after > IDLE_IN_TRANSACTION - 2, "the frozen transaction's event was applied while " \
                                                         "that transaction still held its claim"
        count.assert_exactly_once(workload)


async def pause_inside_a_transaction(processes: list["asyncio.subprocess.Process"],
                                     dsn: str) -> tuple[int, float, set[int]]:
    """SIGSTOP an instance (each in turn) until one freezes inside an open transaction that has written (its
    session is idle in transaction with a transaction id: it holds an uncommitted inbox claim, not just a
    BEGIN); returns which instance, when it was paused and the frozen sessions' pids."""
    for attempt in range(20):
        holder = attempt % len(processes)
        processes[holder].send_signal(signal.SIGSTOP)
        paused_at = time.monotonic()
        await asyncio.sleep(0.5)
        if frozen := await sessions(dsn, idle_in_transaction_for=0.4):
            return holder, paused_at, frozen
        processes[holder].send_signal(signal.SIGCONT)  # paused between two transactions: let it run a little
        await asyncio.sleep(0.05)
    raise AssertionError("20 pauses never caught an instance inside a transaction")


async def sessions(dsn: str, *, idle_in_transaction_for: float | None = None) -> set[int]:
    """Backend pids of the database's other sessions (only those idle at least so long in a transaction that
    has written something)."""
    conn = await asyncpg.connect(dsn)
    try:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        if idle_in_transaction_for is None:
            return {r["pid"] for r in await conn.fetch(query)}
        return {r["pid"] for r in await conn.fetch(
            query + " AND state = 'idle in transaction' AND backend_xid IS NOT NULL"
                    " AND clock_timestamp() - state_change > make_interval(secs => $1)", idle_in_transaction_for)}
    finally:
        await conn.close()


async def postgres_view(dsn: str) -> str:
    """What the registry's database sessions are doing and waiting for (attached to a stalled takeover)."""
    conn = await asyncpg.connect(dsn)
    try:
        activity = await conn.fetch(
            "SELECT pid, application_name, state, wait_event_type, wait_event, now() - xact_start AS in_xact,"
            " now() - state_change AS in_state, pg_blocking_pids(pid) AS blocked_by, left(query, 120) AS query"
            " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY pid")
        locks = await conn.fetch(
            "SELECT pid, locktype, mode, granted, relation::regclass::text AS relation, transactionid::text,"
            " classid, objid FROM pg_locks WHERE pid <> pg_backend_pid()"
            " AND (NOT granted OR locktype IN ('advisory', 'transactionid')) ORDER BY pid")
    finally:
        await conn.close()
    return "\n".join(["pg_stat_activity:", *map(str, map(dict, activity)), "pg_locks:", *map(str, map(dict, locks))])


def log_tails(logs: list[str], lines: int = 15) -> str:
    tails = []
    for path in logs:
        with open(path, errors="replace") as file:  # noqa: ASYNC230 - small local file
            tails.append(f"--- {path}\n" + "\n".join(file.read().splitlines()[-lines:]))
    return "\n".join(tails)


async def _true(value: bool) -> bool:
    return value


def assigned(log: str) -> bool | None:
    """Whether this instance's consumers currently hold KeyValidated partitions (None: not joined yet)."""
    latest: dict[str, bool] = {}
    try:
        lines = open(log).read().splitlines()  # noqa: SIM115, ASYNC230 - small local file
    except FileNotFoundError:
        return None
    for line in lines:
        if "assigned to partitions" in line:
            message = json.loads(line)["message"]
            latest[message.split()[1]] = "'KeyValidated'" in message
    return any(latest.values()) if latest else None
