"""`ServiceRuntime` without Kafka: PostgreSQL is required, the broker is not. The pool, migrations, background
work and HTTP come up while the broker is away, readiness says "degraded" (200) with the outbox backlog, and
only a missing database or pending migrations make it 503. (Kafka coming back: tests/faults/
test_gateway_kafka_down.py.)"""

import asyncio
import time
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from local_infra._proc import free_ports
from shared.contracts import CloudEvent
from shared.contracts.examples import key_validated
from shared.delivery import transaction
from shared.runtime import ServiceRuntime, health_router, readiness_status
from shared.settings import DatabaseSettings, KafkaSettings


@pytest.mark.parametrize(("checks", "status"), [
    ({"postgres": "ok", "migrations": "ok", "kafka": "ok", "outbox_relay": "ok"}, "ok"),
    ({"postgres": "ok", "migrations": "ok", "kafka": "connecting", "outbox_relay": "waiting for kafka"}, "degraded"),
    ({"postgres": "ok", "migrations": "ok", "kafka": "unavailable: KafkaError", "outbox_relay": "ok"}, "degraded"),
    ({"postgres": "ok", "migrations": "pending: svc/0002_x", "kafka": "ok", "outbox_relay": "ok"}, "unavailable"),
    ({"postgres": "unavailable: ConnectionRefusedError", "kafka": "ok", "outbox_relay": "ok"}, "unavailable"),
])
def test_only_what_a_service_cannot_serve_without_makes_it_unavailable(checks: dict, status: str) -> None:
    assert readiness_status(checks) == status


@pytest.mark.postgres
async def test_a_service_starts_serves_and_stops_while_kafka_is_away(fresh_database: str) -> None:
    (nobody_listens,) = free_ports(1)
    runtime = ServiceRuntime("kafkaless", database=DatabaseSettings(url=fresh_database),
                             kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{nobody_listens}",
                                                 connect_wait_seconds=0.5), migrations=())
    worked = asyncio.Event()

    async def work() -> None:
        worked.set()
        await asyncio.sleep(3600)

    runtime.background("work", work)
    app = FastAPI()
    app.include_router(health_router(runtime))

    began = time.monotonic()
    await runtime.start()
    started = time.monotonic() - began
    try:
        await asyncio.wait_for(worked.wait(), 5)          # background work needs the database only
        async with transaction(runtime.pool) as tx:     # what a use case publishes waits in the outbox
            await tx.publish(CloudEvent(data=key_validated(f"m-{uuid4().hex[:8]}"), source="/tests"))
        await asyncio.sleep(0.05)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as http:
            ready = await http.get("/health/ready")
    finally:
        began = time.monotonic()
        await runtime.stop()
        stopped = time.monotonic() - began

    assert started < 5, f"start-up waited {started:.1f}s for a broker that is not there"
    assert stopped < 5
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded"
    assert body["checks"] == {"postgres": "ok", "migrations": "ok", "kafka": "connecting",
                              "outbox_relay": "waiting for kafka"}
    assert body["outbox"]["pending"] == 1 and body["outbox"]["oldest_age_seconds"] > 0


@pytest.mark.postgres
async def test_without_its_database_a_service_is_not_ready(fresh_database: str, kafka_bootstrap: str) -> None:
    runtime = ServiceRuntime("dbless", database=DatabaseSettings(url=fresh_database),
                             kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap), migrations=())
    app = FastAPI()
    app.include_router(health_router(runtime))
    await runtime.start()
    runtime.pool.terminate()  # as good as PostgreSQL being away, for this process
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as http:
            ready = await http.get("/health/ready")
    finally:
        await runtime.stop()

    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["postgres"].startswith("unavailable")
    assert ready.json()["outbox"] == {"pending": None, "oldest_age_seconds": None}
