"""The delivery kit: CloudEvents codec, transactional outbox + relay, idempotent consumers, dead letters,
migrations. Every service uses it; none re-implements it."""

from .cloudevents import CloudEvent, KafkaRecord, PoisonMessage, from_kafka, to_kafka
from .consumer import (
    CloudEventAttributes,
    DeadLetters,
    Received,
    consumer_options,
    delivery_middleware,
)
from .migrations import DELIVERY_MIGRATIONS, Migrations, apply_migrations, pending_migrations
from .outbox import OutboxRelay, add_to_outbox, idempotent_producer, outbox_backlog
from .transaction import Transaction, transaction

__all__ = [
    "DELIVERY_MIGRATIONS",
    "CloudEvent",
    "CloudEventAttributes",
    "DeadLetters",
    "KafkaRecord",
    "Migrations",
    "OutboxRelay",
    "PoisonMessage",
    "Received",
    "Transaction",
    "add_to_outbox",
    "apply_migrations",
    "consumer_options",
    "delivery_middleware",
    "from_kafka",
    "idempotent_producer",
    "outbox_backlog",
    "pending_migrations",
    "to_kafka",
    "transaction",
]
