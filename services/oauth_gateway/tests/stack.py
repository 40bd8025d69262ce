"""The gateway over real HTTP, with the Xero and Cloud POS sandboxes, real PostgreSQL and Kafka.

No tests here; the gateway tests (this folder's and the cross-service ones in tests/) use `gateway_stack` and
the `stack` fixture. Every server runs under uvicorn on a loopback port in the test's event loop.
key_validator and connection_registry do not serve their HTTP APIs yet, so faithful fakes of
docs/internal-apis.md stand in (fakes_http.py): the key validator introspects the key at the Cloud POS
sandbox; the registry builds its summary from the real Kafka topics the gateway publishes.
"""

import base64
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI

from local_infra.browser import Browser
from local_infra.merchant import CLOUDPOS_TOKENS, Merchant, seed_merchant
from local_infra.postgres import temporary_database
from oauth_gateway.domain.platform import Operation, PlatformClient
from oauth_gateway.main import build_app, platform_clients
from oauth_gateway.settings import GatewaySettings
from sandboxes.cloudpos import CloudPosSandboxSettings
from sandboxes.cloudpos import build_app as build_cloudpos
from sandboxes.xero import Clock, XeroSandboxSettings
from sandboxes.xero import build_app as build_xero

from tests.support.http import bound_socket, serving

from .fakes_http import FakeRegistry, build_key_validator, publish_key_validated

CLIENT_ID = "0A1B2C3D4E5F60718293A4B5C6D7E8F9"
CLIENT_SECRET = "sandbox-client-secret-for-tests-0001"
CONTROL = "xero-control-token"
SERVICE_TOKEN = "internal-service-token-1"
PLATFORM_TOKEN = "platform-client-token-for-tests-0123456789"
KEY_1, KEY_2 = base64.b64encode(os.urandom(32)).decode(), base64.b64encode(os.urandom(32)).decode()


@dataclass
class Stack:
    gateway_url: str
    xero_url: str
    cloudpos_url: str
    dsn: str
    clock: Clock
    app: object
    xero_app: object
    registry: FakeRegistry
    merchant: Merchant
    urls: dict[str, str]
    browsers: list[Browser] = field(default_factory=list)

    @property
    def xero_client(self):  # noqa: ANN201 - oauth_gateway.xero_client.XeroClient
        """The gateway's Xero client part: tokens, owed Xero jobs, upkeep."""
        return self.app.state.xero

    @property
    def pool(self):  # noqa: ANN201 - asyncpg.Pool
        return self.app.state.runtime.pool

    def browser(self) -> Browser:
        self.browsers.append(Browser())
        return self.browsers[-1]

    async def xero(self, method: str, path: str, **kwargs) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.xero_url, headers={"x-sandbox-control-token": CONTROL}) as c:
            return await c.request(method, path, **kwargs)

    async def xero_state(self) -> dict:
        return (await self.xero("GET", "/_sandbox/state")).json()

    def platform(self, token: str = PLATFORM_TOKEN) -> httpx.AsyncClient:
        """A client of the platform's internal API (the gateway's second listener)."""
        return httpx.AsyncClient(base_url=self.urls["platform"], headers={"Authorization": f"Bearer {token}"},
                                 timeout=30)

    async def check_now(self) -> int:
        """Make every grant's upkeep check due and run upkeep until nothing is due: the ConnectionBroken staged."""
        count = "SELECT count(*) FROM delivery_outbox WHERE topic = 'ConnectionBroken'"
        before = await self.pool.fetchval(count)
        await self.pool.execute("UPDATE grants SET next_check_at = '-infinity', upkeep_lease_until = NULL")
        while await self.xero_client.upkeep.tend_due():
            pass
        return await self.pool.fetchval(count) - before

    async def token_calls(self) -> list[dict]:
        return [c for c in (await self.xero_state())["calls"] if c["path"] == "/connect/token"]


def gateway_settings(dsn: str, kafka: str, group: str, urls: dict[str, str], *,
                     xero_scopes: tuple[str, ...] | None = None, **extra) -> GatewaySettings:
    scopes = {"scopes": xero_scopes} if xero_scopes else {}
    return GatewaySettings(
        database={"url": dsn, **extra.pop("database", {})},   # e.g. shorter session limits for a fault case
        kafka={"bootstrap_servers": kafka, "consumer_group": group},
        public_base_url=urls["gateway"], cloudpos={"base_url": urls["cloudpos"]},
        key_validator={"base_url": urls["key_validator"], "api_token": SERVICE_TOKEN},
        registry={"base_url": urls["registry"], "api_token": SERVICE_TOKEN},
        xero={"issuer": urls["xero"], "api_base_url": urls["xero"], "client_id": CLIENT_ID,
              "client_secret": CLIENT_SECRET, "redirect_uri": urls["gateway"] + "/xero/callback", **scopes},
        session_secret="test-session-secret-0123456789-abcdef", token_keys={"k1": KEY_1, "k2": KEY_2},
        active_token_key_id="k1", **({"upkeep": {"enabled": False}, "consent_sweep_seconds": 0} | extra))


