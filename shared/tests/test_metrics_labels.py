"""Metric series stay bounded whatever clients send, and a scrape storm costs the database one query per period
(issue #21, item 3)."""

import asyncio

import httpx
from fastapi import FastAPI

from shared import runtime as runtime_module
from shared.metrics import REGISTRY, HttpMetrics, sample
from shared.runtime import ServiceRuntime
from shared.settings import DatabaseSettings, KafkaSettings


def _series(name: str, service: str) -> set[tuple[str, str]]:
    return {(s.labels["method"], s.labels["route"]) for metric in REGISTRY.collect() for s in metric.samples
            if s.name == name and s.labels.get("service") == service}


async def test_methods_and_routes_outside_the_known_sets_share_one_label_each() -> None:
    app = FastAPI()
    app.add_middleware(HttpMetrics, service="labels-test")

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        for method in ("BREW", "PURGE", "X-ANYTHING-1", "X-ANYTHING-2", "GET", "DELETE"):
            await http.request(method, "/things/123")
        await http.get("/no/such/path/9f8e7d")
    series = _series("http_requests_total", "labels-test")
    assert series == {("other", "/things/{thing_id}"), ("GET", "/things/{thing_id}"),
                      ("DELETE", "/things/{thing_id}"), ("GET", "unmatched")}, series
    assert sample("http_requests_total", {"service": "labels-test", "method": "other",
                                          "route": "/things/{thing_id}", "status": "405"}) == 4


def _runtime(refresh_seconds: float) -> ServiceRuntime:
    return ServiceRuntime("gauges-test", database=DatabaseSettings(url="postgresql://nobody@nowhere/none"),
                          kafka=KafkaSettings(bootstrap_servers="nowhere:9092"), migrations=(),
                          gauge_refresh_seconds=refresh_seconds)


async def test_scrapes_read_the_outbox_at_most_once_per_period(monkeypatch) -> None:
    reads = 0

    async def backlog(_pool: object) -> tuple[int, float]:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.05)
        return 3, 1.5

    monkeypatch.setattr(runtime_module, "outbox_backlog", backlog)
    bounded, every_time = _runtime(60), _runtime(0)
    for runtime in (bounded, every_time):
        runtime._pool = object()  # noqa: SLF001 - the pool is only handed to the (faked) query
    await asyncio.gather(*(bounded.refresh_gauges() for _ in range(20)))
    for _ in range(5):
        await bounded.refresh_gauges()
    assert reads == 1, "twenty concurrent and five later scrapes within the period: one database read"
    assert sample("outbox_backlog", {"service": "gauges-test"}) == 3
    for _ in range(3):
        await every_time.refresh_gauges()
    assert reads == 4
