"""The delivery kit: CloudEvents codec, transactional outbox + relay, idempotent consumers, dead letters,
migrations. Every service uses it; none re-implements it."""

from .cloudevents import CloudEvent, KafkaRecord, PoisonMessage, from_kafka, to_kafka
from .consumer import INFRASTRUCTURE_ERRORS, BatchOptions, DeadLetters, EventConsumer
from .migrations import DELIVERY_MIGRATIONS, Migrations, apply_migrations, pending_migrations
from .outbox import OutboxRelay, add_to_outbox, idempotent_producer, outbox_backlog
from .transaction import Transaction, transaction, unit_of_work

__all__ = [
    "DELIVERY_MIGRATIONS",
    "INFRASTRUCTURE_ERRORS",
    "BatchOptions",
    "CloudEvent",
    "DeadLetters",
    "EventConsumer",
    "KafkaRecord",
    "Migrations",
    "OutboxRelay",
    "PoisonMessage",
    "Transaction",
    "add_to_outbox",
    "apply_migrations",
    "from_kafka",
    "idempotent_producer",
    "outbox_backlog",
    "pending_migrations",
    "to_kafka",
    "transaction",
    "unit_of_work",
]
