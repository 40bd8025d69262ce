"""The JSON APIs (key_validator, connection_registry, notifier, the gateway's platform API) served over real uvicorn (lifespan on: pool, migrations, relay, consumers)
on the session's real PostgreSQL and Kafka, each on a fresh database, for the fuzz and injection suites."""

from __future__ import annotations

import asyncio
import base64
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from connection_registry.main import build_app as build_registry
from connection_registry.settings import RegistrySettings
from key_validator.main import build_app as build_key_validator
from key_validator.settings import KeyValidatorSettings
from local_infra.postgres import with_database
from notifier.main import build_app as build_notifier
from oauth_gateway.domain.platform import Operation, PlatformClient
from oauth_gateway.main import build_app as build_gateway
from oauth_gateway.main import platform_clients
from oauth_gateway.settings import GatewaySettings
from notifier.settings import NotifierSettings
from services.key_validator.tests.sandbox import serving as cloudpos_sandbox
from tests.support import http
from tests.support.services import REGISTRY_CONSOLE

TOKEN = "security-suite-bearer-token-0123456789"


def served(app: Any, *, startup_timeout: float = 90) -> AbstractContextManager[str]:
    """The shared helper, with a longer start deadline: lifespan here joins Kafka consumer groups."""
    return http.served(app, startup_timeout=startup_timeout)


@dataclass
class Api:
    name: str
    url: str
    dsn: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}


def _in_thread(make: Callable[[], Any]) -> Any:
    """Run a coroutine on a loop of its own thread (the test session's loop is not running here)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller
            box["error"] = error
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


@contextmanager
def _database(pg_dsn: str, prefix: str) -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(pg_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
    _in_thread(lambda: admin(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(pg_dsn, name)
    finally:
        _in_thread(lambda: admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def json_apis(pg_dsn: str, kafka_bootstrap: str) -> Iterator[dict[str, Api]]:
    """key_validator (with a real Cloud POS sandbox), connection_registry and notifier (no channels)."""
    group = f"security-{uuid.uuid4().hex[:8]}"
    common = {"api_token": TOKEN}
    with ExitStack() as stack:
        sandbox = stack.enter_context(cloudpos_sandbox())
        builds = {
            "key_validator": lambda dsn: build_key_validator(KeyValidatorSettings(
                database={"url": dsn}, kafka={"bootstrap_servers": kafka_bootstrap, "consumer_group": f"{group}-kv"},
                cloudpos={"base_url": sandbox.url, "platform_token": sandbox.platform_token, "timeout_seconds": 5},
                key_fingerprint_secret="security-suite-fingerprint-secret-0123456789abcdef", **common)),
            "connection_registry": lambda dsn: build_registry(RegistrySettings(
                database={"url": dsn}, kafka={"bootstrap_servers": kafka_bootstrap, "consumer_group": f"{group}-reg"},
                **REGISTRY_CONSOLE, **common)),
            "notifier": lambda dsn: build_notifier(NotifierSettings(
                database={"url": dsn}, kafka={"bootstrap_servers": kafka_bootstrap, "consumer_group": f"{group}-nt"},
                merchant_email={"host": "127.0.0.1", "port": 9, "from_address": "noreply@cloudpos.test",
                                "starttls": False},
                cloudpos={"base_url": sandbox.url, "platform_token": sandbox.platform_token},
                public_base_url="http://127.0.0.1:8104",
                reminder_link_secret="security-suite-reminder-link-secret-0123456789", **common)),
        }
        apis = {}
        for name, build in builds.items():
            dsn = stack.enter_context(_database(pg_dsn, f"sec_{name}"))
            apis[name] = Api(name, stack.enter_context(served(build(dsn))), dsn)
        dsn = stack.enter_context(_database(pg_dsn, "sec_platform"))
        gateway = build_gateway(gateway_settings(dsn, kafka_bootstrap, f"{group}-gw"))
        apis["platform_api"] = Api("platform_api", stack.enter_context(served(PlatformApiOf(gateway))), dsn)
        _in_thread(lambda: _platform_client(dsn))
        yield apis


class PlatformApiOf:
    """The gateway's platform API on its own listener, started by the gateway's lifespan (pool, migrations)."""

    def __init__(self, gateway: Any) -> None:
        self.gateway, self.platform = gateway, gateway.state.platform_api

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await (self.gateway if scope["type"] == "lifespan" else self.platform)(scope, receive, send)


def gateway_settings(dsn: str, kafka_bootstrap: str, group: str) -> GatewaySettings:
    """No merchant page is used: the third parties are addresses nothing listens on."""
    nowhere = "http://127.0.0.1:9"
    return GatewaySettings(
        database={"url": dsn}, kafka={"bootstrap_servers": kafka_bootstrap, "consumer_group": group},
        public_base_url="http://127.0.0.1:8100", cloudpos={"base_url": nowhere},
        key_validator={"base_url": nowhere, "api_token": TOKEN}, registry={"base_url": nowhere, "api_token": TOKEN},
        xero={"issuer": nowhere, "api_base_url": nowhere, "client_id": "SECURITYSUITE", "client_secret": TOKEN,
              "redirect_uri": "http://127.0.0.1:8100/xero/callback"},
        session_secret="security-suite-session-secret-0123456789", token_keys={"k1": base64.b64encode(bytes(32))
                                                                                .decode()},
        active_token_key_id="k1", upkeep={"enabled": False})


async def _platform_client(dsn: str) -> None:
    async with platform_clients(dsn) as clients:
        await clients.register(PlatformClient("security-suite", frozenset(Operation)), TOKEN)
