"""Pick the Kafka broker / PostgreSQL server for a run: env var, else testcontainers, else local processes.

The Docker check pings the daemon: the `docker` CLI exists on machines with no daemon behind it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from local_infra.kafka import KafkaBroker
from local_infra.postgres import PostgresServer

log = logging.getLogger(__name__)

KAFKA_IMAGE = os.environ.get("LOCAL_INFRA_KAFKA_IMAGE", "confluentinc/cp-kafka:8.0.0")  # Kafka 4.0
POSTGRES_IMAGE = os.environ.get("LOCAL_INFRA_POSTGRES_IMAGE", "postgres:15")


def docker_daemon_answers() -> bool:
    """True only if a Docker daemon answers a ping within 2 s."""
    try:
        import docker

        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means "no usable daemon"
        return False


def _use_containers() -> bool:
    """LOCAL_INFRA_USE_DOCKER=0 forces the local processes even where Docker works."""
    if os.environ.get("LOCAL_INFRA_USE_DOCKER", "").lower() in {"0", "false", "no"}:
        return False
    return docker_daemon_answers()


@contextmanager
def kafka_bootstrap_servers() -> Iterator[str]:
    """Yield a bootstrap string: $KAFKA_BOOTSTRAP_SERVERS, a container, or a local KafkaBroker."""
    if configured := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        log.info("Kafka from KAFKA_BOOTSTRAP_SERVERS=%s", configured)
        yield configured
    elif _use_containers():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            log.info("Kafka from testcontainers image %s", KAFKA_IMAGE)
            yield container.get_bootstrap_server()
    else:
        with KafkaBroker() as broker:
            log.info("Kafka as a local process on %s", broker.bootstrap_servers)
            yield broker.bootstrap_servers


@contextmanager
def postgres_dsn() -> Iterator[str]:
    """Yield an admin DSN: $DATABASE_URL, a container, or a local PostgresServer."""
    if configured := os.environ.get("DATABASE_URL"):
        log.info("PostgreSQL from DATABASE_URL")
        yield configured
    elif _use_containers():
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, driver=None) as container:
            log.info("PostgreSQL from testcontainers image %s", POSTGRES_IMAGE)
            yield container.get_connection_url()
    else:
        with PostgresServer() as server:
            log.info("PostgreSQL as a local process on %s", server.dsn)
            yield server.dsn
