"""pytest fixtures for a real Kafka broker and PostgreSQL server (see local_infra.resolve for the order).

Load with `pytest_plugins = ["local_infra.pytest_plugin"]`. Servers start lazily, once per session,
only when a test asks for them; tests isolate themselves by unique topic/group/database names.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import pytest_asyncio

from local_infra.postgres import temporary_database
from local_infra.resolve import kafka_bootstrap_servers, postgres_dsn


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers ("host:port") of the session's Kafka broker."""
    with kafka_bootstrap_servers() as servers:
        yield servers


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """Admin DSN to the `postgres` database of the session's PostgreSQL server."""
    with postgres_dsn() as dsn:
        yield dsn


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_database(pg_dsn: str) -> AsyncIterator[str]:
    """DSN of a new, empty database of its own for this test; dropped (WITH FORCE) afterwards."""
    async with temporary_database(pg_dsn) as dsn:
        yield dsn


@pytest.fixture
def unique_name() -> Callable[..., str]:
    """Factory of collision-free topic/group names: unique_name("orders") -> "orders-1a2b3c4d5e"."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make
