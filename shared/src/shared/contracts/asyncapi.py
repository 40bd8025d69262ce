"""A service's AsyncAPI 3.0 document, built from what it declares it publishes and consumes, describing the
wire exactly as `cloudevents.to_kafka` writes it, so a consumer can be built from the document alone.

Per message (named after its versioned type, e.g. `KeyValidated.v1`): the CloudEvents binary-mode headers
(`ce_type` fixed to the message's type), the Kafka key (the merchant id), the correlation id's header, the
payload (the event's JSON Schema, `schemas.json_schemas`) and an example from `examples.ALL`. Per topic: a
channel with the Kafka binding (partitions, replicas, retention, from the deployed topic definitions).

Payload schemas leave out the models' `additionalProperties: false`: producers send exactly the listed
fields, but a reader must ignore fields it does not know (a new optional field is a compatible change, see
`base.py`), so a consumer generated from the document must not refuse them either.
"""

from collections.abc import Mapping
from inspect import cleandoc
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from .base import Event, event_types
from .cloudevents import CONTENT_TYPE, SPEC_VERSION, CloudEvent, to_kafka
from .examples import ALL
from .schemas import json_schemas

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING = "0.5.0"
UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"
TRACEPARENT_PATTERN = "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
ABOUT = """Events of the Cloud POS ↔ Xero integration on Kafka, as CloudEvents 1.0 in binary content mode \
(https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/kafka-protocol-binding.md): the context \
attributes travel in `ce_*` headers, the record value is the event's data as UTF-8 JSON, and the record key is \
the merchant id, so one merchant's events stay in order on one partition.

Each topic carries one versioned CloudEvents type (`ce_type`); a change that is not backward compatible is a \
new type (`.v2`) on a topic of its own. Delivery is at least once: deduplicate on `ce_id`. Readers must ignore payload \
fields and headers they do not know: producers may add optional ones without a new version."""


@dataclass(frozen=True, slots=True)
class KafkaTopic:
    """A topic as deployed (deploy/k8s/base/topics): what a consumer needs to know about it."""

    partitions: int
    replicas: int
    retention_ms: int
    cleanup_policy: tuple[str, ...] = ("delete",)


@dataclass(frozen=True, slots=True)
class Platform:
    """What every service's document shares: the platform's Kafka, its topics, and who publishes each type."""

    bootstrap_servers: str
    topics: Mapping[str, KafkaTopic]
    publishers: Mapping[str, str]          # CloudEvents type -> the service that publishes it


@dataclass(frozen=True, slots=True)
class Service:
    """One service's side of the wire, as its `ServiceRuntime` declares it."""

    name: str
    version: str
    consumer_group: str
    sends: tuple[type[Event], ...]
    receives: tuple[tuple[type[Event], str], ...]   # (event, what the service does with it)


def document(service: Service, platform: Platform) -> dict[str, Any]:
    """The service's AsyncAPI 3.0 document (plain JSON data)."""
    used = sorted({e.type: e for e in (*service.sends, *(e for e, _ in service.receives))}.values(),
                  key=lambda e: e.type)
    topics = sorted({e.topic for e in used})
    on_topic = {t: [e for e in sorted(event_types().values(), key=lambda e: e.type) if e.topic == t] for t in topics}
    messages = {e for events in on_topic.values() for e in events}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": service.name, "version": service.version, "description": ABOUT},
        "defaultContentType": CONTENT_TYPE,
        "servers": {"platform": {"host": platform.bootstrap_servers, "protocol": "kafka",
                                 "description": "The platform's Kafka cluster (deploy/k8s)."}},
        "channels": {t: _channel(t, on_topic[t], platform.topics[t]) for t in topics},
        "operations": _operations(service),
        "components": {"messages": {_name(e): _message(e, platform) for e in messages},
                       "schemas": _schemas(messages)},
    }


def _name(event: type[Event]) -> str:
    """`com.citruslime.cloudpos.xero.KeyValidated.v1` -> `KeyValidated.v1`."""
    return ".".join(event.type.split(".")[-2:])


def _operation_id(event: type[Event]) -> str:
    """`KeyValidated.v1` -> `KeyValidatedV1`: a name code generators can use as a function's."""
    return _name(event).replace(".v", "V")


def _channel(topic: str, events: list[type[Event]], deployed: KafkaTopic) -> dict[str, Any]:
    return {
        "address": topic,
        "title": topic,
        "description": cleandoc(events[0].__doc__ or ""),
        "messages": {_name(e): {"$ref": f"#/components/messages/{_name(e)}"} for e in events},
        "bindings": {"kafka": {
            "topic": topic, "partitions": deployed.partitions, "replicas": deployed.replicas,
            "topicConfiguration": {"cleanup.policy": list(deployed.cleanup_policy),
                                   "retention.ms": deployed.retention_ms},
            "bindingVersion": KAFKA_BINDING}},
    }


