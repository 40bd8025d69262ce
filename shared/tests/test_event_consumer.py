"""The delivery rules of `EventConsumer.deliver` on one fetched batch, with a fake consumer and fake dead
letters: one commit per batch covering each partition's done prefix, seek-back on retry, dead letters for
poison, give-up after `max_attempts`. (Real Kafka: tests/test_delivery_across_services.py, tests/faults.)"""

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord, TopicPartition

import shared.delivery.consumer as consumer_module
from shared.contracts import KeyValidated
from shared.contracts.examples import key_validated
from shared.delivery import CloudEvent, EventConsumer, PoisonMessage, Route, to_kafka


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


def _to(handle: Any, batch: Any = None) -> dict[str, Route]:
    """The route of the records here (all on KeyValidated's topic)."""
    return {KeyValidated.topic: Route(handle, batch)}


def _consumer(dead_letters: FakeDeadLetters) -> EventConsumer:
    return EventConsumer("group", dead_letters)  # type: ignore[arg-type]


P0, P1 = TopicPartition(KeyValidated.topic, 0), TopicPartition(KeyValidated.topic, 1)


async def test_a_healthy_batch_is_handled_in_order_and_committed_once_per_batch() -> None:
    batch = _batch(_record(0, 10, merchant="a"), _record(1, 5, merchant="b"), _record(0, 11, merchant="c"))
    handler = Handler()

    await _consumer(FakeDeadLetters()).deliver(batch, _to(handler))  # type: ignore[arg-type]

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

    await _consumer(dead).deliver(batch, _to(handler))  # type: ignore[arg-type]

    assert [e.data.merchant_id for e in handler.handled] == ["a", "b"]
    assert [(p, o) for p, o, _ in dead.sent] == [(0, 1), (0, 2), (0, 3)]
    assert dead.sent[0][2].startswith("undecodable JSON")
    assert "unknown event type" in dead.sent[1][2]
    assert "not a CloudEvent" in dead.sent[2][2]
    assert batch.consumer.commits == [{P0: 5}]


async def test_a_newer_producers_added_fields_are_handled_not_dead_lettered() -> None:
    """Tolerant reading: unknown fields in the data and in a nested part are ignored; a missing one is poison."""
    newer = json.loads(to_kafka(CloudEvent(data=key_validated("a"), source="test")).value)
    newer["channel"] = "web"
    newer["stores"][0]["timezone"] = "Pacific/Auckland"
    missing = {k: v for k, v in newer.items() if k != "merchant_name"}
    dead = FakeDeadLetters()
    batch = _batch(_record(0, 0, value=json.dumps(newer).encode()),
                   _record(0, 1, value=json.dumps(missing).encode()))
    handler = Handler()

    await _consumer(dead).deliver(batch, _to(handler))  # type: ignore[arg-type]

    assert [e.data for e in handler.handled] == [key_validated("a")]
    assert [(p, o) for p, o, _ in dead.sent] == [(0, 1)] and "merchant_name" in dead.sent[0][2]
    assert batch.consumer.commits == [{P0: 2}]


async def test_an_infrastructure_error_seeks_back_and_commits_only_the_done_prefix() -> None:
    handler = Handler({"b": [asyncpg.PostgresConnectionError("gone")]})
    batch = _batch(_record(0, 7, merchant="a"), _record(0, 8, merchant="b"), _record(0, 9, merchant="c"),
                   _record(1, 0, merchant="d"))

    await _consumer(FakeDeadLetters()).deliver(batch, _to(handler))  # type: ignore[arg-type]

    assert [e.data.merchant_id for e in handler.handled] == ["a", "d"]  # c waits behind b; partition 1 flows
    assert batch.consumer.seeks == [(P0, 8)]
    assert batch.consumer.commits == [{P0: 8, P1: 1}]


async def test_nothing_done_means_no_commit() -> None:
    handler = Handler({"a": [TimeoutError()]})
    batch = _batch(_record(0, 3, merchant="a"))

    await _consumer(FakeDeadLetters()).deliver(batch, _to(handler))  # type: ignore[arg-type]

    assert batch.consumer.commits == []
    assert batch.consumer.seeks == [(P0, 3)]


