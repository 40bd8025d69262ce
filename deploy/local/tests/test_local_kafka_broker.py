"""The local Kafka launcher end to end: real produce/consume, restart and crash keep data, stop leaves nothing."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from local_infra._proc import descendants, pid_alive
from local_infra.kafka import KafkaBroker, ensure_kafka_libs

pytestmark = pytest.mark.kafka


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=value)
    finally:
        await producer.stop()


async def consume_all(bootstrap: str, topic: str, group: str, expected: int, timeout: float = 30.0) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest")
    await consumer.start()
    seen: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout
        while len(seen) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            seen.extend(msg.value for msgs in batches.values() for msg in msgs if msg.value is not None)
    finally:
        await consumer.stop()
    return seen


async def test_broker_produce_consume_restart_kill_and_stop() -> None:
    broker = KafkaBroker()
    broker.start()
    try:
        bootstrap = broker.bootstrap_servers
        assert bootstrap.startswith("127.0.0.1:")
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic("lifecycle", num_partitions=3, replication_factor=1)])
        finally:
            await admin.close()

        first = [f"m{i}".encode() for i in range(10)]
        await produce(bootstrap, "lifecycle", first)
        assert sorted(await consume_all(bootstrap, "lifecycle", "g1", 10)) == sorted(first)

        ports = (broker.port, broker.controller_port)
        broker.restart()  # graceful
        assert (broker.port, broker.controller_port) == ports
        assert sorted(await consume_all(bootstrap, "lifecycle", "g2", 10)) == sorted(first)

        crashed = broker.pid
        assert crashed is not None
        broker.kill()
        assert not pid_alive(crashed)
        broker.restart()
        await produce(bootstrap, "lifecycle", [b"after-crash"])
        assert sorted(await consume_all(bootstrap, "lifecycle", "g3", 11)) == sorted([*first, b"after-crash"])
    finally:
        pid, workdir = broker.pid, broker.workdir
        broker.stop()
    assert pid is not None and workdir is not None
    assert not pid_alive(pid) and not descendants(pid)
    assert not workdir.exists()


def test_libs_are_cached_by_pom_hash() -> None:
    libs = ensure_kafka_libs()
    assert (libs / ".complete").exists()
    assert any(p.name.startswith("kafka_2.13-") for p in libs.glob("*.jar"))
    started = time.monotonic()
    assert ensure_kafka_libs() == libs
    assert time.monotonic() - started < 0.5


def test_failed_start_raises_with_details_and_cleans_up() -> None:
    before = set(Path(tempfile.gettempdir()).glob("local-kafka-*"))
    broker = KafkaBroker(extra_properties={"process.roles": "nonsense"}, startup_timeout=60)
    with pytest.raises(RuntimeError, match="nonsense"):
        broker.start()
    assert broker.pid is None and broker.workdir is None
    assert set(Path(tempfile.gettempdir()).glob("local-kafka-*")) <= before


def test_cluster_ids_never_start_with_a_dash():
    """One in 64 random ids did, and the storage tool then read the id as an option (a flaky start)."""
    from local_infra.kafka import _cluster_id

    ids = [_cluster_id() for _ in range(5000)]
    assert not any(i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids) and all(len(i) == 22 for i in ids)
