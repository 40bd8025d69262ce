"""Strict writers, tolerant readers: a consumer ignores the fields a newer producer added (at any depth),
while building an event still refuses them and decoding still checks every field this code knows."""

import json
from typing import Any

import pytest
from pydantic import ValidationError

from shared.contracts import (
    CloudEvent,
    ConnectionBroken,
    KeyValidated,
    PoisonMessage,
    Store,
    XeroUser,
    from_kafka,
    to_kafka,
)
from shared.contracts.base import TOLERANT
from shared.contracts.examples import ALL, STEVE, key_validated

SOURCE = "/cloudpos-xero/test"


def _encoded(event: CloudEvent) -> tuple[dict[str, str], dict[str, Any]]:
    record = to_kafka(event)
    return {k: v.decode() for k, v in record.headers}, json.loads(record.value)


def _with_unknown_fields(data: Any) -> Any:
    """What a newer producer sends: one more field in the event's data and in every nested part."""
    if isinstance(data, dict):
        return {**{k: _with_unknown_fields(v) for k, v in data.items()}, "added_in_v1_1": {"any": ["shape", 1]}}
    if isinstance(data, list):
        return [_with_unknown_fields(item) for item in data]
    return data


def _count_objects(data: Any) -> int:
    if isinstance(data, dict):
        return 1 + sum(_count_objects(v) for v in data.values())
    return sum(_count_objects(v) for v in data) if isinstance(data, list) else 0


@pytest.mark.parametrize("data", ALL, ids=lambda e: type(e).__name__)
def test_a_reader_ignores_unknown_fields_in_the_data_and_every_nested_part(data):
    event = CloudEvent(data=data, source=SOURCE, subject="s-1")
    headers, body = _encoded(event)
    newer = _with_unknown_fields(body)

    decoded = from_kafka(headers, json.dumps(newer).encode())

    assert decoded == event
    with pytest.raises(PoisonMessage, match="extra_forbidden|Extra inputs"):
        from_kafka(headers, json.dumps(newer).encode(), tolerant=False)


def test_the_examples_exercise_nested_parts_of_every_kind():
    """The parametrised test above is only as deep as the examples: they hold a tuple of parts, an optional
    part and a tuple of links, so an unknown key sits at depth two in each."""
    nested = {type(e).__name__: _count_objects(json.loads(e.model_dump_json())) for e in ALL}
    assert nested["KeyValidated"] == 4 and nested["ConnectionBroken"] == 2 and nested["SetupCompleted"] == 2


def test_unknown_fields_are_dropped_not_kept():
    headers, body = _encoded(CloudEvent(data=key_validated(), source=SOURCE))
    body["stores"][0]["api_key"] = "secret"
    body["api_key"] = "secret"

    decoded = from_kafka(headers, json.dumps(body).encode()).data

    assert "api_key" not in decoded.model_dump_json()
    assert "api_key" not in decoded.stores[0].model_dump()


@pytest.mark.parametrize(("change", "reason"), [
    (lambda b: b.pop("merchant_name"), "missing"),
    (lambda b: b.update(licence="platinum"), "enum"),
    (lambda b: b.update(stores="s-1"), "tuple_type"),
    (lambda b: b["stores"][0].pop("name"), "missing"),
    (lambda b: b["stores"][0].update(store_id="has spaces"), "string_pattern_mismatch"),
    (lambda b: b.update(stores=[{"store_id": "s-1", "name": "x"}] * 501), "too_long"),
])
def test_a_tolerant_reader_still_checks_every_field_it_knows(change, reason):
    headers, body = _encoded(CloudEvent(data=key_validated(), source=SOURCE))
    body["added_in_v1_1"] = "ignored"
    change(body)

    with pytest.raises(PoisonMessage, match=reason):
        from_kafka(headers, json.dumps(body).encode())


def test_an_unknown_field_in_an_optional_part_is_ignored_and_the_part_still_checked():
    broken = next(e for e in ALL if isinstance(e, ConnectionBroken))
    headers, body = _encoded(CloudEvent(data=broken, source=SOURCE))
    body["authorised_by"]["tenant_role"] = "ADMIN"
    assert from_kafka(headers, json.dumps(body).encode()).data.authorised_by == STEVE

    body["authorised_by"]["xero_userid"] = "not-a-uuid"
    with pytest.raises(PoisonMessage, match="uuid"):
        from_kafka(headers, json.dumps(body).encode())


def test_producers_stay_strict_at_every_depth():
    fields = key_validated().model_dump()
    with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs"):
        KeyValidated(**fields, added_in_v1_1="x")
    with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs"):
        Store(store_id="s-1", name="Store", added_in_v1_1="x")
    with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs"):
        KeyValidated.model_validate({**fields, "stores": [{"store_id": "s-1", "name": "S", "extra": 1}]})


def test_tolerance_needs_the_readers_context_and_does_not_stick_to_the_model():
    user = {"xero_userid": str(STEVE.xero_userid), "name": "Steve", "tenant_role": "ADMIN"}
    assert XeroUser.model_validate(user, context=TOLERANT).name == "Steve"
    with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs"):
        XeroUser.model_validate(user)
    with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs"):
        XeroUser.model_validate(user, context={"tolerant": False})


@pytest.mark.parametrize("data", ALL, ids=lambda e: type(e).__name__)
def test_what_a_producer_publishes_passes_a_strict_reader(data):
    event = CloudEvent(data=data, source=SOURCE)
    headers, _ = _encoded(event)
    assert from_kafka(headers, to_kafka(event).value, tolerant=False) == event
