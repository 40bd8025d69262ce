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

import pytest

from connection_registry.main import build_app
from connection_registry.settings import RegistrySettings
from local_infra.postgres import temporary_database
from shared.contracts.topics import dead_letter_topic

from ..support.kafka import eventually, read_topic
from .conftest import FaultInfra
from .support import Workload, count_effects, produce, settle

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.faults]
TOKENS = {"api_token": "fault-suite-api-token-0001", "helpdesk_token": "fault-suite-helpdesk-token-01"}


@asynccontextmanager
async def database(infra: FaultInfra, name: str) -> AsyncIterator[str]:
    async with temporary_database(infra.postgres.dsn, prefix=name) as dsn:
        yield dsn


@asynccontextmanager
async def registry_in_process(infra: FaultInfra, dsn: str, group: str) -> AsyncIterator[None]:
    app = build_app(RegistrySettings(database={"url": dsn}, helpdesk_secure_cookie=False,
                                     kafka={"bootstrap_servers": infra.bootstrap, "consumer_group": group}, **TOKENS))
    async with app.router.lifespan_context(app):
        yield


def registry_process(infra: FaultInfra, dsn: str, group: str, log: str) -> "asyncio.subprocess.Process":
    env = os.environ | {"CONNECTION_REGISTRY_DATABASE__URL": dsn, "CONNECTION_REGISTRY_HTTP__PORT": "0",
                        "CONNECTION_REGISTRY_KAFKA__BOOTSTRAP_SERVERS": infra.bootstrap,
                        "CONNECTION_REGISTRY_KAFKA__CONSUMER_GROUP": group,
                        "CONNECTION_REGISTRY_API_TOKEN": TOKENS["api_token"],
                        "CONNECTION_REGISTRY_HELPDESK_TOKEN": TOKENS["helpdesk_token"]}
    return asyncio.create_subprocess_exec(sys.executable, "-m", "connection_registry", env=env,
                                          stdout=open(log, "ab"), stderr=asyncio.subprocess.STDOUT)  # noqa: SIM115


async def some_landed(dsn: str, workload: Workload, at_least: int) -> None:
    async def enough() -> bool:
        return (await count_effects(dsn, workload)).inbox >= at_least
    await eventually(enough, timeout=60, what=f"{at_least} events to be handled")


async def mid_stream(dsn: str, workload: Workload) -> None:
    """The fault must hit while events are still pending, or the case proves nothing."""
    handled = (await count_effects(dsn, workload)).inbox
    assert handled < workload.n, f"the fault came too late: all {workload.n} events were already handled"


def group() -> str:
    return f"fault-{uuid4().hex[:8]}"


async def test_every_event_delivered_twice_is_applied_once(fault_infra):
    workload = Workload(150)
    async with database(fault_infra, "fault_twice") as dsn, registry_in_process(fault_infra, dsn, group()):
        await produce(fault_infra.bootstrap, workload.events, times=2)
        (await settle(dsn, workload)).assert_exactly_once(workload)


async def test_poison_interleaved_goes_to_dead_letters_and_the_rest_is_applied_once(fault_infra):
    workload, name = Workload(60), group()
    async with database(fault_infra, "fault_poison") as dsn, registry_in_process(fault_infra, dsn, name):
        poisons = await produce(fault_infra.bootstrap, workload.events, poison_every=10)
        (await settle(dsn, workload)).assert_exactly_once(workload)
        dead = await read_topic(fault_infra.bootstrap, dead_letter_topic(name), expect=poisons, timeout=30)
        assert len(dead) == poisons == 18
        assert {dict(r.headers)["dlq_consumer"] for r in dead} == {name.encode()}


async def test_broker_killed_and_restarted_mid_stream(fault_infra):
    first, second = Workload(300), Workload(100)
    async with database(fault_infra, "fault_broker") as dsn, registry_in_process(fault_infra, dsn, group()):
        await produce(fault_infra.bootstrap, first.events)
        await some_landed(dsn, first, 20)
        await asyncio.to_thread(fault_infra.broker.kill)
        await mid_stream(dsn, first)
        await asyncio.sleep(2)
        await asyncio.to_thread(fault_infra.broker.restart)
        await produce(fault_infra.bootstrap, second.events)
        (await settle(dsn, first, timeout=120)).assert_exactly_once(first)
        (await settle(dsn, second, timeout=60)).assert_exactly_once(second)


