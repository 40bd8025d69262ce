"""What every benchmark phase builds on: the run's Config and Results, the Kafka + PostgreSQL it runs on
(Infra), consumer processes (a baseline worker or the real connection_registry), the measurements taken of
them (drain throughput, CPU, RSS, latency) and the report's number formatting.

A library only: it imports no phase. The phases live in their own modules (bench.drain, bench.idle,
bench.scaling, bench.journey) and bench.phases runs them and assembles their sections, so the import graph
has no cycle (tests/test_bench_imports.py checks it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from shared.contracts import examples, topics
from shared.delivery import CloudEvent, to_kafka

TOPIC = topics.KEY_VALIDATED
PARTITIONS = 4
PHASES = ("drain", "latency", "idle", "scaling", "lifecycle", "rebuild", "relay", "notify", "journey", "proxy")
SERVICES = ("key_validator", "oauth_gateway", "connection_registry", "notifier")
_TICK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "artifacts" / "bench" / "logs"
CONSOLE_ENV = {  # the registry's console settings; the drain phases never sign staff in
    "CONNECTION_REGISTRY_STAFF_IDENTITY__ISSUER": "http://127.0.0.1:9/staff-idp",
    "CONNECTION_REGISTRY_STAFF_IDENTITY__CLIENT_ID": "helpdesk-console",
    "CONNECTION_REGISTRY_STAFF_IDENTITY__CLIENT_SECRET": "bench-console-secret",
    "CONNECTION_REGISTRY_STAFF_IDENTITY__REDIRECT_URI": "http://127.0.0.1:9/helpdesk/callback",
    "CONNECTION_REGISTRY_STAFF_IDENTITY__POST_LOGOUT_REDIRECT_URI": "http://127.0.0.1:9/helpdesk/signed-out",
    "CONNECTION_REGISTRY_NOTIFIER__BASE_URL": "http://127.0.0.1:9",
    "CONNECTION_REGISTRY_NOTIFIER__API_TOKEN": "bench-notifier-token-0123",
}


@dataclass
class Config:
    events: int = 5000
    reps: int = 3
    latency_events: int = 1000
    idle_seconds: float = 10.0
    smoke: bool = False
    out: Path = ROOT / "artifacts" / "bench" / "latest.json"
    phases: tuple[str, ...] = PHASES
    # bench.idle: which services, how long the quiet window is, how long to let them settle after ready
    idle_services: tuple[str, ...] = SERVICES
    service_idle_seconds: float = 30.0
    settle_seconds: float = 5.0
    # bench.scaling: events published per run (after the group is stable), variants compared
    scaling_events: int = 5000
    scaling_variants: tuple[str, ...] = ("B1", "S")
    # bench.journey: merchants walked through, the `make run` stack's port offset
    journey_reps: int = 8
    journey_port_offset: int = 3500
    # bench.proxy: calls of each kind for latency, then a throughput window at a concurrency
    proxy_port_offset: int = 3600
    proxy_calls: int = 500
    proxy_seconds: float = 10.0
    proxy_concurrency: int = 16
    # bench.lifecycle: merchants seeded (3 stores, 2 grants each), the bare refresh loop's size, the answers lost
    # in the second keep-alive cycle, the steady and peak check windows, the pages' requests and sessions
    lifecycle_merchants: int = 10_000
    lifecycle_baseline_refreshes: int = 2000
    lifecycle_drop_fraction: float = 0.05
    lifecycle_drop_grants: int = 5000
    lifecycle_drop_mode: str = "abort"
    lifecycle_window_seconds: float = 60.0
    lifecycle_page_requests: int = 200
    lifecycle_sessions: int = 200
    # bench.rebuild: events seeded into a private broker (a year of this many merchants), events per transaction
    rebuild_events: int = 1_000_000
    rebuild_merchants: int = 10_000
    rebuild_batch_size: int = 1000
    # bench.delivery: outbox rows published by the relay, webhook deliveries sent by the notifier's dispatcher
    relay_events: int = 20_000
    notify_deliveries: int = 2000
    load_at_start: tuple[float, ...] = ()  # os.getloadavg() before anything started: other work on the machine
    code: str = ""  # the commit measured, "+ changes" when the working tree differed from it at the start


@dataclass
class Results:
    # metric -> variant -> list of per-repetition values
    figures: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def add(self, metric: str, variant: str, value: float) -> None:
        self.figures.setdefault(metric, {}).setdefault(variant, []).append(value)


def cpu_seconds(pid: int) -> float:
    """CPU time of the whole process: the scheduler's nanosecond counts of its threads (schedstat), since a
    short smoke window can stay under one 10 ms clock tick, which `stat` rounds to 0; `stat`'s ticks when
    schedstat is not available."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)
    try:
        nanoseconds = sum(int((task / "schedstat").read_text().split()[0])
                          for task in Path(f"/proc/{pid}/task").iterdir())
    except (OSError, ValueError, IndexError):
        return ticks
    return nanoseconds / 1e9 if nanoseconds else ticks


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Infra:
    def __init__(self, bootstrap: str, admin_dsn: str) -> None:
        self.bootstrap = bootstrap
        self.admin_dsn = admin_dsn
        self.admin: AIOKafkaAdminClient | None = None
        self.producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> Infra:
        self.admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await self.admin.start()
        if TOPIC not in await self.admin.list_topics():
            await self.admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()
        await self.admin.close()

    async def end_offsets(self) -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        await consumer.start()
        try:
            parts = [TopicPartition(TOPIC, p) for p in sorted(consumer.partitions_for_topic(TOPIC) or
                                                              await _partitions(consumer))]
            ends = await consumer.end_offsets(parts)
            begins = await consumer.beginning_offsets(parts)
            return {tp: ends[tp] - begins[tp] for tp in parts}
        finally:
            await consumer.stop()

    async def committed(self, group: str) -> int:
        try:
            offsets = await self.admin.list_consumer_group_offsets(group)
        except KafkaError:  # the coordinator (or the offsets topic) is not there yet
            return 0
        return sum(meta.offset for tp, meta in offsets.items() if tp.topic == TOPIC and meta.offset > 0)

    async def set_group_to_end(self, group: str, topics: tuple[str, ...] | list[str] = (TOPIC,)) -> None:
        """Commit the end offsets of `topics` for a new group: its members start with no backlog."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            parts = [TopicPartition(t, p) for t in topics for p in await _partitions(consumer, t)]
            consumer.assign(parts)
            ends = await consumer.end_offsets(parts)
            await consumer.commit({tp: off for tp, off in ends.items()})
        finally:
            await consumer.stop()

    async def all_topics(self) -> list[str]:
        return sorted(t for t in await self.admin.list_topics() if not t.startswith("__"))

    async def assignment(self, group: str) -> tuple[str, list[list[int]]]:
        """The group's state and, per member holding some of TOPIC, its partitions of TOPIC."""
        try:
            described = await self.admin.describe_consumer_groups([group])
        except KafkaError:
            return "Unknown", []
        found = described[0].to_object()["groups"][0]
        held = []
        for member in found["members"]:
            if not member["member_assignment"]:
                continue
            assigned = ConsumerProtocolMemberAssignment.decode(member["member_assignment"])
            mine = sorted(p for topic, parts in assigned.assignment if topic == TOPIC for p in parts)
            if mine:
                held.append(mine)
        return found["state"], held

    async def publish(self, events: list[CloudEvent]) -> None:
        futures = []
        for event in events:
            r = to_kafka(event)
            futures.append(await self.producer.send(r.topic, r.value, key=r.key, headers=r.headers))
        await asyncio.gather(*futures)


