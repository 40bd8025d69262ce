"""`python -m connection_registry.rebuild --database-url URL`: rebuild the registry from Kafka alone.

Reads KeyValidated, StoreConnected, OrgSelected, OrgDisconnected, ConnectionBroken, ConnectionRestored and
ConsentAbandoned from offset 0, plus the registry's OWN SetupCompleted, SetupFinalised and SetupReminderRequested
(source /cloudpos-xero/connection_registry): completion, finalisation, resends and reminders are decisions the
registry took, and those events are their only record outside its database. So is MerchantErased (last in every
tie): the merchant's earlier events are rebuilt, then erased, and its later ones are ignored (docs/erasure.md).
(The console's staff sessions and audit are not events: a rebuild starts them empty.)
Derived events (StoreDisconnected, ConnectionsChanged) are recomputed, not read.

Rules:
- Into an EMPTY database only (migrations are applied first); it refuses one that holds any state.
- Order: every partition is read up to the end offsets seen at start (under a fresh consumer group, whose
  offsets are committed at the end only to show how far it read), then the partitions are merged by event
  time (ties: KeyValidated, StoreConnected, OrgSelected, OrgDisconnected, ConnectionBroken, ConnectionRestored,
  ConsentAbandoned, SetupCompleted, SetupFinalised, SetupReminderRequested, MerchantErased), never reordering a
  partition. Each event goes through the live handlers, so parking and supersession rules apply exactly as they do live.
- The outbox is SUPPRESSED: the handlers' outgoing events are dropped, never staged, so a rebuild cannot
  re-notify the helpdesk or re-publish anything, even when the rebuilt database is later put in service.
- Poison records (which the live service dead-lettered) are skipped and counted; the rebuild never writes
  to Kafka. A handler error stops it (the target is then partial: drop it, fix, run again).
- Speed (issue 22: a year of 10,000 merchants, 1,000,000 events, in minutes): the merged stream is applied in
  batches of `--batch-size` events, each ONE transaction through `RegistryHandlers.handle_batch` (the live
  handlers and rules), on a transaction that keeps the graphs in memory and writes each batch's rows at its end
  (adapters/batch_writes.py, as live batches do, but with one cache for the whole run: the rebuild is its empty
  target's only writer). Records are decoded only as the merge reaches them.
- Live and rebuilt tables are identical row for row when the live service saw each merchant's events in
  event-time order (the normal case); after a live reordering (domain rule 4) the graph is the same, the
  timeline keeps the order the live service learned things in. `parked_events.parked_at` is operational.
- It needs the topics to keep their whole history (retention.ms=-1): it can only rebuild what Kafka holds.
To put a rebuilt database in service, point the registry at it with a NEW consumer group
(CONNECTION_REGISTRY_KAFKA__CONSUMER_GROUP): it re-reads from the start and its inbox skips what was applied.
"""

import argparse
import asyncio
import heapq
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from itertools import islice

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.contracts import topics
from shared.delivery import DELIVERY_MIGRATIONS, CloudEvent, PoisonMessage, apply_migrations, from_kafka
from shared.kafka_clients import client_options, kafka_settings_from_env
from shared.personal_data import PersonalData
from shared.personal_data.vault import personal_data_from, personal_data_settings_from_env
from shared.settings import KafkaSettings

from .adapters.batch_writes import GraphCache, batch_unit_of_work
from .domain import SOURCE
from .handlers import Outcome, RegistryHandlers
from .main import MIGRATIONS
from .ports import UnitOfWork

log = logging.getLogger(__name__)
REPLAYED = (topics.KEY_VALIDATED, topics.STORE_CONNECTED, topics.ORG_SELECTED, topics.ORG_DISCONNECTED,
            topics.CONNECTION_BROKEN, topics.CONNECTION_RESTORED, topics.CONSENT_ABANDONED, topics.SETUP_COMPLETED,
            topics.SETUP_FINALISED, topics.SETUP_REMINDER_REQUESTED, topics.MERCHANT_ERASED)
OWN = frozenset({topics.SETUP_COMPLETED, topics.SETUP_FINALISED, topics.SETUP_REMINDER_REQUESTED,
                 topics.MERCHANT_ERASED})
RANK = {topic: rank for rank, topic in enumerate(REPLAYED)}
BATCH_SIZE = 1000  # events per transaction: big enough to amortise round trips, small enough to keep locks short
STATE_TABLES = ("merchants", "stores", "organisations", "grants", "timeline", "parked_events", "delivery_inbox",
                "merchant_erasures")


class NotEmpty(RuntimeError):
    """The target database already holds registry state."""


@dataclass
class RebuildReport:
    group: str
    records: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    not_ours: int = 0
    poison: list[str] = field(default_factory=list)
    read_seconds: float = 0.0      # reading every partition to its end
    apply_seconds: float = 0.0     # decoding, merging and applying