async def test_a_failing_handler_is_retried_then_dead_lettered_after_max_attempts() -> None:
    consumer = _consumer(dead := FakeDeadLetters())
    handler = Handler({"a": [RuntimeError("bug") for _ in range(consumer.max_attempts)]})
    record = _record(0, 0, merchant="a")

    for _ in range(consumer.max_attempts - 1):  # each delivery of the same record: seek back, no commit
        batch = _batch(record)
        await consumer.deliver(batch, _to(handler))  # type: ignore[arg-type]
        assert batch.consumer.seeks == [(P0, 0)] and batch.consumer.commits == []
    batch = _batch(record)
    await consumer.deliver(batch, _to(handler))  # type: ignore[arg-type]

    assert dead.sent == [(0, 0, f"handler failed {consumer.max_attempts} times: RuntimeError('bug')")]
    assert batch.consumer.commits == [{P0: 1}]
    assert handler.handled == []


async def test_a_handler_raising_poison_is_dead_lettered_at_once() -> None:
    dead = FakeDeadLetters()
    handler = Handler({"a": [PoisonMessage("store refers to nothing")]})
    batch = _batch(_record(0, 0, merchant="a"))

    await _consumer(dead).deliver(batch, _to(handler))  # type: ignore[arg-type]

    assert dead.sent == [(0, 0, "store refers to nothing")]
    assert batch.consumer.commits == [{P0: 1}]


async def test_when_the_dead_letter_topic_is_away_the_record_is_not_skipped() -> None:
    dead = FakeDeadLetters(fail=True)
    batch = _batch(_record(0, 0, value=b"{not json"), _record(0, 1, merchant="b"))
    handler = Handler()

    await _consumer(dead).deliver(batch, _to(handler))  # type: ignore[arg-type]

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

    await _consumer(FakeDeadLetters()).deliver(batch, _to(handler))  # type: ignore[arg-type]

    assert [e.data.merchant_id for e in handler.handled] == ["a"]  # redelivery is absorbed by the inbox


async def test_a_partition_revoked_mid_batch_is_left_to_its_new_owner() -> None:
    batch = _batch(_record(0, 0, merchant="a"), _record(0, 1, merchant="b"), _record(1, 0, merchant="c"))

    class Revoking(Handler):
        async def __call__(self, event: CloudEvent) -> None:
            await super().__call__(event)
            if event.data.merchant_id == "a":  # a rebalance while "a" was being handled
                batch.consumer.assigned.discard(P0)

    handler = Revoking()
    await _consumer(FakeDeadLetters()).deliver(batch, _to(handler))  # type: ignore[arg-type]

    assert [e.data.merchant_id for e in handler.handled] == ["a", "c"]
    assert batch.consumer.commits == [{P1: 1}]  # P0's progress is its new owner's to commit


