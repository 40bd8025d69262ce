"""Local Kafka and PostgreSQL servers for tests and local runs, without Docker."""

from local_infra.kafka import KafkaBroker, ensure_kafka_libs
from local_infra.postgres import PostgresServer, temporary_database
from local_infra.resolve import docker_daemon_answers, kafka_bootstrap_servers, postgres_dsn

__all__ = [
    "KafkaBroker",
    "PostgresServer",
    "docker_daemon_answers",
    "ensure_kafka_libs",
    "kafka_bootstrap_servers",
    "postgres_dsn",
    "temporary_database",
]
