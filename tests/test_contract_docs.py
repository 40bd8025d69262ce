"""The committed JSON Schemas and AsyncAPI documents are exactly what the code generates (`make docs`), and the
AsyncAPI documents describe the wire that `to_kafka` writes (tests/test_asyncapi.py runs the official parser)."""

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from shared.contracts import CloudEvent, StoreDisconnected, event_types, to_kafka
from shared.contracts.examples import ALL
from tools.contract_docs import ROOT, deployed_topics, expected_files

from .support.docs_consumer import Contract

ASYNCAPI = sorted((ROOT / "docs" / "asyncapi").glob("*.json"))


def test_committed_contract_documents_match_the_code():
    expected = expected_files()
    stale = [str(p.relative_to(ROOT)) for p, text in expected.items() if not p.exists() or p.read_text() != text]
    assert not stale, f"regenerate with `make docs`: {stale}"


def test_no_orphan_documents_remain():
    expected = set(expected_files())
    committed = {*ROOT.glob("docs/contracts/*.json"), *ROOT.glob("docs/asyncapi/*.json"),
                 *ROOT.glob("docs/openapi/*.json")}
    assert committed <= expected, f"documents for events or services that no longer exist: {committed - expected}"


def test_asyncapi_documents_are_version_3_and_name_their_topics():
    doc = json.loads((ROOT / "docs" / "asyncapi" / "connection_registry.json").read_text())
    assert doc["asyncapi"] == "3.0.0"
    assert {c["address"] for c in doc["channels"].values()} >= {"KeyValidated"}
    operations = doc["operations"]
    assert operations["receiveKeyValidatedV1"]["action"] == "receive"
    assert operations["receiveKeyValidatedV1"]["bindings"]["kafka"]["groupId"]["const"] == "connection_registry"
    assert operations["sendStoreDisconnectedV1"]["action"] == "send"


@pytest.mark.parametrize("path", ASYNCAPI, ids=lambda p: p.stem)
def test_every_message_is_named_after_its_type_with_headers_key_and_correlation_id(path):
    doc = json.loads(path.read_text())
    for name, message in doc["components"]["messages"].items():
        type_ = message["headers"]["properties"]["ce_type"]["const"]
        assert type_ in event_types() and type_.endswith(f".{name}") and message["name"] == message["title"] == name
        assert set(message["headers"]["required"]) == {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time",
                                                       "content-type"}
        assert message["correlationId"]["location"] == "$message.header#/ce_correlationid"
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        assert message["payload"] == {"$ref": f"#/components/schemas/{name}"}
        assert [example["headers"]["ce_type"] for example in message["examples"]] == [type_]
    assert "additionalProperties" not in json.dumps(doc["components"]["schemas"]), "readers must stay tolerant"
    for channel in doc["channels"].values():
        binding = channel["bindings"]["kafka"]
        assert binding["topic"] == channel["address"]
        assert binding["partitions"] == deployed_topics()[channel["address"]].partitions


def test_the_documented_headers_are_exactly_what_to_kafka_writes():
    """Every header `to_kafka` can write is documented; those it always writes are the required ones."""
    doc = json.loads((ROOT / "docs" / "asyncapi" / "connection_registry.json").read_text())
    headers = doc["components"]["messages"]["StoreDisconnected.v1"]["headers"]
    data = next(event for event in ALL if isinstance(event, StoreDisconnected))
    bare = to_kafka(CloudEvent(data=data, source="/tests"))
    full = to_kafka(CloudEvent(data=data, source="/tests", subject="s-1", causation_id=uuid4(),
                               correlation_id=uuid4(), time=datetime.now(UTC)))
    assert {name for name, _ in bare.headers} == set(headers["required"])
    assert {name for name, _ in full.headers} == set(headers["properties"]) - {"traceparent", "tracestate"}


def test_every_example_passes_a_check_built_from_the_documents_alone():
    contract = Contract.load(ROOT / "docs" / "asyncapi")
    read = set()
    for doc in map(json.loads, map(lambda p: p.read_text(), ASYNCAPI)):
        for channel in doc["channels"].values():
            for name in channel["messages"]:
                for example in doc["components"]["messages"][name]["examples"]:
                    payload = example["payload"]
                    read.add(contract.check(channel["address"], payload["merchant_id"].encode(),
                                            [(k, v.encode()) for k, v in example["headers"].items()],
                                            json.dumps(payload).encode()))
    assert len(read) == len(event_types()) == len(ALL)


def test_the_platform_api_is_published_with_its_three_operations_and_problem_details():
    doc = json.loads((ROOT / "docs" / "openapi" / "platform-api.json").read_text())
    paths = doc["paths"]
    assert set(paths) == {"/internal/v1/stores/{store_id}/xero", "/internal/v1/stores/{store_id}/xero/access-token",
                          "/internal/v1/stores/{store_id}/xero/proxy/{path}"}
    assert set(paths["/internal/v1/stores/{store_id}/xero/proxy/{path}"]) == {"get", "post", "put", "delete", "patch"}
    refused = paths["/internal/v1/stores/{store_id}/xero"]["get"]["responses"]["404"]["content"]
    assert "application/problem+json" in refused