@asynccontextmanager
async def real_registry(pg_dsn: str, kafka_bootstrap: str, group: str) -> AsyncIterator[object]:
    """The real connection_registry (its runtime, consumers and HTTP API) on its own fresh database."""
    from connection_registry.main import build_app as build_registry
    from connection_registry.settings import RegistrySettings
    from tests.support.services import REGISTRY_CONSOLE
    async with temporary_database(pg_dsn, prefix=group.replace("-", "_")[:40]) as dsn:
        app = build_registry(RegistrySettings(
            database={"url": dsn}, kafka={"bootstrap_servers": kafka_bootstrap, "consumer_group": group},
            api_token=SERVICE_TOKEN, **REGISTRY_CONSOLE))
        async with app.router.lifespan_context(app):
            yield app


@asynccontextmanager
async def gateway_stack(pg_dsn: str, kafka_bootstrap: str, group: str, xero_options: dict | None = None,
                        use_real_registry: bool = False, key_validator: Callable[..., FastAPI] = build_key_validator,
                        **gateway_extra) -> AsyncIterator[Stack]:
    """`key_validator(token, cloudpos_url, platform_token, on_valid)` builds what answers on the key
    validator's port (a fake by default; tests/test_tracing.py passes the real one)."""
    sockets = {name: bound_socket() for name in ("gateway", "platform", "xero", "cloudpos", "key_validator",
                                                 "registry")}
    urls = {name: "http://{}:{}".format(*s.getsockname()) for name, s in sockets.items()}
    clock = Clock()
    xero_app = build_xero(XeroSandboxSettings(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=[urls["gateway"] + "/xero/callback"],
        control_token=CONTROL, issuer=urls["xero"], **(xero_options or {})), clock)
    cloudpos_app = build_cloudpos(CloudPosSandboxSettings(**{f"{k}_token": v for k, v in CLOUDPOS_TOKENS.items()}))
    registry = FakeRegistry(SERVICE_TOKEN)
    async with AsyncExitStack() as stack:
        registry_app = (await stack.enter_async_context(real_registry(pg_dsn, kafka_bootstrap, f"{group}-reg"))
                        if use_real_registry else registry.app)
        on_valid = publish_key_validated(kafka_bootstrap) if use_real_registry else registry.on_valid
        for name, app in (("xero", xero_app), ("cloudpos", cloudpos_app), ("registry", registry_app),
                          ("key_validator", key_validator(SERVICE_TOKEN, urls["cloudpos"],
                                                          CLOUDPOS_TOKENS["platform"], on_valid))):
            await stack.enter_async_context(serving(app, sockets[name]))
        if not use_real_registry:
            await stack.enter_async_context(registry.consuming(kafka_bootstrap, f"{group}-registry"))
        dsn = await stack.enter_async_context(temporary_database(pg_dsn, prefix=group.replace("-", "_")[:40]))
        app = build_app(gateway_settings(dsn, kafka_bootstrap, group, urls, **gateway_extra),
                        clock=clock.now)
        await stack.enter_async_context(app.router.lifespan_context(app))
        await stack.enter_async_context(serving(app, sockets["gateway"]))
        await stack.enter_async_context(serving(app.state.platform_api, sockets["platform"]))
        async with platform_clients(dsn) as clients:
            await clients.register(PlatformClient("platform", frozenset(Operation)), PLATFORM_TOKEN)
        merchant = await seed_merchant(urls["cloudpos"])
        result = Stack(urls["gateway"], urls["xero"], urls["cloudpos"], dsn, clock, app, xero_app, registry, merchant,
                       urls)
        try:
            yield result
        finally:
            for browser in result.browsers:
                await browser.close()


@asynccontextmanager
async def another_gateway(stack: Stack) -> AsyncIterator[FastAPI]:
    """Another gateway instance on the same database (same settings), started but not serving HTTP."""
    settings = stack.app.state.settings
    app = build_app(settings.model_copy(update={"kafka": settings.kafka.model_copy(
        update={"consumer_group": settings.kafka.consumer_group + "-b"})}), clock=stack.clock.now)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def second_platform_api(stack: Stack, **changes: object) -> AsyncIterator[str]:
    """Another gateway instance on the same database serving its platform API; `changes` alter its settings
    (e.g. `xero=` with more scopes, as after a configuration change)."""
    settings = stack.app.state.settings
    app = build_app(settings.model_copy(update={"kafka": settings.kafka.model_copy(
        update={"consumer_group": settings.kafka.consumer_group + "-p"}), **changes}), clock=stack.clock.now)
    async with app.router.lifespan_context(app), serving(app.state.platform_api, bound_socket()) as url:
        yield url


@asynccontextmanager
async def second_instance(stack: Stack, kafka_bootstrap: str) -> AsyncIterator[str]:
    """Another gateway process on the same database (same settings), on its own port."""
    async with another_gateway(stack) as app, serving(app, bound_socket()) as url:
        yield url


@pytest.fixture
async def stack(pg_dsn, kafka_bootstrap, unique_name) -> AsyncIterator[Stack]:
    """The gateway and its sandboxes with one seeded merchant, fresh for each test (conftest.py offers it)."""
    async with gateway_stack(pg_dsn, kafka_bootstrap, unique_name("gateway")) as running:
        yield running