def _operations(service: Service) -> dict[str, Any]:
    def operation(action: str, event: type[Event], description: str) -> dict[str, Any]:
        found = {"action": action, "channel": {"$ref": f"#/channels/{event.topic}"},
                 "title": f"{action} {_name(event)}", "description": description,
                 "messages": [{"$ref": f"#/channels/{event.topic}/messages/{_name(event)}"}]}
        if action == "receive":
            found["bindings"] = {"kafka": {"groupId": {"type": "string", "const": service.consumer_group},
                                           "bindingVersion": KAFKA_BINDING}}
        return found

    sent = {f"send{_operation_id(e)}": operation(
        "send", e, f"Published through the {service.name} outbox (at least once, in commit order per merchant).")
        for e in service.sends}
    received = {f"receive{_operation_id(e)}": operation("receive", e, description)
                for e, description in service.receives}
    return sent | received


def _message(event: type[Event], platform: Platform) -> dict[str, Any]:
    doc = cleandoc(event.__doc__ or "")
    return {
        "name": _name(event),
        "title": _name(event),
        "summary": doc.split("\n")[0],
        "description": f"{doc}\n\nCloudEvents type `{event.type}` on topic `{event.topic}`.",
        "contentType": CONTENT_TYPE,
        "headers": headers_schema(event.type),
        "payload": {"$ref": f"#/components/schemas/{_name(event)}"},
        "correlationId": {"description": "One merchant journey (a consent, a key validation, an incident) "
                                         "shares one correlation id.",
                          "location": "$message.header#/ce_correlationid"},
        "bindings": {"kafka": {"key": {"type": "string", "description": "The merchant id (UTF-8), equal to the "
                                       "payload's `merchant_id`: one merchant's events share a partition."},
                               "bindingVersion": KAFKA_BINDING}},
        "examples": [_example(event, platform)],
    }


def headers_schema(type_: str) -> dict[str, Any]:
    """The Kafka headers of one CloudEvents type in binary mode, as `to_kafka` (and the outbox) write them."""
    uuid = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}
    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
        "properties": {
            "ce_specversion": {"type": "string", "const": SPEC_VERSION, "description": "CloudEvents version."},
            "ce_id": {**uuid, "description": "The event's id: a redelivered or republished record keeps it."},
            "ce_source": {"type": "string", "format": "uri-reference", "minLength": 1,
                          "description": "The publishing service, e.g. `/cloudpos-xero/oauth_gateway`."},
            "ce_type": {"type": "string", "const": type_, "description": "The versioned event type."},
            "ce_time": {"type": "string", "format": "date-time", "pattern": TIME_PATTERN,
                        "description": "When it happened (RFC 3339)."},
            "content-type": {"type": "string", "const": CONTENT_TYPE, "description": "The value's media type."},
            "ce_subject": {"type": "string", "minLength": 1,
                           "description": "What it is about within the merchant (a store, key or organisation)."},
            "ce_causationid": {**uuid, "description": "The `ce_id` of the event that caused this one."},
            "ce_correlationid": {**uuid, "description": "Shared by the events of one merchant journey."},
            "traceparent": {"type": "string", "pattern": TRACEPARENT_PATTERN,
                            "description": "W3C trace context of the change that published it, when traced."},
            "tracestate": {"type": "string", "description": "W3C trace state, with `traceparent`."},
        },
    }


def _example(event: type[Event], platform: Platform) -> dict[str, Any]:
    data = next(e for e in ALL if type(e) is event)
    cloud_event = CloudEvent(data=data, source=f"/cloudpos-xero/{platform.publishers.get(event.type, 'unknown')}",
                             id=uuid5(NAMESPACE_URL, f"urn:example:{event.type}"),
                             time=datetime(2026, 3, 2, 9, 30, tzinfo=UTC), subject=_subject(data),
                             correlation_id=uuid5(NAMESPACE_URL, f"urn:example:journey:{data.merchant_id}"))
    record = to_kafka(cloud_event)
    return {"name": _name(event), "summary": f"One {_name(event)} record (key `{record.key.decode()}`).",
            "headers": {k: v.decode() for k, v in record.headers},
            "payload": cloud_event.data.model_dump(mode="json")}


def _subject(data: Event) -> str | None:
    """As the services set it: the store, else the key, else the organisation the event is about."""
    return next((str(getattr(data, name)) for name in ("store_id", "key_id", "tenant_id") if hasattr(data, name)),
                None)


def _schemas(events: set[type[Event]]) -> dict[str, Any]:
    """The events' JSON Schemas as components: each event's under its message name, the parts they share
    (`$defs`) under their own, references rewritten to point into the document."""
    schemas: dict[str, Any] = {}
    every = json_schemas()
    for event in events:
        schema = {k: v for k, v in every[event.type].items() if k not in ("$schema", "$id", "x-kafka-topic")}
        for name, part in {**schema.pop("$defs", {}), _name(event): schema}.items():
            part = _into_document(part)
            if schemas.setdefault(name, part) != part:
                raise ValueError(f"two different schemas are both called {name!r}")
    return dict(sorted(schemas.items()))


def _into_document(schema: Any) -> Any:
    """`#/$defs/X` -> `#/components/schemas/X`, and no `additionalProperties: false` (tolerant readers)."""
    if isinstance(schema, list):
        return [_into_document(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {key: (value.replace("#/$defs/", "#/components/schemas/") if key == "$ref" else _into_document(value))
            for key, value in schema.items() if not (key == "additionalProperties" and value is False)}
