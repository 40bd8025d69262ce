"""The base of every event's data, and the registry that maps a CloudEvents `type` to its model.

An event's CloudEvents attributes (id, time, source, causation) travel in Kafka headers; the model
is only the JSON `data`. The `type` is versioned (`...v1`): a breaking change is a new type, and the
decoder upcasts or refuses old ones.

Strict writers, tolerant readers: building an event (what a producer publishes) refuses unknown fields,
but decoding a record (`from_kafka` validates with the `TOLERANT` context) drops the fields this code does
not know, at any depth, so a producer that adds an optional field does not dead-letter its events in every
consumer not yet upgraded. Only unknown keys are dropped: required fields and types are still checked.
"""

from functools import cache
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

TYPE_PREFIX = "com.citruslime.cloudpos.xero"
TOLERANT = MappingProxyType({"tolerant": True})   # a reader's validation context (pydantic hands it to nested parts)


class Contract(BaseModel):
    """Immutable contract data (an event or a part of one): strict unless validated with `TOLERANT`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_unknown_when_tolerant(cls, data: Any, info: ValidationInfo) -> Any:
        if not (isinstance(data, dict) and info.context and info.context.get("tolerant")):
            return data
        known = _known_keys(cls)
        return data if known.issuperset(data) else {key: value for key, value in data.items() if key in known}


@cache
def _known_keys(model: type[Contract]) -> frozenset[str]:
    names = {name for name in model.model_fields}
    aliases = {alias for field in model.model_fields.values()
               for alias in (field.alias, field.validation_alias) if isinstance(alias, str)}
    return frozenset(names | aliases)


class Event(Contract):
    """Immutable event data; `merchant_id` is the Kafka record key, so one merchant stays ordered."""

    topic: ClassVar[str]
    type: ClassVar[str]
    merchant_id: str


_REGISTRY: dict[str, type[Event]] = {}


def event(topic: str, name: str, version: int = 1):
    """Class decorator: give an event its topic and versioned CloudEvents type, and register it."""

    def register(cls: type[Event]) -> type[Event]:
        cls.topic = topic
        cls.type = f"{TYPE_PREFIX}.{name}.v{version}"
        if cls.type in _REGISTRY:
            raise ValueError(f"duplicate event type {cls.type}")
        _REGISTRY[cls.type] = cls
        return cls

    return register


def event_types() -> dict[str, type[Event]]:
    """Every registered event model by its CloudEvents type."""
    return dict(_REGISTRY)