async def _partitions(consumer: AIOKafkaConsumer, topic: str = TOPIC) -> set[int]:
    for _ in range(50):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return parts
        await consumer._client.force_metadata_update()  # noqa: SLF001 - metadata for a topic we did not subscribe
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions")


def new_events(n: int, tag: str) -> list[CloudEvent]:
    return [CloudEvent(data=examples.key_validated(f"bench-{tag}-{i}"), source="bench",
                       time=datetime.now(UTC)) for i in range(n)]


class Consumer:
    """One consumer process: a baseline worker or the real service."""

    def __init__(self, infra: Infra, variant: str, dsn: str, group: str, name: str | None = None) -> None:
        self.variant = variant
        self.group = group
        self.name = name or group  # several members of one group need their own log file
        LOGS.mkdir(parents=True, exist_ok=True)
        log = open(LOGS / f"{self.name}.log", "wb")  # noqa: SIM115 - closed with the process
        if variant == "S":
            env = os.environ | {
                "CONNECTION_REGISTRY_DATABASE__URL": dsn,
                "CONNECTION_REGISTRY_KAFKA__BOOTSTRAP_SERVERS": infra.bootstrap,
                "CONNECTION_REGISTRY_KAFKA__CONSUMER_GROUP": group,
                "CONNECTION_REGISTRY_API_TOKEN": "bench-api-token-0123456789",
                **CONSOLE_ENV,
                "CONNECTION_REGISTRY_HTTP__PORT": "0",
            }
            cmd = [sys.executable, "-m", "connection_registry"]
        else:
            env = dict(os.environ)
            cmd = [sys.executable, "-m", "bench.baseline", variant.lower(), infra.bootstrap, dsn, group, TOPIC]
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def measure_drain(infra: Infra, consumer: Consumer | list[Consumer], total: int, timeout: float,
                        base: int = 0) -> dict[str, float]:
    """Poll the group's committed offsets; time and CPU between 10 % and 100 % of `total`.

    `consumer` may be several members of one group (CPU and RSS are then their sums); `base` is the sum of
    the group's committed offsets before the `total` events to drain were published."""
    members = consumer if isinstance(consumer, list) else [consumer]
    group = members[0].group

    def cpu() -> float:
        return sum(cpu_seconds(m.pid) for m in members)

    start_mark = max(1, total // 10)
    t0 = c0 = None
    done0 = 0
    t_start, c_start = time.monotonic(), cpu()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in members:
            if not m.alive():
                raise RuntimeError(f"{m.variant} exited early; see {LOGS / m.name}.log")
        done = await infra.committed(group) - base
        now, used = time.monotonic(), cpu()
        if t0 is None and done >= start_mark:
            t0, c0, done0 = now, used, done
        if done >= total and t0 is not None:
            counted = done - done0
            if counted <= 0:  # drained within one poll: fall back to the whole run
                t0, c0, counted = t_start, c_start, done
            return {"throughput": counted / (now - t0), "cpu_per_1k": (used - c0) / counted * 1000,
                    "rss_mb": sum(rss_mb(m.pid) for m in members)}
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{members[0].variant} did not drain {total} events in {timeout:.0f}s "
                       f"(committed {await infra.committed(group) - base})")


