"""The delivery rules of `EventConsumer.deliver` on one fetched batch, with a fake consumer and fake dead
letters: one commit per batch covering each partition's done prefix, seek-back on retry, dead letters for
poison, give-up after `max_attempts`. (Real Kafka: tests/test_delivery_across_services.py, tests/faults.)"""

from dataclasses import dataclass, field

import asyncpg
import pytest
from aiokafka import ConsumerRecord, TopicPartition

import shared.delivery.consumer as consumer_module
from shared.contracts import KeyValidated
from shared.contracts.examples import key_validated
from shared.delivery import CloudEvent, EventConsumer, PoisonMessage, to_kafka


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(_: float) -> None:
        return None

    monkeypatch.setattr(consumer_module.asyncio, "sleep", instant)


@dataclass
class FakeKafkaConsumer:
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)
    assigned: set[TopicPartition] = field(default_factory=lambda: {TopicPartition(KeyValidated.topic, p)
                                                                   for p in range(4)})

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))


@dataclass
class FakeDeadLetters:
    sent: list[tuple[int, int, str]] = field(default_factory=list)
    fail: bool = False

    async def send(self, record: ConsumerRecord, reason: str) -> None:
        if self.fail:
            raise ConnectionError("dead-letter topic unreachable")
        self.sent.append((record.partition, record.offset, reason))


@dataclass
class Batch:
    """The two things `deliver` reads from FastStream's batch message."""

    raw_message: tuple[ConsumerRecord, ...]
    batch_headers: list[dict[str, str]]
    consumer: FakeKafkaConsumer


def _record(partition: int, offset: int, *, value: bytes | None = None, merchant: str = "m-1",
            headers: dict[str, str] | None = None) -> tuple[ConsumerRecord, dict[str, str]]:
    encoded = to_kafka(CloudEvent(data=key_validated(merchant), source="test"))
    record_headers = headers if headers is not None else {k: v.decode() for k, v in encoded.headers}
    record = ConsumerRecord(topic=KeyValidated.topic, partition=partition, offset=offset, timestamp=0,
                            timestamp_type=0, key=encoded.key, value=encoded.value if value is None else value,
                            checksum=None, serialized_key_size=0, serialized_value_size=0,
                            headers=[(k, v.encode()) for k, v in record_headers.items()])
    return record, record_headers


def _batch(*records: tuple[ConsumerRecord, dict[str, str]]) -> Batch:
    return Batch(tuple(r for r, _ in records), [h for _, h in records], FakeKafkaConsumer())


class Handler:
    """Records what it handled; raises the exceptions queued for a merchant, one per call."""

    def __init__(self, failures: dict[str, list[Exception]] | None = None) -> None:
        self.failures = failures or {}
        self.handled: list[CloudEvent] = []

    async def __call__(self, event: CloudEvent) -> None:
        if pending := self.failures.get(event.data.merchant_id):
            raise pending.pop(0)
        self.handled.append(event)


def _consumer(dead_letters: FakeDeadLetters) -> EventConsumer:
    return EventConsumer("group", dead_letters)  # type: ignore[arg-type]


P0, P1 = TopicPartition(KeyValidated.topic, 0), TopicPartition(KeyValidated.topic, 1)


async def test_a_healthy_batch_is_handled_in_order_and_committed_once_per_batch() -> None:
    batch = _batch(_record(0, 10, merchant="a"), _record(1, 5, merchant="b"), _record(0, 11, merchant="c"))
    handler = Handler()

    await _consumer(FakeDeadLetters()).deliver(batch, handler)  # type: ignore[arg-type]

    assert [e.data.merchant_id for e in handler.handled] == ["a", "c", "b"]  # partition by partition
    assert batch.consumer.commits == [{P0: 12, P1: 6}]
    assert batch.consumer.seeks == []


async def test_poison_is_dead_lettered_with_its_reason_and_committed_past() -> None:
    bad_json = _record(0, 1, value=b"{not json")
    foreign = _record(0, 2, headers={**_record(0, 2)[1], "ce_type": "com.example.Other.v1"})
    no_headers = _record(0, 3, headers={})
    dead = FakeDeadLetters()
    batch = _batch(_record(0, 0, merchant="a"), bad_json, foreign, no_headers, _record(0, 4, merchant="b"))
    handler = Handler()

    await _consumer(dead).deliver(batch, handler)  # type: ignore[arg-type]

    assert [e.data.merchant_id for e in handler.handled] == ["a", "b"]
    assert [(p, o) for p, o, _ in dead.sent] == [(0, 1), (0, 2), (0, 3)]
    assert dead.sent[0][2].startswith("undecodable JSON")
    assert "unknown event type" in dead.sent[1][2]
    assert "not a CloudEvent" in dead.sent[2][2]
    assert batch.consumer.commits == [{P0: 5}]


