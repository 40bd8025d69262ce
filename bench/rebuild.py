"""`--only rebuild`: the time `python -m connection_registry.rebuild` takes to rebuild the registry from a year of
events (issue 22's goal: 1,000,000 events for 10,000 merchants in at most 10 minutes on 2 cores).

The events are what the registry's topics hold after a year (fixed seed): each merchant validates its key, connects
one to five stores (StoreConnected, OrgSelected), is reminded to finish (1 in 5), completes (4 in 5) and is
finalised (3 in 4 of those); then, spread over the rest of the year, it validates its key again, its connections
break and are restored (ConnectionBroken/ConnectionRestored), stores are consented again, and now and then an
organisation is disconnected and connected again; 1 merchant in 500 is erased at the end. 1 event in 200 is on its
topic twice (a redelivery: the rebuild's inbox skips it) and a few records are poison (the rebuild skips them).
They are produced in event-time order, as the live topics hold them, into a Kafka broker of the phase's own (the
rebuild reads the real topic names, so another phase's records would be counted), in bulk (linger, big batches).

Then the rebuild runs as the ops command does, in its own process, into an empty database; its wall time and CPU
(the process's own; PostgreSQL's and Kafka's are not counted) are printed against the goal, with the outcomes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from local_infra.kafka import KafkaBroker
from local_infra.postgres import temporary_database
from shared.contracts import (AuthorisedOrganisation, BreakReason, ConnectionBroken, ConnectionRestored,
                              DisconnectReason, KeyValidated, Licence, MerchantErased, OrgDisconnected, OrgSelected,
                              SetupCompleted, SetupFinalised, SetupReminderRequested, Store, StoreConnected, StoreLink,
                              XeroUser)
from shared.delivery import CloudEvent, to_kafka

from .harness import ROOT, Config, grid

GOAL_SECONDS = 600.0          # issue 22: 1,000,000 events in at most 10 minutes
GOAL_EVENTS = 1_000_000
PARTITIONS = 6                # as in production (issue 21)
YEAR_START = datetime(2025, 11, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
GATEWAY, VALIDATOR, REGISTRY = ("/cloudpos-xero/oauth_gateway", "/cloudpos-xero/key_validator",
                                "/cloudpos-xero/connection_registry")
DUPLICATE_EVERY = 200
POISON = 10
WORDS = ("Harbour", "Cycles", "Bakery", "North", "Coffee", "Books", "Garden", "Outdoor", "Studio", "Kitchen")


class Merchant:
    """One merchant's year, as events in event-time order (`events`)."""

    def __init__(self, index: int, budget: int, rng: random.Random) -> None:
        self.id, self.rng, self.events = f"m-{index:06d}", rng, []
        self.name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {index}"
        self.stores = [f"s-{i}" for i in range(1, rng.choice((1, 2, 3, 3, 3, 4, 5)) + 1)]
        self.tenants = {s: self._uuid() for s in self.stores}
        self.user = XeroUser(xero_userid=self._uuid(), name=f"Owner {index}", email=f"owner{index}@example.test")
        self.grants = 0
        self.t = YEAR_START + timedelta(days=rng.uniform(0, 30))
        self._year(budget)

    def _add(self, source: str, data: object, minutes: float) -> None:
        self.t += timedelta(minutes=minutes)
        self.events.append(CloudEvent(data=data, source=source, id=self._uuid(), time=self.t))  # type: ignore[arg-type]

    def _uuid(self) -> uuid.UUID:
        """Ids from the seeded generator: the same year every run."""
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _validate(self) -> None:
        stores = tuple(Store(store_id=s, name=f"{self.name} {s}") for s in self.stores)
        self._add(VALIDATOR, KeyValidated(merchant_id=self.id, merchant_name=self.name, key_id="k-1",
                                          key_label="Xero", licence=Licence.PRO_PLUS, stores=stores,
                                          validated_by="u-1"), 1)

    def _connect(self, store: str, again: bool) -> None:
        self.grants += 1
        grant, tenant, connection = f"g-{self.grants}", self.tenants[store], self._uuid()
        org = AuthorisedOrganisation(tenant_id=tenant, connection_id=connection, name=f"{self.name} {store} Ltd")
        self._add(GATEWAY, StoreConnected(merchant_id=self.id, store_id=store, grant_id=grant,
                                          auth_event_id=self._uuid(), organisations=(org,), actor="u-1",
                                          authorised_by=self.user, previous_tenant_id=tenant if again else None), 2)
        self._add(GATEWAY, OrgSelected(merchant_id=self.id, store_id=store, tenant_id=tenant,
                                       organisation_name=org.name, subscription_class="STANDARD",
                                       connection_id=connection, grant_id=grant, actor="u-1",
                                       authorised_by=self.user, previous_tenant_id=tenant if again else None,
                                       same_organisation=True if again else None), 1)

    def _links(self) -> tuple[StoreLink, ...]:
        return tuple(StoreLink(store_id=s, store_name=f"{self.name} {s}", tenant_id=self.tenants[s],
                               organisation_name=f"{self.name} {s} Ltd") for s in self.stores)

    def _setup(self) -> None:
        self._validate()
        for store in self.stores:
            self._connect(store, again=False)
        if self.rng.random() < 0.2:
            for _ in range(self.rng.randint(1, 3)):
                self._add(REGISTRY, SetupReminderRequested(
                    merchant_id=self.id, merchant_name=self.name, links=self._links(), connected_since=self.t,
                    requested_by="alice.agent@helpdesk.test"), 60 * 24 * self.rng.uniform(1, 5))
        if self.rng.random() < 0.8:
            self._add(REGISTRY, SetupCompleted(merchant_id=self.id, merchant_name=self.name, links=self._links(),
                                               completed_by="u-1"), 30)
            if self.rng.random() < 0.75:
                self._add(REGISTRY, SetupFinalised(merchant_id=self.id, finalised_by="alice.agent@helpdesk.test"),
                          60 * 24 * self.rng.uniform(0.1, 3))

    def _incident(self, gap: float) -> None:
        store, incident, since = self.rng.choice(self.stores), self._uuid(), self.t
        tenant, org = self.tenants[store], f"{self.name} {store} Ltd"
        self._add(GATEWAY, ConnectionBroken(
            merchant_id=self.id, store_id=store, store_name=f"{self.name} {store}", tenant_id=tenant,
            organisation_name=org, reason=self.rng.choice(list(BreakReason)), since=since, incident_id=incident,
            authorised_by=self.user, reconnect_url=f"https://pos.example.test/reconnect/{store}"), gap)
        self._add(GATEWAY, ConnectionRestored(
            merchant_id=self.id, store_id=store, store_name=f"{self.name} {store}", tenant_id=tenant,
            organisation_name=org, incident_id=incident, broken_since=since, same_organisation=True,
            restored_by="u-1"), gap * self.rng.uniform(0.05, 0.5))

    def _disconnect_and_reconnect(self, gap: float) -> None:
        store = self.rng.choice(self.stores)
        self._add(GATEWAY, OrgDisconnected(merchant_id=self.id, tenant_id=self.tenants[store],
                                           organisation_name=f"{self.name} {store} Ltd",
                                           reason=DisconnectReason.MERCHANT_REQUEST, actor="u-1"), gap)
        self._connect(store, again=False)

    def _year(self, budget: int) -> None:
        self._setup()
        left = max(0, budget - len(self.events))
        gap = (YEAR_START + YEAR - self.t).total_seconds() / 60 / max(1, left)
        while len(self.events) < budget:
            roll = self.rng.random()
            if roll < 0.45:
                self.t += timedelta(minutes=gap * self.rng.uniform(0.2, 0.8))
                self._validate()
            elif roll < 0.9:
                self._incident(gap * self.rng.uniform(0.2, 0.8))
            elif roll < 0.98:
                self._connect(self.rng.choice(self.stores), again=True)
            else:
                self._disconnect_and_reconnect(gap * self.rng.uniform(0.2, 0.8))
        if self.rng.random() < 0.002:
            self._add(REGISTRY, MerchantErased(merchant_id=self.id, requested_by="lena.lead@helpdesk.test",
                                               reference="HD-1", requested_at=self.t), 60)


