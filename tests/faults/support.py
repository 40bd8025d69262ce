"""Fault-suite helpers: a TCP proxy that can cut the link, a workload of KeyValidated events with unique
merchants, and the checker that counts effects (zero lost, zero doubled) in the registry's database."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
from aiokafka import AIOKafkaProducer

from services.connection_registry.tests.journey import Journey
from shared.delivery import CloudEvent, to_kafka
from shared.delivery.consumer import EventConsumer

PARTITIONS = 6
"""Partitions of every topic on the private broker, as in production (deploy/k8s/base/topics)."""


class LinkProxy:
    """A loopback TCP proxy on a fixed port, run in its own thread and loop so it survives test loops.

    `cut()` drops every open connection and refuses new ones (accept-and-close) until `restore()`.
    """

    def __init__(self, port: int, upstream_port: Callable[[], int]) -> None:
        self.port, self._upstream_port = port, upstream_port
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut = False
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fault-link-proxy")
        self.connections = 0

    def start(self) -> LinkProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def cut(self) -> None:
        def close_all() -> None:
            self._cut = True
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()
        self._loop.call_soon_threadsafe(close_all)

    def restore(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "_cut", False)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port())
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()
                self._writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@dataclass
class Workload:
    """`n` KeyValidated events, one new merchant each, `stores` stores per merchant."""

    n: int
    stores: int = 2
    events: list[CloudEvent] = field(default_factory=list)
    partitions: set[int] = field(default_factory=set)   # where `produce` put them

    def __post_init__(self) -> None:
        run = uuid4().hex[:8]
        now = lambda: datetime.now(UTC)  # noqa: E731
        self.events = [Journey(f"m-fault-{run}-{i:05d}", clock=now).key_validated(stores=self.stores)
                       for i in range(self.n)]

    @property
    def ids(self) -> list[UUID]:
        return [e.id for e in self.events]

    @property
    def merchants(self) -> list[str]:
        return [e.data.merchant_id for e in self.events]  # type: ignore[attr-defined]


async def produce(bootstrap: str, events: list[CloudEvent], *, times: int = 1, poison_every: int = 0,
                  workload: Workload | None = None) -> int:
    """Produce each event `times` times (acks=all, idempotent); every `poison_every`th slot adds a poison
    record. Returns the number of poison records sent; notes the partitions used in `workload`."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, request_timeout_ms=60000)
    await producer.start()
    poisons = 0
    try:
        futures = []
        for i, event in enumerate(events):
            record = to_kafka(event)
            for _ in range(times):
                futures.append(await producer.send(record.topic, record.value, key=record.key,
                                                   headers=record.headers))
            if poison_every and i % poison_every == 0:
                for value, headers in poison_records(record.headers):
                    futures.append(await producer.send(record.topic, value, key=record.key, headers=headers))
                    poisons += 1
        acks = await asyncio.gather(*futures)
        if workload is not None:
            workload.partitions |= {ack.partition for ack in acks}
        return poisons
    finally:
        await producer.stop()


def poison_records(good_headers: list[tuple[str, bytes]]) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    """Three kinds of poison: undecodable JSON, schema-invalid data, and a foreign event type."""
    def with_new_id(extra: dict[str, bytes] | None = None) -> list[tuple[str, bytes]]:
        headers = dict(good_headers) | {"ce_id": str(uuid4()).encode()} | (extra or {})
        return list(headers.items())
    return [(b"{not json\x00", with_new_id()),
            (json.dumps({"merchant_id": 42, "stores": "nope"}).encode(), with_new_id()),
            (b"{}", with_new_id({"ce_type": b"com.example.Unrelated.v1"}))]


@dataclass
class Count:
    lost: list[UUID]
    doubled: list[UUID]
    inbox: int
    timeline: int
    stores: int

    def assert_exactly_once(self, workload: Workload) -> None:
        assert len(workload.partitions) > 1, f"the merchants did not spread over partitions: {workload.partitions}"
        assert not self.lost, f"{len(self.lost)} event(s) lost, e.g. {self.lost[:3]}"
        assert not self.doubled, f"{len(self.doubled)} event(s) applied twice, e.g. {self.doubled[:3]}"
        assert (self.inbox, self.timeline, self.stores) == (workload.n, workload.n, workload.n * workload.stores)


async def count_effects(dsn: str, workload: Workload, consumer: str | None = None) -> Count:
    """Per event id: inbox rows and timeline rows; per merchant: store rows. Exactly one of each is right."""
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT to_regclass('timeline') IS NULL OR to_regclass('delivery_inbox') IS NULL"):
            return Count(workload.ids, [], 0, 0, 0)  # a service process has not migrated yet
        inbox = {r["event_id"]: r["n"] for r in await conn.fetch(
            "SELECT event_id, count(*) AS n FROM delivery_inbox WHERE event_id = ANY($1)"
            + (" AND consumer = $2" if consumer else "") + " GROUP BY event_id",
            workload.ids, *([consumer] if consumer else []))}
        timeline = {r["event_id"]: r["n"] for r in await conn.fetch(
            "SELECT event_id, count(*) AS n FROM timeline WHERE event_id = ANY($1) GROUP BY event_id", workload.ids)}
        stores = await conn.fetchval("SELECT count(*) FROM stores WHERE merchant_id = ANY($1)", workload.merchants)
    finally:
        await conn.close()
    lost = [i for i in workload.ids if inbox.get(i, 0) == 0 or timeline.get(i, 0) == 0]
    doubled = [i for i in workload.ids if inbox.get(i, 0) > 1 or timeline.get(i, 0) > 1]
    return Count(lost, doubled, sum(inbox.values()), sum(timeline.values()), stores)


async def settle(dsn: str, workload: Workload, *, timeout: float = 90) -> Count:
    """Wait until nothing is lost (or the timeout), then give a final count after a short quiet period."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        count = await count_effects(dsn, workload)
        if not count.lost or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)  # late writes (a resumed consumer, a redelivery) would land now
    return await count_effects(dsn, workload)



def count_handled(monkeypatch) -> Counter[str]:  # noqa: ANN001 - pytest's MonkeyPatch
    """Count, per CloudEvents id, the records this process's consumers handled to the end (applied, or found
    in the inbox and skipped): an id counted twice was delivered twice. Wraps `EventConsumer._handle` (one record)
    and `EventConsumer._whole` (a partition's records in one batch call)."""
    handled = Counter[str]()
    one, whole = EventConsumer._handle, EventConsumer._whole  # noqa: SLF001

    async def counting(self, record, headers, handle):  # noqa: ANN001, ANN202
        outcome = await one(self, record, headers, handle)
        if outcome.value == "done":
            handled[headers.get("ce_id", "")] += 1
        return outcome

    async def counting_batch(self, records, batch):  # noqa: ANN001, ANN202
        outcome = await whole(self, records, batch)
        if outcome.value == "done":
            handled.update(headers.get("ce_id", "") for _, headers in records)
        return outcome

    monkeypatch.setattr(EventConsumer, "_handle", counting)
    monkeypatch.setattr(EventConsumer, "_whole", counting_batch)
    return handled