async def test_an_infrastructure_error_seeks_back_and_commits_only_the_done_prefix() -> None:
    handler = Handler({"b": [asyncpg.PostgresConnectionError("gone")]})
    batch = _batch(_record(0, 7, merchant="a"), _record(0, 8, merchant="b"), _record(0, 9, merchant="c"),
                   _record(1, 0, merchant="d"))

    await _consumer(FakeDeadLetters()).deliver(batch, handler)  # type: ignore[arg-type]

    assert [e.data.merchant_id for e in handler.handled] == ["a", "d"]  # c waits behind b; partition 1 flows
    assert batch.consumer.seeks == [(P0, 8)]
    assert batch.consumer.commits == [{P0: 8, P1: 1}]


async def test_nothing_done_means_no_commit() -> None:
    handler = Handler({"a": [TimeoutError()]})
    batch = _batch(_record(0, 3, merchant="a"))

    await _consumer(FakeDeadLetters()).deliver(batch, handler)  # type: ignore[arg-type]

    assert batch.consumer.commits == []
    assert batch.consumer.seeks == [(P0, 3)]


async def test_a_failing_handler_is_retried_then_dead_lettered_after_max_attempts() -> None:
    consumer = _consumer(dead := FakeDeadLetters())
    handler = Handler({"a": [RuntimeError("bug") for _ in range(consumer.max_attempts)]})
    record = _record(0, 0, merchant="a")

    for _ in range(consumer.max_attempts - 1):  # each delivery of the same record: seek back, no commit
        batch = _batch(record)
        await consumer.deliver(batch, handler)  # type: ignore[arg-type]
        assert batch.consumer.seeks == [(P0, 0)] and batch.consumer.commits == []
    batch = _batch(record)
    await consumer.deliver(batch, handler)  # type: ignore[arg-type]

    assert dead.sent == [(0, 0, f"handler failed {consumer.max_attempts} times: RuntimeError('bug')")]
    assert batch.consumer.commits == [{P0: 1}]
    assert handler.handled == []


async def test_a_handler_raising_poison_is_dead_lettered_at_once() -> None:
    dead = FakeDeadLetters()
    handler = Handler({"a": [PoisonMessage("store refers to nothing")]})
    batch = _batch(_record(0, 0, merchant="a"))

    await _consumer(dead).deliver(batch, handler)  # type: ignore[arg-type]

    assert dead.sent == [(0, 0, "store refers to nothing")]
    assert batch.consumer.commits == [{P0: 1}]


async def test_when_the_dead_letter_topic_is_away_the_record_is_not_skipped() -> None:
    dead = FakeDeadLetters(fail=True)
    batch = _batch(_record(0, 0, value=b"{not json"), _record(0, 1, merchant="b"))
    handler = Handler()

    await _consumer(dead).deliver(batch, handler)  # type: ignore[arg-type]

    assert handler.handled == []
    assert batch.consumer.seeks == [(P0, 0)]
    assert batch.consumer.commits == []


async def test_a_failed_commit_is_not_fatal() -> None:
    class RebalancedConsumer(FakeKafkaConsumer):
        async def commit(self, offsets: dict[TopicPartition, int]) -> None:
            from aiokafka.errors import CommitFailedError

            raise CommitFailedError("group rebalanced")

    batch = _batch(_record(0, 0, merchant="a"))
    batch.consumer = RebalancedConsumer()
    handler = Handler()

    await _consumer(FakeDeadLetters()).deliver(batch, handler)  # type: ignore[arg-type]

    assert [e.data.merchant_id for e in handler.handled] == ["a"]  # redelivery is absorbed by the inbox


async def test_a_partition_revoked_mid_batch_is_left_to_its_new_owner() -> None:
    batch = _batch(_record(0, 0, merchant="a"), _record(0, 1, merchant="b"), _record(1, 0, merchant="c"))

    class Revoking(Handler):
        async def __call__(self, event: CloudEvent) -> None:
            await super().__call__(event)
            if event.data.merchant_id == "a":  # a rebalance while "a" was being handled
                batch.consumer.assigned.discard(P0)

    handler = Revoking()
    await _consumer(FakeDeadLetters()).deliver(batch, handler)  # type: ignore[arg-type]

    assert [e.data.merchant_id for e in handler.handled] == ["a", "c"]
    assert batch.consumer.commits == [{P1: 1}]  # P0's progress is its new owner's to commit