async def test_postgres_killed_and_restarted_mid_stream(fault_infra):
    workload = Workload(300)
    async with database(fault_infra, "fault_pg") as dsn, registry_in_process(fault_infra, dsn, group()):
        await produce(fault_infra.bootstrap, workload.events)
        await some_landed(dsn, workload, 20)
        await mid_stream(dsn, workload)
        await asyncio.to_thread(fault_infra.postgres.kill)
        await asyncio.sleep(2)
        await asyncio.to_thread(fault_infra.postgres.restart)
        (await settle(dsn, workload, timeout=120)).assert_exactly_once(workload)


async def test_link_to_the_broker_cut_and_restored_mid_stream(fault_infra):
    workload = Workload(300)
    async with database(fault_infra, "fault_link") as dsn, registry_in_process(fault_infra, dsn, group()):
        await produce(fault_infra.bootstrap, workload.events)
        await some_landed(dsn, workload, 20)
        fault_infra.proxy.cut()
        await mid_stream(dsn, workload)
        await asyncio.sleep(5)
        fault_infra.proxy.restore()
        (await settle(dsn, workload, timeout=120)).assert_exactly_once(workload)


@pytest.mark.faults_full
async def test_consumer_process_sigkilled_mid_stream_and_restarted(fault_infra, tmp_path):
    workload, name, log = Workload(400), group(), str(tmp_path / "registry.log")
    async with database(fault_infra, "fault_sigkill") as dsn:
        first = await registry_process(fault_infra, dsn, name, log)
        try:
            await produce(fault_infra.bootstrap, workload.events)
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
@pytest.mark.faults_unstable
async def test_consumer_paused_past_its_session_timeout_then_resumed(fault_infra, tmp_path):
    """Two instances in one group; SIGSTOP the one holding the KeyValidated partition mid-stream; the other
    takes it over once the paused one's session times out (aiokafka default 10 s); SIGCONT: whatever the
    resumed instance finishes late must not land twice."""
    workload, name = Workload(400), group()
    logs = [str(tmp_path / "registry-a.log"), str(tmp_path / "registry-b.log")]
    async with database(fault_infra, "fault_pause") as dsn:
        processes = [await registry_process(fault_infra, dsn, name, logs[0])]
        try:
            await eventually(lambda: _true(assigned(logs[0]) is not None), timeout=60, what="instance A to join")
            processes.append(await registry_process(fault_infra, dsn, name, logs[1]))
            await eventually(lambda: _true(assigned(logs[1]) is not None and sum(map(bool, map(assigned, logs))) == 1),
                             timeout=60, what="instance B to join and one instance to hold KeyValidated")
            await produce(fault_infra.bootstrap, workload.events)
            await some_landed(dsn, workload, 30)
            for holder in (0, 1):  # pause one; if the stream goes on without it, it was not the holder
                processes[holder].send_signal(signal.SIGSTOP)
                await asyncio.sleep(0.5)
                stopped_at = (await count_effects(dsn, workload)).inbox
                await asyncio.sleep(3)
                if (await count_effects(dsn, workload)).inbox == stopped_at:
                    break
                processes[holder].send_signal(signal.SIGCONT)
            else:
                raise AssertionError("pausing either instance did not stop the stream")
            started = time.monotonic() - 3.5
            await some_landed(dsn, workload, stopped_at + 10)  # the other instance took over
            took_over_after = time.monotonic() - started
            processes[holder].send_signal(signal.SIGCONT)
            await settle(dsn, workload, timeout=120)
            await asyncio.sleep(3)  # give the resumed process time to push any late write
            count = await count_effects(dsn, workload)
        finally:
            for process in processes:
                if process.returncode is None:
                    process.send_signal(signal.SIGCONT)
                    process.terminate()
                    await process.wait()
        assert stopped_at < workload.n, "the pause came too late to be mid-stream"
        assert took_over_after > 5, "the other instance went on before the paused one's session timed out"
        count.assert_exactly_once(workload)


async def _true(value: bool) -> bool:
    return value


def assigned(log: str) -> bool | None:
    """Whether this instance's consumers currently hold the KeyValidated partition (None: not joined yet)."""
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