# --- "try again" errors (shared.delivery.errors): retried for as long as they last, never counted ------------
TRY_AGAIN = [
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.CrashShutdownError("the database system is in recovery mode"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.IdleSessionTimeoutError("idle-session timeout"),
    asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.exceptions.OutOfMemoryError("out of memory"),
    asyncpg.exceptions.DiskFullError("could not extend file: No space left on device"),
    asyncpg.exceptions.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
    asyncpg.exceptions.SerializationError("could not serialize access due to concurrent update"),
    asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    asyncpg.exceptions.PostgresIOError("could not read block"),
    asyncpg.exceptions.ConnectionFailureError("connection failure"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.exceptions.LockNotAvailableError("canceling statement due to lock timeout"),
    asyncpg.exceptions.IdleInTransactionSessionTimeoutError("idle-in-transaction timeout"),
    asyncpg.exceptions.TransactionTimeoutError("transaction timeout"),
    asyncpg.exceptions.InterfaceError("cannot call Connection.execute(): connection is closed"),
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError(),
]
NEVER_GOES_AWAY = [
    asyncpg.exceptions.UniqueViolationError("duplicate key value violates unique constraint"),
    asyncpg.exceptions.UndefinedColumnError("column does not exist"),
    asyncpg.exceptions.TransactionIntegrityConstraintViolationError("deferred constraint violated at commit"),
    asyncpg.exceptions.ProtocolViolationError("bind message supplies 1 parameters, but statement requires 2"),
    asyncpg.exceptions._base.DataError("invalid input for query argument $1"),  # asyncpg's own encoding error
]


def _wrapped(error: Exception) -> Exception:
    try:
        raise RuntimeError("the adapter wraps the driver's error") from error
    except RuntimeError as wrapper:
        return wrapper


async def _deliver_until_done(consumer: EventConsumer, record: tuple, handler: Handler, rounds: int) -> Batch:
    """Deliver the same record again after each seek-back (as the next fetch would); the last batch."""
    for _ in range(rounds):
        batch = _batch(record)
        await consumer.deliver(batch, _to(handler))  # type: ignore[arg-type]
        if batch.consumer.commits:
            return batch
        assert batch.consumer.seeks == [(P0, 0)]
    raise AssertionError(f"still not done after {rounds} deliveries")


@pytest.mark.parametrize("error", TRY_AGAIN + [_wrapped(TRY_AGAIN[0]), ExceptionGroup("both", TRY_AGAIN[:2])],
                         ids=lambda e: type(e).__name__ if not e.__cause__ else "wrapped")
async def test_a_try_again_error_is_retried_past_max_attempts_and_never_dead_lettered(error: Exception) -> None:
    consumer = _consumer(dead := FakeDeadLetters())
    times = consumer.max_attempts * 3
    handler = Handler({"a": [error] * times})

    batch = await _deliver_until_done(consumer, _record(0, 0, merchant="a"), handler, times + 1)

    assert dead.sent == []
    assert [e.data.merchant_id for e in handler.handled] == ["a"]
    assert batch.consumer.commits == [{P0: 1}]


@pytest.mark.parametrize("error", NEVER_GOES_AWAY + [ExceptionGroup("mixed", [TRY_AGAIN[0], RuntimeError("bug")])],
                         ids=lambda e: type(e).__name__)
async def test_an_error_that_would_fail_again_is_counted_and_dead_lettered(error: Exception) -> None:
    consumer = _consumer(dead := FakeDeadLetters())
    handler = Handler({"a": [error] * consumer.max_attempts})

    await _deliver_until_done(consumer, _record(0, 0, merchant="a"), handler, consumer.max_attempts)

    assert [(p, o) for p, o, _ in dead.sent] == [(0, 0)]
    assert dead.sent[0][2].startswith(f"handler failed {consumer.max_attempts} times: {type(error).__name__}")
    assert handler.handled == []


async def test_try_again_errors_between_failures_do_not_bring_the_dead_letter_closer() -> None:
    consumer = _consumer(dead := FakeDeadLetters())
    outage = [asyncpg.exceptions.AdminShutdownError("failover")] * (consumer.max_attempts * 2)
    bugs = [RuntimeError("bug")] * (consumer.max_attempts - 1)
    handler = Handler({"a": [*outage[:3], *bugs, *outage[3:]]})

    await _deliver_until_done(consumer, _record(0, 0, merchant="a"), handler, len(outage) + len(bugs) + 1)

    assert dead.sent == []  # max_attempts - 1 counted failures, however long the outage around them
    assert [e.data.merchant_id for e in handler.handled] == ["a"]


@pytest.mark.postgres
async def test_real_postgres_failures_are_retried_not_dead_lettered(pg_dsn: str) -> None:
    """The handler's own backend is terminated (pg_terminate_backend, as a failover or an admin does) and its
    transaction is read-only (as on a standby), each more often than max_attempts; then it works."""
    consumer = _consumer(dead := FakeDeadLetters())
    failures = {"terminate": consumer.max_attempts + 1, "read_only": consumer.max_attempts + 1}
    seen: list[type] = []
    pool = await asyncpg.create_pool(pg_dsn, min_size=1, max_size=2)
    admin = await asyncpg.connect(pg_dsn)

    async def handle(event: CloudEvent) -> None:
        try:
            async with pool.acquire() as conn:
                if failures["terminate"]:
                    failures["terminate"] -= 1
                    async with conn.transaction():
                        await admin.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())
                        await conn.execute("SELECT 1")
                async with conn.transaction(readonly=failures["read_only"] > 0):
                    failures["read_only"] = max(0, failures["read_only"] - 1)
                    await conn.execute("CREATE TEMP TABLE handled (x int) ON COMMIT DROP")
        except Exception as error:
            seen.append(type(error))
            raise

    try:
        batch = await _deliver_until_done(consumer, _record(0, 0), handle, 2 * consumer.max_attempts + 3)
    finally:
        await admin.close()
        await pool.close()

    assert dead.sent == [] and batch.consumer.commits == [{P0: 1}]
    assert len(seen) == 2 * consumer.max_attempts + 2
    assert asyncpg.exceptions.ReadOnlySQLTransactionError in seen
    assert set(seen) - {asyncpg.exceptions.ReadOnlySQLTransactionError} <= {
        asyncpg.exceptions.AdminShutdownError, asyncpg.exceptions.ConnectionDoesNotExistError,
        asyncpg.exceptions.InterfaceError}, seen


# Batch mode: a partition's records go to the batch handler in one call (one transaction); when that call fails for
# any reason but infrastructure, to the single handler one by one, so the failing record alone is dead-lettered and
# every other one applied once. (Real Kafka + PostgreSQL: services/connection_registry/tests/test_registry_batches.py.)

class Transactional:
    """A batch handler that applies all its events or none: raises the failure queued for any merchant in it."""

    def __init__(self, failures: dict[str, list[Exception]] | None = None) -> None:
        self.failures = failures or {}
        self.applied: list[str] = []
        self.calls: list[int] = []   # the size of each call

    async def batch(self, events: list[CloudEvent]) -> None:
        self.calls.append(len(events))
        for event in events:
            if pending := self.failures.get(event.data.merchant_id):
                raise pending.pop(0)
        self.applied.extend(event.data.merchant_id for event in events)

    async def one(self, event: CloudEvent) -> None:
        await self.batch([event])


async def test_each_partitions_records_are_applied_in_one_call_and_committed_once() -> None:
    batch = _batch(*(_record(0, offset, merchant=f"a{offset}") for offset in range(10, 14)),
                   _record(1, 5, merchant="b"), _record(1, 6, merchant="c"))
    handler = Transactional()

    await _consumer(FakeDeadLetters()).deliver(batch, _to(handler.one, handler.batch))  # type: ignore[arg-type]

    assert handler.calls == [4, 2]
    assert handler.applied == ["a10", "a11", "a12", "a13", "b", "c"]
    assert batch.consumer.commits == [{P0: 14, P1: 7}]


@pytest.mark.parametrize("error", [PoisonMessage("bad"), RuntimeError("bug")], ids=["poison", "bug"])
async def test_a_failing_record_in_the_middle_is_dead_lettered_alone_and_the_rest_applied_once(error) -> None:
    consumer = _consumer(dead := FakeDeadLetters())
    records = [_record(0, offset, merchant="bad" if offset == 250 else f"m{offset}") for offset in range(500)]
    handler = Transactional({"bad": [error] * 100})

    start = 0
    for _ in range(consumer.max_attempts + 1):   # each fetch starts where the last one committed
        batch = _batch(*records[start:])
        await consumer.deliver(batch, _to(handler.one, handler.batch))  # type: ignore[arg-type]
        start = batch.consumer.commits[-1][P0] if batch.consumer.commits else start
        if start == 500:
            break

    assert start == 500
    assert [(p, o) for p, o, _ in dead.sent] == [(0, 250)]
    assert sorted(handler.applied) == sorted(f"m{offset}" for offset in range(500) if offset != 250)
    assert len(handler.applied) == 499   # once each: the failed batch calls applied nothing


async def test_an_undecodable_record_in_a_batch_is_dead_lettered_alone() -> None:
    batch = _batch(_record(0, 0, merchant="a"), _record(0, 1, value=b"{not json"), _record(0, 2, merchant="b"))
    handler = Transactional()

    await _consumer(dead := FakeDeadLetters()).deliver(batch, _to(handler.one, handler.batch))  # type: ignore[arg-type]

    assert [(p, o) for p, o, _ in dead.sent] == [(0, 1)]
    assert handler.applied == ["a", "b"]
    assert batch.consumer.commits == [{P0: 3}]


async def test_infrastructure_away_retries_the_whole_batch_and_never_splits_it() -> None:
    consumer = _consumer(dead := FakeDeadLetters())
    handler = Transactional({"b": [asyncpg.exceptions.AdminShutdownError("failover")] * 2})
    records = (_record(0, 7, merchant="a"), _record(0, 8, merchant="b"), _record(0, 9, merchant="c"))

    first = _batch(*records)
    await consumer.deliver(first, _to(handler.one, handler.batch))  # type: ignore[arg-type]
    assert (first.consumer.commits, first.consumer.seeks, handler.calls) == ([], [(P0, 7)], [3])

    for _ in range(2):
        again = _batch(*records)
        await consumer.deliver(again, _to(handler.one, handler.batch))  # type: ignore[arg-type]

    assert handler.calls == [3, 3, 3]   # never one by one
    assert handler.applied == ["a", "b", "c"]
    assert again.consumer.commits == [{P0: 10}]
    assert dead.sent == []


async def test_a_batch_that_keeps_failing_as_infrastructure_goes_one_by_one_and_each_is_still_retried() -> None:
    consumer = _consumer(dead := FakeDeadLetters())
    handler = Transactional({"b": [asyncpg.exceptions.OutOfMemoryError("out of shared memory")] * 6})
    records = (_record(0, 7, merchant="a"), _record(0, 8, merchant="b"), _record(0, 9, merchant="c"))

    for _ in range(8):
        batch = _batch(*records)
        await consumer.deliver(batch, _to(handler.one, handler.batch))  # type: ignore[arg-type]
        if batch.consumer.commits and batch.consumer.commits[-1] == {P0: 10}:
            break
        records = records[batch.consumer.commits[-1][P0] - 7:] if batch.consumer.commits else records

    assert handler.calls[:consumer.batch_retries + 1] == [3] * (consumer.batch_retries + 1)
    assert handler.applied == ["a", "b", "c"] and 1 in handler.calls   # then one by one, "b" retried until it passed
    assert dead.sent == []


async def test_a_batch_has_one_span_continuing_the_first_records_trace_and_linking_the_others(monkeypatch) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from shared.tracing import tracer_provider

    exporter = InMemorySpanExporter()
    monkeypatch.setattr(consumer_module, "_tracer", tracer_provider(SimpleSpanProcessor(exporter)).get_tracer("t"))
    parents = [f"00-{n:032x}-{n:016x}-01" for n in (1, 2, 1)]   # two records of one trace, one of another
    records = [_record(0, offset, merchant=f"m{offset}") for offset in range(3)]
    records = [(record, headers | {"traceparent": parent}) for (record, headers), parent in zip(records, parents)]
    handler = Transactional()

    consumer = _consumer(FakeDeadLetters())
    await consumer.deliver(_batch(*records), _to(handler.one, handler.batch))  # type: ignore[arg-type]

    (span,) = exporter.get_finished_spans()
    assert (span.context.trace_id, span.parent.span_id) == (1, 1)
    assert [(link.context.trace_id, link.context.span_id) for link in span.links] == [(2, 2)]
    assert span.attributes["messaging.batch.message_count"] == 3



# --- one member per process: every topic of the group in one subscriber ------------------------------------


async def test_each_partition_goes_to_its_own_topics_route() -> None:
    from shared.contracts import StoreConnected
    from shared.contracts.examples import ALL

    encoded = to_kafka(CloudEvent(data=next(e for e in ALL if isinstance(e, StoreConnected)), source="test"))
    connected_headers = {k: v.decode() for k, v in encoded.headers}
    connected_record = dataclasses.replace(_record(0, 3)[0], topic=StoreConnected.topic, key=encoded.key,
                                           value=encoded.value, headers=list(encoded.headers))
    validated, connected = Handler(), Handler()
    elsewhere = TopicPartition(StoreConnected.topic, 0)
    first = _record(0, 1, merchant="a")
    batch = Batch((first[0], connected_record), [first[1], connected_headers],
                  FakeKafkaConsumer(assigned={P0, elsewhere}))
    await _consumer(FakeDeadLetters()).deliver(batch, {KeyValidated.topic: Route(validated),  # type: ignore[arg-type]
                                                       StoreConnected.topic: Route(connected)})
    assert [e.data.merchant_id for e in validated.handled] == ["a"]
    assert [type(e.data) for e in connected.handled] == [StoreConnected]
    assert batch.consumer.commits == [{P0: 2, elsewhere: 4}]


def test_all_topics_share_one_subscriber_so_a_process_is_one_group_member() -> None:
    from faststream.kafka import KafkaBroker

    from shared.contracts import OrgSelected, StoreConnected

    broker = KafkaBroker("127.0.0.1:9")
    consumer = _consumer(FakeDeadLetters())
    for event in (KeyValidated, StoreConnected, OrgSelected):
        consumer.subscribe(event, Handler(), "test")
    with pytest.raises(ValueError, match="already consumed"):
        consumer.subscribe(KeyValidated, Handler(), "again")
    consumer.attach(broker)
    consumer.attach(broker)  # the runtime may reconnect: still one
    subscribers = list(broker.subscribers)
    assert len(subscribers) == 1
    assert set(subscribers[0].topic_names) == {KeyValidated.topic, StoreConnected.topic, OrgSelected.topic}
