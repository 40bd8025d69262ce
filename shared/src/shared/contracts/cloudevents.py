"""CloudEvents 1.0 in Kafka binary mode: attributes in `ce_*` headers, the event data as JSON value.

Spec: https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/kafka-protocol-binding.md
The record key is the merchant id, so all of one merchant's events land on one partition, in order.
`causationid` and `correlationid` are extension attributes: a cascade's events share the causation id
of the event that caused them, and one merchant journey shares one correlation id.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

from pydantic import ValidationError

from .base import TOLERANT, Event, event_types

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
_REQUIRED = ("ce_id", "ce_source", "ce_type", "ce_specversion")


class PoisonMessage(ValueError):
    """A record that can never be processed (undecodable, unknown type, schema-invalid): dead-letter it."""


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """An event's data plus its CloudEvents context attributes."""

    data: Event
    source: str
    id: UUID = field(default_factory=uuid4)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    causation_id: UUID | None = None
    correlation_id: UUID | None = None

    @property
    def type(self) -> str:
        return self.data.type

    @property
    def topic(self) -> str:
        return self.data.topic

    @property
    def key(self) -> bytes:
        return self.data.merchant_id.encode()


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def to_kafka(event: CloudEvent) -> KafkaRecord:
    """Encode in binary content mode."""
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": str(event.id),
        "ce_source": event.source,
        "ce_type": event.type,
        "ce_time": event.time.isoformat().replace("+00:00", "Z"),
        "content-type": CONTENT_TYPE,
    }
    if event.subject:
        headers["ce_subject"] = event.subject
    if event.causation_id:
        headers["ce_causationid"] = str(event.causation_id)
    if event.correlation_id:
        headers["ce_correlationid"] = str(event.correlation_id)
    return KafkaRecord(
        topic=event.topic,
        key=event.key,
        value=event.data.model_dump_json().encode(),
        headers=[(k, v.encode()) for k, v in headers.items()],
    )


def attributes_from_headers(headers: dict[str, str]) -> dict[str, object]:
    """Validate and convert the `ce_*` headers; raises PoisonMessage with a reason a human can act on."""
    missing = [name for name in _REQUIRED if not headers.get(name)]
    if missing:
        raise PoisonMessage(f"not a CloudEvent: missing header(s) {', '.join(missing)}")
    if headers["ce_specversion"] != SPEC_VERSION:
        raise PoisonMessage(f"unsupported CloudEvents specversion {headers['ce_specversion']!r}")
    content_type = headers.get("content-type", CONTENT_TYPE)
    if not content_type.startswith(CONTENT_TYPE):
        raise PoisonMessage(f"unsupported content-type {content_type!r}")
    try:
        return {
            "id": UUID(headers["ce_id"]),
            "source": headers["ce_source"],
            "time": _parse_time(headers.get("ce_time")),
            "subject": headers.get("ce_subject"),
            "causation_id": _optional_uuid(headers.get("ce_causationid")),
            "correlation_id": _optional_uuid(headers.get("ce_correlationid")),
        }
    except ValueError as error:
        raise PoisonMessage(f"malformed CloudEvents attribute: {error}") from None


def from_kafka(headers: dict[str, str], value: bytes, *, tolerant: bool = True) -> CloudEvent:
    """Decode a record of any registered type; raises PoisonMessage when it cannot be processed. A reader
    ignores the data's unknown fields (a newer producer's optional additions); `tolerant=False` refuses them."""
    attributes = attributes_from_headers(headers)
    model = event_types().get(headers["ce_type"])
    if model is None:
        raise PoisonMessage(f"unknown event type {headers['ce_type']!r}")
    try:
        data = model.model_validate_json(value, context=TOLERANT if tolerant else None)
    except ValidationError as error:
        if error.errors()[0]["type"] == "json_invalid":
            raise PoisonMessage(f"undecodable JSON: {error.errors()[0]['msg']}") from None
        raise PoisonMessage(f"{headers['ce_type']} data invalid: {error.error_count()} error(s): "
                            f"{error.errors(include_input=False, include_url=False)}") from None
    return CloudEvent(data=data, **attributes)  # type: ignore[arg-type]


def _parse_time(raw: str | None) -> datetime:
    if not raw:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("ce_time has no time zone")
    return parsed


def _optional_uuid(raw: str | None) -> UUID | None:
    return UUID(raw) if raw else None
