"""The pytest plugin's fixtures, as service tests will use them."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from local_infra.resolve import docker_daemon_answers, kafka_bootstrap_servers, postgres_dsn


@pytest.mark.kafka
async def test_kafka_bootstrap_serves_idempotent_producer(kafka_bootstrap: str, unique_name) -> None:
    topic, group = unique_name("topic"), unique_name("group")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"payload")  # auto-created topic
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=group, auto_offset_reset="earliest")
    await consumer.start()
    try:
        message = await consumer.getone()
    finally:
        await consumer.stop()
    assert message.value == b"payload"


@pytest.mark.postgres
async def test_fresh_database_is_empty_and_separate(pg_dsn: str, fresh_database: str) -> None:
    assert fresh_database != pg_dsn
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        await conn.execute("CREATE TABLE t (x int)")
    finally:
        await conn.close()


def test_unique_name_format(unique_name) -> None:
    first, second = unique_name("orders"), unique_name("orders")
    assert first != second and first.startswith("orders-") and len(first) == len("orders-") + 10


def test_env_vars_win_without_starting_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example/app")
    with kafka_bootstrap_servers() as servers, postgres_dsn() as dsn:
        assert (servers, dsn) == ("kafka.example:9092", "postgresql://u@db.example/app")


def test_docker_probe_is_a_bool() -> None:
    assert isinstance(docker_daemon_answers(), bool)
