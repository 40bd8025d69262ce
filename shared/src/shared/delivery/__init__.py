"""The delivery kit: CloudEvents codec, transactional outbox + relay, idempotent consumers, dead letters,
migrations. Every service uses it; none re-implements it.

The codec is a contract (`shared.contracts.cloudevents`), re-exported here. The rest needs the Kafka and
PostgreSQL drivers, so each of its modules is imported when one of its names is first used (PEP 562):
importing `CloudEvent` from here loads no driver.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from shared.contracts.cloudevents import CloudEvent, KafkaRecord, PoisonMessage, from_kafka, to_kafka

if TYPE_CHECKING:
    from .consumer import BatchOptions, DeadLetters, EventConsumer, Route
    from .errors import INFRASTRUCTURE_ERRORS, POSTGRES_TRY_AGAIN, is_infrastructure
    from .migrations import DELIVERY_MIGRATIONS, Migrations, apply_migrations, pending_migrations
    from .outbox import OutboxRelay, add_to_outbox, idempotent_producer, outbox_backlog
    from .transaction import Transaction, transaction, unit_of_work

_LAZY_MODULES = {
    "consumer": ("BatchOptions", "DeadLetters", "EventConsumer", "Route"),
    "errors": ("INFRASTRUCTURE_ERRORS", "POSTGRES_TRY_AGAIN", "is_infrastructure"),
    "migrations": ("DELIVERY_MIGRATIONS", "Migrations", "apply_migrations", "pending_migrations"),
    "outbox": ("OutboxRelay", "add_to_outbox", "idempotent_producer", "outbox_backlog"),
    "transaction": ("Transaction", "transaction", "unit_of_work"),
}
_MODULE_OF = {name: module for module, names in _LAZY_MODULES.items() for name in names}


def __getattr__(name: str) -> object:
    """Import the module that defines `name` and bind all its names here. Binding them all matters: importing
    `.transaction` sets this package's `transaction` attribute to the module, and the function must win."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = import_module(f".{_MODULE_OF[name]}", __name__)
    globals().update({exported: getattr(module, exported) for exported in _LAZY_MODULES[_MODULE_OF[name]]})
    return globals()[name]


__all__ = sorted(["CloudEvent", "KafkaRecord", "PoisonMessage", "from_kafka", "to_kafka", *_MODULE_OF])
