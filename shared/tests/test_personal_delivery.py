"""The delivery consumer opens sealed personal fields before a handler sees the event (fake Kafka consumer and
key store): names come back; a destroyed key reads as erased and the event is still applied; a key store away
is "not now" (the record is retried, never dead-lettered, never applied half-read)."""

import os
from dataclasses import dataclass, field

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from shared.contracts import CloudEvent, ConnectionBroken, to_kafka
from shared.contracts.examples import ALL, STEVE
from shared.delivery import EventConsumer, Route
from shared.delivery import consumer as consumer_module
from shared.personal_data import ERASED, MerchantKey, PersonalData

BROKEN = next(e for e in ALL if isinstance(e, ConnectionBroken))
PARTITION = TopicPartition(ConnectionBroken.topic, 0)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(_: float) -> None:
        return None

    monkeypatch.setattr(consumer_module.asyncio, "sleep", instant)


class Keys:
    def __init__(self) -> None:
        self.keys: dict[str, MerchantKey] = {}
        self.away = False

    async def find(self, merchant_id: str) -> MerchantKey | None:
        if self.away:
            raise ConnectionError("key store away")
        return self.keys.get(merchant_id)

    async def find_or_create(self, merchant_id: str) -> MerchantKey:
        return self.keys.setdefault(merchant_id, MerchantKey(os.urandom(32), os.urandom(32)))

    async def destroy(self, merchant_id: str) -> None:
        self.keys.pop(merchant_id, None)

    async def aclose(self) -> None:
        pass


@dataclass
class FakeKafkaConsumer:
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)

    def assignment(self) -> set[TopicPartition]:
        return {PARTITION}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))


@dataclass
class DeadLetters:
    sent: list[str] = field(default_factory=list)

    async def send(self, record: ConsumerRecord, reason: str) -> None:
        self.sent.append(reason)


@dataclass
class Batch:
    raw_message: tuple[ConsumerRecord, ...]
    batch_headers: list[dict[str, str]]
    consumer: FakeKafkaConsumer = field(default_factory=FakeKafkaConsumer)


async def _sealed_batch(personal: PersonalData) -> Batch:
    encoded = to_kafka(CloudEvent(data=BROKEN, source="test"))
    value = await personal.seal(BROKEN.type, encoded.value)
    record = ConsumerRecord(topic=BROKEN.topic, partition=0, offset=7, timestamp=0, timestamp_type=0,
                            key=encoded.key, value=value, checksum=None, serialized_key_size=0,
                            serialized_value_size=0, headers=encoded.headers)
    return Batch((record,), [{k: v.decode() for k, v in encoded.headers}])


async def _deliver(keys: Keys, batch: Batch, personal: PersonalData | None = None) -> tuple[list, DeadLetters]:
    handled: list[CloudEvent] = []
    dead = DeadLetters()

    async def handle(event: CloudEvent) -> None:
        handled.append(event)

    consumer = EventConsumer("group", dead, personal_data=personal or PersonalData(keys))  # type: ignore[arg-type]
    await consumer.deliver(batch, {BROKEN.topic: Route(handle)})  # type: ignore[arg-type]
    return handled, dead


async def test_the_handler_gets_the_names_back():
    keys = Keys()
    batch = await _sealed_batch(PersonalData(keys))
    assert STEVE.name.encode() not in batch.raw_message[0].value

    handled, dead = await _deliver(keys, batch)

    assert handled[0].data.authorised_by.name == STEVE.name
    assert handled[0].data.authorised_by.email == STEVE.email
    assert dead.sent == [] and batch.consumer.commits == [{PARTITION: 8}]


async def test_after_forget_the_event_is_still_applied_with_the_names_erased():
    keys = Keys()
    personal = PersonalData(keys)
    batch = await _sealed_batch(personal)
    await personal.forget(BROKEN.merchant_id)

    handled, dead = await _deliver(keys, batch)

    assert (handled[0].data.authorised_by.name, handled[0].data.authorised_by.email) == (ERASED, ERASED)
    assert handled[0].data.store_name == BROKEN.store_name      # business names are not personal
    assert dead.sent == [] and batch.consumer.commits == [{PARTITION: 8}]


async def test_a_key_store_away_retries_the_record_and_never_dead_letters_it():
    keys = Keys()
    batch = await _sealed_batch(PersonalData(keys))
    keys.away = True
    handled: list[CloudEvent] = []
    dead = DeadLetters()
    consumer = EventConsumer("group", dead, personal_data=PersonalData(keys))  # type: ignore[arg-type]

    for _ in range(EventConsumer.max_attempts + 2):      # more tries than a bug gets before it is parked
        await consumer.deliver(batch, {BROKEN.topic: Route(handled.append)})  # type: ignore[arg-type]

    assert handled == [] and dead.sent == []
    assert batch.consumer.seeks == [(PARTITION, 7)] * (EventConsumer.max_attempts + 2)
    assert batch.consumer.commits == []
