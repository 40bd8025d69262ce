"""A consumer built from docs/asyncapi/*.json alone reads every event type the services publish, on real Kafka.

Publishing is the services' own way: `to_kafka` of one example of every type (shared.contracts.examples.ALL)
sent by an aiokafka producer, as the outbox relay sends them. Reading is a raw aiokafka consumer plus
`tests/support/docs_consumer.Contract`, which knows nothing of shared.contracts: it finds each record's message by
topic and `ce_type` in the documents and validates the headers, the key and the payload against them. Records
that are not what the documents say (a wrong type, a missing header, no key, a bad payload) are refused; a
payload with a field the documents do not know yet (a newer producer's optional addition) is read.
"""

import ast
import json
import time
from dataclasses import dataclass
from uuid import uuid4

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from shared.contracts import CloudEvent, KeyValidated, StoreConnected, event_types, to_kafka
from shared.contracts.examples import ALL, key_validated
from tools.contract_docs import ROOT

from .support import docs_consumer
from .support.docs_consumer import Contract, Refused

pytestmark = [pytest.mark.kafka]
DOCS = ROOT / "docs" / "asyncapi"
RUN, CASE = "x-test-run", "x-test-case"   # headers the documents do not name: a tolerant reader ignores them
REFUSED = {   # case -> why the documents refuse it
    "wrong type": "no message 'com.citruslime.cloudpos.xero.StoreConnected.v1' on topic 'KeyValidated'",
    "unknown version": "no message 'com.citruslime.cloudpos.xero.KeyValidated.v9' on topic 'KeyValidated'",
    "no ce_id header": "headers: 'ce_id' is a required property",
    "ce_id not a UUID": "headers at ce_id: 'k-1' ",
    "ce_time without a zone": "headers at ce_time: '2026-03-02T09:30:00' ",
    "no key": "key: None is not of type 'string'",
    "payload without a required field": "payload: 'validated_by' is a required property",
    "a store without its name": "payload at stores/0: 'name' is a required property",
    "value not JSON": "the value is not JSON",
}


@dataclass(frozen=True, slots=True)
class Record:
    case: str
    topic: str
    key: bytes | None
    headers: list[tuple[str, bytes]]
    value: bytes


def _as_services_publish() -> list[Record]:
    """One example of every type, each for a merchant of its own, with every optional CloudEvents header."""
    records = []
    for example in ALL:
        data = example.model_copy(update={"merchant_id": f"m-{uuid4().hex[:10]}"})
        record = to_kafka(CloudEvent(data=data, source="/cloudpos-xero/tests", subject="s-1", causation_id=uuid4(),
                                     correlation_id=uuid4()))
        records.append(Record(example.type, record.topic, record.key, record.headers, record.value))
    return records


def _broken() -> list[Record]:
    good = to_kafka(CloudEvent(data=key_validated(f"m-{uuid4().hex[:10]}"), source="/cloudpos-xero/tests"))
    headers = dict(good.headers)
    payload = json.loads(good.value)

    def record(case: str, *, key: bytes | None = good.key, value: bytes = good.value,
               **changes: bytes | None) -> Record:
        changed = {name: raw for name, raw in {**headers, **changes}.items() if raw is not None}
        return Record(case, KeyValidated.topic, key, list(changed.items()), value)

    return [
        record("wrong type", ce_type=StoreConnected.type.encode()),
        record("unknown version", ce_type=KeyValidated.type.replace(".v1", ".v9").encode()),
        record("no ce_id header", ce_id=None),
        record("ce_id not a UUID", ce_id=b"k-1"),
        record("ce_time without a zone", ce_time=b"2026-03-02T09:30:00"),
        record("no key", key=None),
        record("payload without a required field",
               value=json.dumps({k: v for k, v in payload.items() if k != "validated_by"}).encode()),
        record("a store without its name", value=json.dumps(
            {**payload, "stores": [{"store_id": "s-1"}, *payload["stores"][1:]]}).encode()),
        record("value not JSON", value=b"\xff{not json"),
        record("a field added by a newer producer", value=json.dumps(
            {**payload, "loyalty_tier": "gold", "stores": [{**payload["stores"][0], "opened": "2020"}]}).encode()),
    ]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def read_back(kafka_bootstrap: str) -> dict[str, ConsumerRecord]:
    """Publish every record of this module (tagged with this run), then read them back by case."""
    run = uuid4().hex.encode()
    sent = [*_as_services_publish(), *_broken()]
    since = int(time.time() * 1000) - 5000
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for r in sent:
            await producer.send_and_wait(r.topic, key=r.key, value=r.value,
                                         headers=[*r.headers, (RUN, run), (CASE, r.case.encode())])
    finally:
        await producer.stop()
    return await _read(kafka_bootstrap, Contract.load(DOCS).topics, since, run, {r.case for r in sent})


async def _read(bootstrap: str, topics: set[str], since_ms: int, run: bytes,
                cases: set[str]) -> dict[str, ConsumerRecord]:
    """A raw consumer (no group) on every documented topic, from the first record at or after `since_ms`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - as local_infra.probes.read_topic does
        partitions = [TopicPartition(t, p) for t in sorted(topics) for p in consumer.partitions_for_topic(t)]
        consumer.assign(partitions)
        for partition, found in (await consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))).items():
            if found is None:
                await consumer.seek_to_end(partition)
            else:
                consumer.seek(partition, found.offset)
        read: dict[str, ConsumerRecord] = {}
        deadline = time.monotonic() + 30
        while set(read) != cases and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                read |= {dict(r.headers)[CASE].decode(): r for r in records if dict(r.headers).get(RUN) == run}
        assert set(read) == cases, f"not read back: {cases - set(read)}"
        return read
    finally:
        await consumer.stop()


def _check(record: ConsumerRecord) -> str:
    return Contract.load(DOCS).check(record.topic, record.key, record.headers, record.value)


def test_the_documents_alone_read_every_event_type_the_services_publish(read_back):
    read = {case: _check(record) for case, record in read_back.items() if case in event_types()}
    assert set(read) == set(event_types()) and len(read) == len(ALL)
    assert {type_: name for type_, name in read.items()} == {t: ".".join(t.split(".")[-2:]) for t in read}


@pytest.mark.parametrize("case", REFUSED)
def test_a_record_that_is_not_what_the_documents_say_is_refused(read_back, case):
    with pytest.raises(Refused) as refused:
        _check(read_back[case])
    assert str(refused.value).startswith(REFUSED[case])


def test_a_field_added_by_a_newer_producer_is_read(read_back):
    assert _check(read_back["a field added by a newer producer"]) == "KeyValidated.v1"


def test_the_docs_consumer_knows_nothing_of_the_contracts_code():
    tree = ast.parse(open(docs_consumer.__file__).read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"json", "collections.abc", "dataclasses", "datetime", "pathlib", "typing", "jsonschema",
                        "referencing", "referencing.jsonschema"}
