"""The whole registry (consumers, relay, HTTP) on real Kafka + PostgreSQL, for the journey tests: produce
events as the other services do, drive the HTTP API and the helpdesk pages, snapshot the rows a rebuild must
reproduce."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from connection_registry.main import build_app
from connection_registry.settings import RegistrySettings
from shared.delivery import CloudEvent, to_kafka
from shared.runtime import ServiceRuntime
from local_infra.staff import sign_in_staff
from sandboxes.staff_idp import ALICE_EMAIL
from tests.support.kafka import eventually
from tests.support.services import REGISTRY_CONSOLE, running
from tests.support.staff_idp import staff_identity

API_TOKEN = "registry-api-token-for-tests"
# Every table a rebuild must reproduce, without surrogate columns (timeline.seq) and the one operational
# timestamp (parked_events.parked_at).
TABLES = {
    "merchants": "SELECT * FROM merchants WHERE merchant_id = ANY($1) ORDER BY merchant_id",
    "stores": "SELECT * FROM stores WHERE merchant_id = ANY($1) ORDER BY merchant_id, store_id",
    "organisations": "SELECT * FROM organisations WHERE merchant_id = ANY($1) ORDER BY merchant_id, tenant_id",
    "grants": "SELECT * FROM grants WHERE merchant_id = ANY($1) ORDER BY merchant_id, grant_id",
    "timeline": "SELECT merchant_id, position, occurred_at, what, actor, reason, event_id, causation_id,"
                " correlation_id, store_id, tenant_id FROM timeline WHERE merchant_id = ANY($1)"
                " ORDER BY merchant_id, position",
    "parked_events": "SELECT event_id, merchant_id, event_type, occurred_at, waiting_for, headers, value"
                     " FROM parked_events WHERE merchant_id = ANY($1) ORDER BY event_id",
}


@dataclass
class Registry:
    runtime: ServiceRuntime
    http: httpx.AsyncClient
    bootstrap: str

    async def send(self, *events: CloudEvent, wait: bool = True) -> list[int]:
        """Produce like the other services do (binary CloudEvents, keyed by merchant); wait until claimed."""
        offsets = await produce_all(self.bootstrap, events)
        for event in events if wait else ():
            await eventually(lambda e=event: self.claimed(e.id), what=f"{event.type} {event.id} to be handled")
        return offsets

    async def claimed(self, event_id: UUID) -> bool:
        return await self.runtime.pool.fetchval("SELECT count(*) FROM delivery_inbox WHERE event_id = $1",
                                                event_id) == 1

    async def drained(self) -> bool:
        return await self.runtime.pool.fetchval("SELECT count(*) FROM delivery_outbox WHERE published_at IS NULL") == 0

    async def sign_in_staff(self, email: str = ALICE_EMAIL) -> None:
        """Sign a helpdesk agent in through the staff identity sandbox (this client's cookies: the session)."""
        async with httpx.AsyncClient(timeout=10) as provider:
            signed_in = await sign_in_staff(self.http, provider, email)
        assert signed_in.headers.get("location") == "/helpdesk/", signed_in.text

    async def helpdesk(self, action: str, merchant_id: str) -> httpx.Response:
        await self.sign_in_staff()
        page = await self.http.get("/helpdesk/")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
        return await self.http.post(f"/helpdesk/merchants/{merchant_id}/{action}", data={"csrf": csrf})


async def produce_all(bootstrap: str, events: tuple[CloudEvent, ...] | list[CloudEvent]) -> list[int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        offsets = []
        for event in events:
            record = to_kafka(event)
            sent = await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
            offsets.append(sent.offset)
        return offsets
    finally:
        await producer.stop()


@asynccontextmanager
async def serving(pg_dsn: str, kafka_bootstrap: str, group: str) -> AsyncIterator[Registry]:
    """The whole registry (consumers, relay, HTTP) on a fresh database, through tests/support `running`."""
    apps = []

    def build(settings: RegistrySettings) -> Any:
        apps.append(build_app(settings))
        return apps[-1]

    with staff_identity("http://registry") as identity:
        async with running(build, RegistrySettings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap, group=group,
                           api_token=API_TOKEN, **(REGISTRY_CONSOLE | {"staff_identity": identity})) as runtime:
            transport = httpx.ASGITransport(app=apps[0])
            async with httpx.AsyncClient(transport=transport, base_url="http://registry",
                                         headers={"Authorization": f"Bearer {API_TOKEN}"}) as http:
                yield Registry(runtime, http, kafka_bootstrap)


async def snapshot(db: asyncpg.Pool | asyncpg.Connection, merchants: list[str],
                   event_ids: list[UUID]) -> dict[str, list[dict[str, Any]]]:
    rows = {table: [dict(r) for r in await db.fetch(sql, merchants)] for table, sql in TABLES.items()}
    rows["delivery_inbox"] = [dict(r) for r in await db.fetch(
        "SELECT consumer, event_id FROM delivery_inbox WHERE event_id = ANY($1) ORDER BY event_id", event_ids)]
    return rows
