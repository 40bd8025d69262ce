"""Retention of the delivery kit's tables on real PostgreSQL: published outbox rows go after their retention (never an
unpublished one), in batches; inbox claims go only behind a horizon that has stood for the grace, and an old event
redelivered after its claim went is still applied once."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.contracts import CloudEvent
from shared.contracts.examples import key_validated
from shared.delivery import DELIVERY_MIGRATIONS, add_to_outbox, apply_migrations, transaction
from shared.metrics import sample
from shared.retention import GRACE, InboxHorizon, Pruner, Rule, outbox_rule
from shared.settings import RetentionSettings

pytestmark = pytest.mark.postgres
SETTINGS = RetentionSettings(batch_size=2)
CONSUMER = "retention-test"


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(fresh_database, min_size=1, max_size=4) as pool:
        await apply_migrations(pool, DELIVERY_MIGRATIONS)
        await pool.execute("CREATE TABLE effects (event_id uuid NOT NULL)")
        yield pool


def _event(at: datetime) -> CloudEvent:
    return CloudEvent(data=key_validated("m-1"), source="/tests", time=at)


async def _stage(pool: asyncpg.Pool, *, published: datetime | None) -> CloudEvent:
    event = _event(datetime.now(UTC))
    async with pool.acquire() as conn, conn.transaction():
        await add_to_outbox(conn, event)
        await conn.execute("UPDATE delivery_outbox SET published_at = $2 WHERE event_id = $1", event.id, published)
    return event


async def test_published_outbox_rows_go_after_their_retention_in_batches(pool: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    old = [await _stage(pool, published=now - timedelta(days=8)) for _ in range(5)]
    young = await _stage(pool, published=now - timedelta(days=6))
    waiting = await _stage(pool, published=None)
    before = sample("retention_pruned_rows_total", {"service": "kit", "kind": "outbox"})
    pruned = await Pruner("kit", lambda: pool, [outbox_rule(SETTINGS)], SETTINGS).run_once()
    kept = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM delivery_outbox")}
    assert kept == {young.id, waiting.id} and not kept & {e.id for e in old}
    assert pruned["outbox"] == 5  # three batches of at most two rows
    assert sample("retention_pruned_rows_total", {"service": "kit", "kind": "outbox"}) - before == 5


async def _apply(pool: asyncpg.Pool, event: CloudEvent) -> None:
    """A consumer's handler: the effect and the claim in one transaction, nothing when already claimed."""
    async with transaction(pool) as tx:
        if await tx.claim(CONSUMER, event.id):
            await tx.connection.execute("INSERT INTO effects (event_id) VALUES ($1)", event.id)


async def _effects(pool: asyncpg.Pool, event: CloudEvent) -> int:
    return await pool.fetchval("SELECT count(*) FROM effects WHERE event_id = $1", event.id)


async def test_an_old_event_redelivered_after_its_claim_was_pruned_is_not_applied_twice(pool: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    old, young = _event(now - timedelta(days=61)), _event(now - timedelta(days=1))
    consume = InboxHorizon("kit", lambda: pool, ttl=0).guard(lambda event: _apply(pool, event))
    for event in (old, young):
        await consume(event)
    await pool.execute("UPDATE delivery_inbox SET processed_at = $2 WHERE event_id = $1", old.id,
                       now - timedelta(days=61))

    first = await Pruner("kit", lambda: pool, [], SETTINGS, clock=lambda: now).run_once()
    assert first["inbox"] == 0  # the horizon is only announced: a consumer may still hold the previous one
    soon = await Pruner("kit", lambda: pool, [], SETTINGS, clock=lambda: now + timedelta(minutes=29)).run_once()
    assert soon["inbox"] == 0  # a consumer may still be inside a handler with the previous horizon
    second = await Pruner("kit", lambda: pool, [], SETTINGS, clock=lambda: now + GRACE).run_once()
    claims = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM delivery_inbox")}
    assert second["inbox"] == 1 and claims == {young.id}

    for event in (old, young):  # both redelivered: a replay, a rebalance, a dead letter replayed
        await consume(event)
    assert (await _effects(pool, old), await _effects(pool, young)) == (1, 1)


async def test_without_a_horizon_nothing_is_skipped_and_no_claim_goes(pool: asyncpg.Pool) -> None:
    """A fresh database (the registry's rebuild) replays everything; a round that only announces prunes nothing."""
    ancient = _event(datetime.now(UTC) - timedelta(days=3650))
    await InboxHorizon("kit", lambda: pool, ttl=0).guard(lambda event: _apply(pool, event))(ancient)
    assert await _effects(pool, ancient) == 1


async def test_one_kind_failing_leaves_the_others_to_run(pool: asyncpg.Pool) -> None:
    await _stage(pool, published=datetime.now(UTC) - timedelta(days=8))
    broken = Rule("gone", timedelta(days=1), "DELETE FROM no_such_table WHERE $1::timestamptz IS NULL LIMIT $2")
    pruned = await Pruner("kit", lambda: pool, [broken, outbox_rule(SETTINGS)], SETTINGS).run_once()
    assert pruned["gone"] == 0 and pruned["outbox"] == 1
