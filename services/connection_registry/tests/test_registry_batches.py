"""A partition's batch in one transaction, on real Kafka + PostgreSQL: a poison record in the middle of 500 (it
decodes, its rows are written, then its handling fails inside the batch's transaction) is dead-lettered alone, and
the other 499 are applied exactly once. (The rules on fakes: shared/tests/test_event_consumer.py, test_batches.py.)

The failure is injected in this process only (the record itself is a normal KeyValidated): the topics are shared by
the session, and the rebuild tests read them all back."""

import pytest
from aiokafka import AIOKafkaProducer

from connection_registry.adapters.batch_writes import BatchTransaction
from connection_registry.adapters.postgres import PgRegistryTransaction
from connection_registry.handlers import RegistryHandlers
from local_infra.probes import read_topic
from shared.contracts import KeyValidated
from shared.contracts.topics import dead_letter_topic
from shared.delivery import CloudEvent, to_kafka
from tests.support.kafka import eventually

from .journey import Journey
from .live import serving

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_a_poison_record_amid_500_is_dead_lettered_alone_and_the_other_499_applied_once(
        pg_dsn, kafka_bootstrap, unique_name, monkeypatch):
    group = unique_name("registry-batch")
    events = [Journey(f"{group}-{i}").key_validated(stores=1) for i in range(500)]
    poison = events[250]
    fail_after_writing(monkeypatch, poison.data.merchant_id)
    calls = batch_calls(monkeypatch)
    await produce_to_one_partition(kafka_bootstrap, events)   # before the consumer starts: one fetch of 500

    async with serving(pg_dsn, kafka_bootstrap, group) as registry:
        dead = await read_topic(kafka_bootstrap, dead_letter_topic(group), expect=1, timeout=60)
        good = [event.id for event in events if event is not poison]
        await eventually(lambda: _all_claimed(registry.runtime.pool, good), timeout=60, what="499 events applied")
        pool = registry.runtime.pool
        claimed = await pool.fetchval("SELECT count(*) FROM delivery_inbox WHERE event_id = ANY($1)",
                                      [event.id for event in events])
        lines = await pool.fetch("SELECT event_id, count(*) AS n FROM timeline WHERE merchant_id LIKE $1"
                                 " GROUP BY event_id", f"{group}-%")
        merchants = await pool.fetchval("SELECT count(*) FROM merchants WHERE merchant_id LIKE $1", f"{group}-%")

    assert [dict(r.headers)["ce_id"].decode() for r in dead] == [str(poison.id)]   # alone
    assert "RuntimeError('poison" in dict(dead[0].headers)["dlq_reason"].decode()
    assert claimed == 499 and merchants == 499   # the poison's rows were rolled back each time
    assert {r["event_id"] for r in lines} == set(good) and {r["n"] for r in lines} == {1}   # once each
    assert any(poison.id in ids and len(ids) > 100 for ids in calls), f"no batch held the poison: {calls[:3]}"


def fail_after_writing(monkeypatch: pytest.MonkeyPatch, merchant_id: str) -> None:
    """The merchant's change is written (one by one) or kept for the batch's end (in a batch, whose earlier rows
    may have been flushed by then), then its handling fails: only a rollback can undo those rows."""
    for adapter in (PgRegistryTransaction, BatchTransaction):
        original = adapter.apply

        async def failing(self, change, original=original):  # noqa: ANN001, ANN202
            await original(self, change)
            if change.merchant and change.merchant.merchant_id == merchant_id:
                raise RuntimeError("poison: the handler fails on this event every time")

        monkeypatch.setattr(adapter, "apply", failing)


def batch_calls(monkeypatch: pytest.MonkeyPatch) -> list[list]:
    """The event ids of each `handle_batch` call (the subscribers bind it when the app is built)."""
    calls: list[list] = []
    original = RegistryHandlers.handle_batch

    async def recording(self, events):  # noqa: ANN001, ANN202
        calls.append([event.id for event in events])
        return await original(self, events)

    monkeypatch.setattr(RegistryHandlers, "handle_batch", recording)
    return calls


async def produce_to_one_partition(bootstrap: str, events: list[CloudEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=20)
    await producer.start()
    try:
        sent = [await producer.send(KeyValidated.topic, to_kafka(e).value, key=to_kafka(e).key,
                                    headers=to_kafka(e).headers, partition=0) for e in events]
        for future in sent:
            await future
    finally:
        await producer.stop()


async def _all_claimed(pool, ids: list) -> bool:  # noqa: ANN001
    return await pool.fetchval("SELECT count(*) FROM delivery_inbox WHERE event_id = ANY($1)", ids) == len(ids)
