"""The CloudEvents binary-mode codec: every event round-trips; anything else is refused with a reason."""

from uuid import uuid4

import pytest

from shared.contracts import TYPE_PREFIX, CloudEvent, PoisonMessage, event_types, from_kafka, to_kafka
from shared.contracts.examples import ALL, key_validated

SOURCE = "/cloudpos-xero/test"


def _headers(event: CloudEvent) -> dict[str, str]:
    return {k: v.decode() for k, v in to_kafka(event).headers}


@pytest.mark.parametrize("data", ALL, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_through_kafka_binary_mode(data):
    cause, correlation = uuid4(), uuid4()
    event = CloudEvent(data=data, source=SOURCE, subject="s-1", causation_id=cause, correlation_id=correlation)
    record = to_kafka(event)

    decoded = from_kafka(_headers(event), record.value)

    assert decoded == event
    assert record.topic == data.topic
    assert record.key == data.merchant_id.encode()


def test_headers_are_the_cloudevents_kafka_binding():
    event = CloudEvent(data=key_validated(), source=SOURCE)
    headers = _headers(event)

    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_id"] == str(event.id)
    assert headers["ce_source"] == SOURCE
    assert headers["ce_type"] == f"{TYPE_PREFIX}.KeyValidated.v1"
    assert headers["ce_time"].endswith("Z")
    assert headers["content-type"] == "application/json"


def test_types_are_versioned_and_unique_per_topic():
    types = event_types()
    assert all(t.endswith(".v1") for t in types)
    assert len({model.topic for model in types.values()}) == len(types)


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda h: h.pop("ce_id"), r"missing header\(s\) ce_id"),
    (lambda h: h.update(ce_specversion="0.3"), "unsupported CloudEvents specversion"),
    (lambda h: h.update(ce_type="com.example.Unknown.v1"), "unknown event type"),
    (lambda h: h.update(ce_id="not-a-uuid"), "malformed CloudEvents attribute"),
    (lambda h: h.update(ce_time="2026-11-24T10:00:00"), "malformed CloudEvents attribute"),
    (lambda h: h.update({"content-type": "application/xml"}), "unsupported content-type"),
])
def test_bad_attributes_are_poison_with_a_reason(mutate, reason):
    event = CloudEvent(data=key_validated(), source=SOURCE)
    headers = _headers(event)
    mutate(headers)

    with pytest.raises(PoisonMessage, match=reason):
        from_kafka(headers, to_kafka(event).value)


@pytest.mark.parametrize(("value", "reason"), [(b"{not json", "undecodable JSON"),
                                               (b'{"merchant_id": "m-1"}', "KeyValidated.v1 data invalid"),
                                               (b'"text"', "KeyValidated.v1 data invalid")])
def test_invalid_data_is_poison(value, reason):
    headers = _headers(CloudEvent(data=key_validated(), source=SOURCE))
    with pytest.raises(PoisonMessage, match=reason):
        from_kafka(headers, value)


def test_unexpected_fields_are_ignored_by_readers_and_refused_by_a_strict_decode():
    """Tolerant reading (shared/tests/test_tolerant_reading.py has the nested cases)."""
    event = CloudEvent(data=key_validated(), source=SOURCE)
    value = to_kafka(event).value.replace(b'{"merchant_id"', b'{"api_key":"secret","merchant_id"')
    assert from_kafka(_headers(event), value) == event
    with pytest.raises(PoisonMessage, match="extra"):
        from_kafka(_headers(event), value, tolerant=False)