def year_of_records(events: int, merchants: int, seed: int = 22) -> list[tuple[str, bytes, bytes, list]]:
    """Every merchant's year as Kafka records (topic, key, value, headers) in event-time order, with the
    redeliveries and poison records the live topics hold."""
    rng = random.Random(seed)
    budget = max(1, events // max(1, merchants))
    timed: list[tuple[datetime, int, tuple[str, bytes, bytes, list]]] = []
    for i in range(merchants):   # encoded at once: a million decoded events would hold gigabytes
        for event in Merchant(i, budget, rng).events:
            r = to_kafka(event)
            timed.append((event.time, len(timed), (r.topic, r.key, r.value, r.headers)))
    timed.sort(key=lambda item: (item[0], item[1]))
    records = []
    for n, (_, _, record) in enumerate(timed):
        records.append(record)
        if n % DUPLICATE_EVERY == DUPLICATE_EVERY - 1:
            records.append(record)
        if n % max(1, len(timed) // POISON) == 0:
            records.append((*record[:2], b"{not json", record[3]))
    return records


async def seed(bootstrap: str, records: list[tuple[str, bytes, bytes, list]]) -> None:
    """Create the replayed topics and produce `records` in bulk: linger and big batches, acks awaited per window."""
    from connection_registry.rebuild import REPLAYED

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in REPLAYED])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=50, max_batch_size=1 << 20,
                                compression_type=None)
    await producer.start()
    try:
        pending = []
        for topic, key, value, headers in records:
            pending.append(await producer.send(topic, value, key=key, headers=headers))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def rebuild_process(bootstrap: str, dsn: str, batch_size: int) -> dict:
    """`python -m connection_registry.rebuild` into `dsn`: its report, wall time and CPU seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTION_REGISTRY_PERSONAL_DATA__")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "connection_registry.rebuild", "--database-url", dsn, "--bootstrap-servers", bootstrap,
        "--group", f"bench-rebuild-{uuid.UUID(bytes=os.urandom(16)).hex[:8]}", "--batch-size", str(batch_size),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"the rebuild failed ({proc.returncode}): {err.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"report": json.loads(out), "seconds": seconds, "cpu_seconds": cpu, "rss_mb": after.ru_maxrss / 1024}


async def run(admin_dsn: str, cfg: Config, say: Callable[[str], None]) -> dict:
    """Seed a private broker with a year of events, rebuild them into an empty database; the section."""
    t0 = time.monotonic()
    records = year_of_records(cfg.rebuild_events, cfg.rebuild_merchants)
    generated = time.monotonic() - t0
    say(f"rebuild: {len(records)} records for {cfg.rebuild_merchants} merchants generated in {generated:.0f}s")
    with KafkaBroker(num_partitions=PARTITIONS) as broker:
        t0 = time.monotonic()
        await seed(broker.bootstrap_servers, records)
        produced = time.monotonic() - t0
        say(f"rebuild: produced in {produced:.0f}s ({len(records) / produced:.0f} records/s); rebuilding")
        del records
        async with temporary_database(admin_dsn, prefix="bench_rebuild") as dsn:
            done = await rebuild_process(broker.bootstrap_servers, dsn, cfg.rebuild_batch_size)
    report, seconds = done["report"], done["seconds"]
    section = {"records": report["records"], "merchants": cfg.rebuild_merchants, "batch_size": cfg.rebuild_batch_size,
               "generate_seconds": generated, "produce_seconds": produced, "seconds": seconds,
               "events_per_second": report["records"] / seconds, "cpu_seconds": done["cpu_seconds"],
               "cpu_ms_per_1k": done["cpu_seconds"] / max(1, report["records"]) * 1e6,
               "read_seconds": report["read_seconds"], "apply_seconds": report["apply_seconds"],
               "peak_rss_mb": done["rss_mb"], "outcomes": report["outcomes"], "poison": len(report["poison"]),
               "not_ours": report["not_ours"],
               "goal_seconds": GOAL_SECONDS}
    # the process's start (imports, migrations, joining Kafka) once, plus reading and applying per event
    work = report["read_seconds"] + report["apply_seconds"]
    section["projected_1m_seconds"] = (seconds if report["records"] >= GOAL_EVENTS else
                                       seconds - work + work * GOAL_EVENTS / max(1, report["records"]))
    section["met"] = section["projected_1m_seconds"] <= GOAL_SECONDS
    return section


def table(report: dict) -> str | None:
    s = report.get("rebuild")
    if not s:
        return None
    verdict = "yes" if s["met"] else "NO"
    outcomes = ", ".join(f"{k} {v}" for k, v in s["outcomes"].items())
    rows = [["records read (merchants)", f"{s['records']} ({s['merchants']})", "", ""],
            ["seeding: generate + produce (s)", f"{s['generate_seconds']:.0f} + {s['produce_seconds']:.0f}", "", ""],
            [f"rebuild wall time (s), batches of {s['batch_size']}", f"{s['seconds']:.1f}", "", ""],
            ["  of which reading Kafka / applying (s)", f"{s['read_seconds']:.1f} / {s['apply_seconds']:.1f}", "", ""],
            ["rebuild process peak RSS (MB)", f"{s['peak_rss_mb']:.0f}", "", ""],
            ["rebuild events/s (whole process)", f"{s['events_per_second']:.0f}", "", ""],
            ["rebuild CPU ms per 1k events (its own process)", f"{s['cpu_ms_per_1k']:.0f}", "", ""],
            [f"time for 1,000,000 events (s){'' if s['records'] >= GOAL_EVENTS else ', projected'}",
             f"{s['projected_1m_seconds']:.0f}", f"<= {GOAL_SECONDS:.0f}", verdict],
            ["outcomes (poison skipped)", f"{outcomes} ({s['poison']})", "", ""]]
    return "\n".join(["registry rebuild from Kafka (private broker, empty database)",
                      *grid(["figure", "measured", "goal", "met"], rows)])
