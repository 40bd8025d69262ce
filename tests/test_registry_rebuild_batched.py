"""Batched writes (connection_registry.adapters.batch_writes), as the live service's partition batches and the
rebuild use them, leave the same rows (and, live, stage the same outgoing events in the same order) as the live
adapter applying the same events one by one: on a generated year of 30 merchants (bench.rebuild's), with one
merchant's events arriving out of order (parked, then applied), a merchant erased in the middle of a batch and
written to after (ignored), and redeliveries inside a batch and across batches. Real PostgreSQL, no Kafka: the
events are handed to the handlers as the rebuild's merge hands them."""

import json
import random
from dataclasses import replace
from functools import partial

import asyncpg
import pytest

from bench.rebuild import Merchant
from connection_registry.adapters.batch_writes import batch_unit_of_work
from connection_registry.adapters.postgres import PgRegistryTransaction
from connection_registry.handlers import Outcome, RegistryHandlers
from connection_registry.main import MIGRATIONS
from connection_registry.rebuild import _writing_per_batch
from local_infra.postgres import temporary_database
from shared.contracts import MerchantErased
from shared.delivery import DELIVERY_MIGRATIONS, CloudEvent, apply_migrations, unit_of_work

pytestmark = [pytest.mark.postgres]

TABLES = {
    "merchants": "SELECT * FROM merchants ORDER BY merchant_id",
    "stores": "SELECT * FROM stores ORDER BY merchant_id, store_id",
    "organisations": "SELECT * FROM organisations ORDER BY merchant_id, tenant_id",
    "grants": "SELECT * FROM grants ORDER BY merchant_id, grant_id",
    "timeline": "SELECT merchant_id, position, occurred_at, what, actor, reason, event_id, causation_id,"
                " correlation_id, store_id, tenant_id FROM timeline ORDER BY merchant_id, position",
    "parked_events": "SELECT event_id, merchant_id, event_type, occurred_at, waiting_for, headers, value"
                     " FROM parked_events ORDER BY event_id",
    "merchant_search": "SELECT * FROM merchant_search ORDER BY merchant_id",
    "merchant_erasures": "SELECT * FROM merchant_erasures ORDER BY merchant_id",
    "delivery_inbox": "SELECT consumer, event_id FROM delivery_inbox ORDER BY event_id",
}


def a_year() -> list[CloudEvent]:
    rng = random.Random(7)
    merchants = [Merchant(i, 40, rng).events for i in range(30)]
    late = merchants[3]                      # its key validation arrives after its first stores' consents
    late[0], late[1], late[2] = late[1], late[2], replace(late[0], time=late[2].time)
    erased = merchants[5]                    # erased in the middle of its year; what follows is ignored
    middle = erased[len(erased) // 2]
    erased.insert(len(erased) // 2 + 1, CloudEvent(
        data=MerchantErased(merchant_id=middle.data.merchant_id, requested_by="lena.lead@helpdesk.test",
                            reference="HD-7", requested_at=middle.time), source=middle.source, time=middle.time))
    events = sorted((e for year in merchants for e in year), key=lambda e: e.time)
    return events[:300] + events[295:305] + events[300:]   # redelivered: five inside one batch, five across two


async def applied(admin_dsn: str, events: list[CloudEvent], how: str) -> tuple[list[Outcome], dict]:
    """`how`: "one" (the live adapter, one event per transaction; "one-silent": staging nothing, as a rebuild),
    "live" (the live service's batches: a fresh cache per transaction, outgoing events staged) or "rebuild" (one
    cache for the run, nothing staged)."""
    async with temporary_database(admin_dsn, prefix="rebuild_batched") as dsn:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            await apply_migrations(pool, DELIVERY_MIGRATIONS, MIGRATIONS)
            publish = how in ("one", "live")
            one_by_one = unit_of_work(lambda: pool, partial(PgRegistryTransaction, publish=publish))
            if how.startswith("one"):
                handlers = RegistryHandlers(one_by_one)
                outcomes = [await handlers.handle(e) for e in events]
            else:
                batches = batch_unit_of_work(lambda: pool) if how == "live" else _writing_per_batch(pool)
                handlers = RegistryHandlers(one_by_one, batch_unit_of_work=batches)
                outcomes = [o for i in range(0, len(events), 64) for o in
                            await handlers.handle_batch(events[i:i + 64])]
            tables = {t: [dict(r) for r in await pool.fetch(sql)] for t, sql in TABLES.items()}
            staged = await pool.fetch("SELECT topic, record_key, headers FROM delivery_outbox ORDER BY seq")
            tables["outbox"] = [(r["topic"], r["record_key"], _header(r["headers"], "ce_type"),
                                 _header(r["headers"], "ce_subject")) for r in staged]
            return outcomes, tables
        finally:
            await pool.close()


def _header(headers: str, name: str) -> str | None:
    return dict(json.loads(headers)).get(name)


@pytest.mark.parametrize("how", ["live", "rebuild"])
async def test_batched_writes_leave_the_rows_the_live_adapter_leaves(pg_dsn: str, how: str) -> None:
    events = a_year()
    one_outcomes, one = await applied(pg_dsn, events, "one" if how == "live" else "one-silent")
    assert {Outcome.PARKED, Outcome.ERASED, Outcome.DUPLICATE} <= set(one_outcomes)   # every path is taken
    assert one["merchant_erasures"] and not one["parked_events"]       # the parked events were applied later
    batched_outcomes, batched = await applied(pg_dsn, events, how)
    assert batched_outcomes == one_outcomes
    for table in [*TABLES, "outbox"]:
        assert batched[table] == one[table], table
    if how == "live":
        assert len({topic for topic, *_ in one["outbox"]}) >= 3   # it covers several kinds of outgoing event
    else:
        assert batched["outbox"] == []    # a rebuild never re-publishes
