"""The base of every event's data, and the registry that maps a CloudEvents `type` to its model.

An event's CloudEvents attributes (id, time, source, causation) travel in Kafka headers; the model
is only the JSON `data`. The `type` is versioned (`...v1`): a breaking change is a new type, and the
decoder upcasts or refuses old ones.
"""

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

TYPE_PREFIX = "com.citruslime.cloudpos.xero"


class Event(BaseModel):
    """Immutable event data; `merchant_id` is the Kafka record key, so one merchant stays ordered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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
