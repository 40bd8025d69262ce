"""Start a service's runtime (pool, migrations, relay, consumers) against the session's real servers."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from local_infra.postgres import temporary_database
from shared.runtime import ServiceRuntime


@asynccontextmanager
async def running(build_app: Callable[[Any], FastAPI], settings_class: type, *, pg_dsn: str,
                  kafka_bootstrap: str, group: str, **settings: Any) -> AsyncIterator[ServiceRuntime]:
    """A service on a fresh database and its own consumer group, stopped (and the database dropped) after."""
    async with temporary_database(pg_dsn, prefix=group.replace("-", "_")[:40]) as dsn:
        app = build_app(settings_class(database={"url": dsn},
                                       kafka={"bootstrap_servers": kafka_bootstrap, "consumer_group": group},
                                       **settings))
        async with app.router.lifespan_context(app):
            yield app.state.runtime
