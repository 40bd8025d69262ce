"""JSON Schema of every event's data, keyed by CloudEvents type, for consumers outside this repo."""

from typing import Any

from .base import event_types


def json_schemas() -> dict[str, dict[str, Any]]:
    """One JSON Schema (draft 2020-12, as pydantic emits) per versioned event type."""
    return {
        type_: {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"urn:cloudevents:{type_}",
                "x-kafka-topic": model.topic, **model.model_json_schema()}
        for type_, model in sorted(event_types().items())
    }
