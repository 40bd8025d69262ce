"""A consumer's view of the topics built from docs/asyncapi/*.json alone, as a platform team without this
repository's code would build one: it imports nothing of `shared` (tests/test_consumer_from_docs.py checks).

`Contract.check` finds a record's message by its topic (a channel's `address`) and its `ce_type` header (the
message's `headers` schema fixes it), then validates the headers, the key (the message's Kafka binding) and
the JSON value (the payload schema) with jsonschema, `$ref`s resolved inside the document.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _rfc3339(value: object) -> bool:
    """jsonschema checks `date-time` only with an optional package: RFC 3339 needs a date, a time and a zone."""
    return not isinstance(value, str) or ("T" in value and datetime.fromisoformat(value).tzinfo is not None)


class Refused(ValueError):
    """The record is not what the documents describe."""


@dataclass(frozen=True, slots=True)
class Message:
    name: str
    definition: str          # canonical JSON of the message object, to compare the documents that repeat it
    headers: Draft7Validator
    key: Draft7Validator
    payload: Draft7Validator


class Contract:
    """Every message of the given AsyncAPI 3 documents, by (topic, CloudEvents type)."""

    def __init__(self, documents: Iterable[dict[str, Any]]) -> None:
        self.messages: dict[tuple[str, str], Message] = {}
        for number, doc in enumerate(documents):
            uri = f"urn:asyncapi:document:{number}"
            registry = Registry().with_resource(uri, Resource(contents=doc, specification=DRAFT7))
            for channel in doc["channels"].values():
                for reference in channel["messages"].values():
                    self._add(channel["address"], _message(doc, uri, registry, reference["$ref"]))

    @classmethod
    def load(cls, folder: Path) -> "Contract":
        return cls(json.loads(path.read_text()) for path in sorted(folder.glob("*.json")))

    @property
    def topics(self) -> set[str]:
        return {topic for topic, _ in self.messages}

    def _add(self, topic: str, found: tuple[str, Message]) -> None:
        type_, message = found
        known = self.messages.setdefault((topic, type_), message)
        if known.definition != message.definition:
            raise ValueError(f"{message.name} on {topic} differs between documents")

    def check(self, topic: str, key: bytes | None, headers: Iterable[tuple[str, bytes]], value: bytes) -> str:
        """The name of the record's message; raises `Refused` with the first reason it is not one."""
        try:
            attributes = {name: raw.decode() for name, raw in headers}
        except UnicodeDecodeError as error:
            raise Refused(f"a header is not UTF-8: {error}") from None
        message = self.messages.get((topic, attributes.get("ce_type", "")))
        if message is None:
            raise Refused(f"no message {attributes.get('ce_type')!r} on topic {topic!r}")
        _valid(message.headers, attributes, "headers")
        _valid(message.key, key.decode() if key is not None else None, "key")
        try:
            payload = json.loads(value)
        except ValueError as error:
            raise Refused(f"the value is not JSON: {error}") from None
        _valid(message.payload, payload, "payload")
        return message.name


def _message(doc: dict[str, Any], uri: str, registry: Registry, ref: str) -> tuple[str, Message]:
    definition = _pointer(doc, ref)

    def validator(path: str) -> Draft7Validator:
        return Draft7Validator({"$ref": f"{uri}{ref}/{path}"}, registry=registry, format_checker=FORMATS)

    type_ = definition["headers"]["properties"]["ce_type"]["const"]
    return type_, Message(name=definition["name"], definition=json.dumps(definition, sort_keys=True),
                          headers=validator("headers"), key=validator("bindings/kafka/key"),
                          payload=validator("payload"))


def _pointer(doc: dict[str, Any], ref: str) -> Any:
    """A local JSON pointer (`#/components/messages/X`); AsyncAPI keys need no escaping here."""
    found: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        found = found[part.replace("~1", "/").replace("~0", "~")]
    return found


def _valid(validator: Draft7Validator, instance: object, what: str) -> None:
    error = next(iter(sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        raise Refused(f"{what}{' at ' + where if where else ''}: {error.message}")