async def measure_latency(infra: Infra, consumer: Consumer, dsn: str, rate: float, n: int,
                          tag: str) -> dict[str, float]:
    """Open-loop publish at `rate`/s; latency = ce_time -> delivery_inbox.processed_at."""
    warm = new_events(20, f"{tag}-warm")
    await infra.publish(warm)
    await _wait_inbox(dsn, {e.id for e in warm}, 60)
    events = new_events(n, tag)
    interval = 1.0 / rate
    start = time.monotonic()
    futures = []
    for i, event in enumerate(events):
        delay = start + i * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        event = CloudEvent(data=event.data, source=event.source, id=event.id, time=datetime.now(UTC))
        events[i] = event
        r = to_kafka(event)
        futures.append(await infra.producer.send(r.topic, r.value, key=r.key, headers=r.headers))
    await asyncio.gather(*futures)
    sent = {e.id: e.time for e in events}
    done = await _wait_inbox(dsn, set(sent), 120)
    lat = sorted((done[i] - sent[i]).total_seconds() * 1000 for i in sent)
    return {"p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99)}


async def _wait_inbox(dsn: str, ids: set[uuid.UUID], timeout: float) -> dict[uuid.UUID, datetime]:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        rows: list = []
        while time.monotonic() < deadline:
            try:
                rows = await conn.fetch("SELECT event_id, processed_at FROM delivery_inbox WHERE event_id = ANY($1)",
                                        list(ids))
            except asyncpg.UndefinedTableError:  # the service has not applied its migrations yet
                rows = []
            if len(rows) >= len(ids):
                return {r["event_id"]: r["processed_at"] for r in rows}
            await asyncio.sleep(0.2)
        raise TimeoutError(f"only {len(rows)} of {len(ids)} events reached the inbox")
    finally:
        await conn.close()


def _pct(values: list[float], p: float) -> float:
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


async def idle_cpu(consumer: Consumer, seconds: float) -> float:
    c0, t0 = cpu_seconds(consumer.pid), time.monotonic()
    await asyncio.sleep(seconds)
    return (cpu_seconds(consumer.pid) - c0) / (time.monotonic() - t0) * 100


def stats(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


def cell(v: dict | None) -> str:
    if v is None:
        return "-"
    return f"{fmt(v['median'])} [{fmt(v['min'])}-{fmt(v['max'])}]"


def grid(head: list[str], body: list[list[str]]) -> list[str]:
    lines = [head, *body]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    out.insert(1, "-+-".join("-" * w for w in widths))
    return out


def fmt(x: float) -> str:
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}"


def write_report(cfg: Config, report: dict) -> None:
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    cfg.out.write_text(json.dumps(report, indent=2))
