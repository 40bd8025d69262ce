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


# The registry's console settings for suites that do not sign staff in: nothing is fetched from the provider or
# the notifier until someone signs in or opens a console page.
REGISTRY_CONSOLE: dict[str, Any] = {
    "staff_identity": {"issuer": "http://127.0.0.1:9/staff-idp", "client_id": "helpdesk-console",
                       "client_secret": "console-secret-unused-here", "redirect_uri": "http://registry/helpdesk/callback",
                       "post_logout_redirect_uri": "http://registry/helpdesk/signed-out"},
    "notifier": {"base_url": "http://127.0.0.1:9", "api_token": "notifier-token-unused-here"},
    "console": {"secure_cookie": False},
}


def registry_console_env() -> dict[str, str]:
    """REGISTRY_CONSOLE as the registry process's environment variables."""
    return {f"CONNECTION_REGISTRY_{group.upper()}__{name.upper()}": str(value).lower() if isinstance(value, bool)
            else str(value) for group, values in REGISTRY_CONSOLE.items() for name, value in values.items()}