async def rebuild(database_url: str, bootstrap_servers: KafkaSettings | str, group: str | None = None,
                  personal_data: PersonalData | None = None, batch_size: int = BATCH_SIZE) -> RebuildReport:
    """`personal_data`: open sealed personal fields as the live consumer does (erased merchants' read as erased).
    `batch_size`: events applied per transaction."""
    report = RebuildReport(group or f"connection_registry-rebuild-{datetime.now(UTC):%Y%m%dT%H%M%S}")
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        await apply_migrations(pool, DELIVERY_MIGRATIONS, MIGRATIONS)
        busy = [t for t in STATE_TABLES if await pool.fetchval(f"SELECT EXISTS (SELECT 1 FROM {t})")]
        if busy:
            raise NotEmpty(f"refusing to rebuild into a database that holds registry state ({', '.join(busy)})")
        handlers = RegistryHandlers(_writing_per_batch(pool))
        started = time.monotonic()
        partitions = await _read_everything(bootstrap_servers, report.group)
        report.read_seconds = time.monotonic() - started
        if personal_data is not None:
            partitions = [await _opened(records, personal_data) for records in partitions]
        streams = [_decoded(records, report) for records in partitions]
        merged = (event for _, event in heapq.merge(*streams, key=lambda item: item[0]))
        while batch := list(islice(merged, max(1, batch_size))):
            for outcome in await handlers.handle_batch(batch):
                report.outcomes[outcome.value] += 1
        report.apply_seconds = time.monotonic() - started - report.read_seconds
    finally:
        await pool.close()
    return report


def _writing_per_batch(pool: asyncpg.Pool) -> UnitOfWork:
    """Transactions that keep graphs in memory across batches, write each batch's rows at its end and publish
    nothing (adapters.batch_writes)."""
    return batch_unit_of_work(lambda: pool, GraphCache(), publish=False)


async def _opened(records: list[ConsumerRecord], personal_data: PersonalData) -> list[ConsumerRecord]:
    opened = []
    for record in records:
        kind = dict(record.headers).get("ce_type", b"").decode(errors="replace")
        opened.append(replace(record, value=await personal_data.open(kind, record.value or b"")))
    return opened


def _decoded(records: Iterable[ConsumerRecord], report: RebuildReport
             ) -> Iterator[tuple[tuple[datetime, int], CloudEvent]]:
    """One partition's events in offset order, keyed for the merge; poison and foreign events left out.
    Lazy: a record is decoded when the merge reaches it, so the decoded events never all sit in memory."""
    for record in records:
        report.records += 1
        try:
            headers = {k: v.decode() for k, v in record.headers}
            event = from_kafka(headers, record.value)
            if event.topic != record.topic:
                raise PoisonMessage(f"event type {event.type} does not belong on topic {record.topic}")
        except (PoisonMessage, UnicodeDecodeError) as error:
            report.poison.append(f"{record.topic}[{record.partition}]@{record.offset}: {error}"[:300])
            continue
        if record.topic in OWN and event.source != SOURCE:
            report.not_ours += 1
            continue
        yield (event.time, RANK[record.topic]), event


async def _read_everything(bootstrap_servers: KafkaSettings | str, group: str) -> list[list[ConsumerRecord]]:
    parts = await _partitions(bootstrap_servers)
    if not parts:
        return []
    consumer = AIOKafkaConsumer(**client_options(bootstrap_servers), group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        found: dict[TopicPartition, list[ConsumerRecord]] = {tp: [] for tp in parts}
        remaining = {tp for tp in parts if await consumer.position(tp) < end[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batch.items():
                found[tp] += [r for r in records if r.offset < end[tp]]
            remaining = {tp for tp in remaining if await consumer.position(tp) < end[tp]}
        try:
            await consumer.commit({tp: end[tp] for tp in parts if end[tp] > 0})
        except Exception:  # noqa: BLE001 - the offsets are informative only
            log.warning("could not commit the rebuild group's offsets", exc_info=True)
        return [found[tp] for tp in parts]
    finally:
        await consumer.stop()


async def _partitions(bootstrap_servers: KafkaSettings | str) -> list[TopicPartition]:
    """Every partition of the replayed topics that exist (a topic nobody published to yet is skipped)."""
    admin = AIOKafkaAdminClient(**client_options(bootstrap_servers))
    await admin.start()
    try:
        described = await admin.describe_topics(list(REPLAYED))
    finally:
        await admin.close()
    found = {d["topic"]: sorted(p["partition"] for p in d["partitions"]) for d in described if d["error_code"] == 0}
    return [TopicPartition(topic, p) for topic in REPLAYED for p in found.get(topic, ())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connection_registry.rebuild",
                                     description="Replay Kafka from offset 0 into an empty registry database.")
    parser.add_argument("--database-url", default=os.environ.get("CONNECTION_REGISTRY_REBUILD_DATABASE_URL"),
                        help="the EMPTY target database (default: $CONNECTION_REGISTRY_REBUILD_DATABASE_URL)")
    parser.add_argument("--bootstrap-servers", default=os.environ.get("CONNECTION_REGISTRY_KAFKA__BOOTSTRAP_SERVERS"),
                        help="Kafka (default: $CONNECTION_REGISTRY_KAFKA__BOOTSTRAP_SERVERS)")
    parser.add_argument("--group", help="the fresh consumer group (default: connection_registry-rebuild-<time>)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help=f"events applied per transaction (default {BATCH_SIZE})")
    parser.add_argument("--kafka-env-prefix", default="CONNECTION_REGISTRY_KAFKA__",
                        help="where the Kafka security settings come from: <prefix>SECURITY_PROTOCOL, "
                             "<prefix>SASL_USERNAME, <prefix>SASL_PASSWORD, <prefix>SSL_CA_FILE...")
    args = parser.parse_args(argv)
    if not args.database_url or not args.bootstrap_servers:
        parser.error("a target database URL and Kafka bootstrap servers are required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        kafka = kafka_settings_from_env(args.bootstrap_servers, prefix=args.kafka_env_prefix)
        personal_data = personal_data_from(personal_data_settings_from_env("CONNECTION_REGISTRY_PERSONAL_DATA__"))
        report = asyncio.run(rebuild(args.database_url, kafka, args.group, personal_data, args.batch_size))
    except NotEmpty as error:
        print(f"rebuild refused: {error}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(report), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
