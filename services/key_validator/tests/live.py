"""The whole key validator (runtime, PostgreSQL, Kafka) talking to the real Cloud POS sandbox over HTTP;
tests call its API in-process (ASGI) and move its clock."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from key_validator.main import build_app
from key_validator.settings import KeyValidatorSettings
from local_infra.postgres import temporary_database
from shared.runtime import ServiceRuntime
from tests.support.services import running

from .fakes import FakeClock
from .sandbox import Sandbox

API_TOKEN = "kv-live-api-token-0123456789"
FINGERPRINT_SECRET = "kv-live-fingerprint-secret-0123456789abcdef"


@dataclass
class Instance:
    app: FastAPI
    api: httpx.AsyncClient

    @property
    def runtime(self) -> ServiceRuntime:
        return self.app.state.runtime

    async def validate(self, key: str, merchant: str, address: str = "203.0.113.9",
                       user: str = "u-live") -> httpx.Response:
        return await self.api.post("/v1/validations", headers={"Authorization": f"Bearer {API_TOKEN}"}, json={
            "merchant_id": merchant, "user_id": user, "api_key": key, "client_address": address})


def settings(sandbox: Sandbox) -> dict:
    return {"cloudpos": {"base_url": sandbox.url, "platform_token": sandbox.platform_token, "timeout_seconds": 5},
            "api_token": API_TOKEN, "key_fingerprint_secret": FINGERPRINT_SECRET}


@asynccontextmanager
async def key_validator(sandbox: Sandbox, clock: FakeClock, *, pg_dsn: str, kafka_bootstrap: str,
                        group: str) -> AsyncIterator[Instance]:
    """One instance on a fresh database, through tests/support/services.running."""
    built: list[FastAPI] = []

    def build(service_settings: KeyValidatorSettings) -> FastAPI:
        built.append(build_app(service_settings, clock=clock))
        return built[-1]

    async with running(build, KeyValidatorSettings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap, group=group,
                       **settings(sandbox)), _api(built[0]) as api:
        yield Instance(built[0], api)


@asynccontextmanager
async def instances(count: int, sandbox: Sandbox, clock: FakeClock, *, pg_dsn: str, kafka_bootstrap: str,
                    group: str) -> AsyncIterator[list[Instance]]:
    """`count` instances sharing one database, as behind a load balancer."""
    async with temporary_database(pg_dsn, prefix=group.replace("-", "_")[:40]) as dsn, AsyncExitStack() as stack:
        started = []
        for _ in range(count):
            app = build_app(KeyValidatorSettings(database={"url": dsn}, kafka={
                "bootstrap_servers": kafka_bootstrap, "consumer_group": group}, **settings(sandbox)), clock=clock)
            await stack.enter_async_context(app.router.lifespan_context(app))
            started.append(Instance(app, await stack.enter_async_context(_api(app))))
        yield started


def _api(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://key-validator", timeout=30)


