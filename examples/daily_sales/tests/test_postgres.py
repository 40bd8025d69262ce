"""The PostgreSQL adapter on a real server: the merchant round trip, planning once, holding a day for one poster
at a time (SKIP LOCKED, lease), finishing only the attempt that still holds it, and the 429 deferral."""

import asyncio
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from uuid import UUID

import asyncpg
import pytest

from daily_sales.adapters.postgres import PgEventTransaction, PgLedger
from daily_sales.domain import Decision, DueDay, Link, Merchant, Status
from daily_sales.main import MIGRATIONS
from shared.delivery import DELIVERY_MIGRATIONS, apply_migrations, unit_of_work

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SUNDAY = date(2026, 3, 1)
T1, T2 = UUID(int=1), UUID(int=2)


@pytest.fixture
async def pool(fresh_database):
    pool = await asyncpg.create_pool(fresh_database, min_size=2, max_size=10)
    await apply_migrations(pool, DELIVERY_MIGRATIONS, MIGRATIONS)
    yield pool
    await pool.close()


async def save(pool, merchant: Merchant) -> None:
    async with unit_of_work(lambda: pool, PgEventTransaction)() as tx:
        await tx.merchants.lock(merchant.merchant_id)
        await tx.merchants.save(merchant)


def merchant(*links: Link, finalised: bool = True) -> Merchant:
    return Merchant("m-1", "Steve's Cycles", NOW if finalised else None, "helpdesk" if finalised else None, links,
                    NOW, MappingProxyType({T2: NOW - timedelta(days=1)}))


async def test_a_merchant_round_trips_and_a_first_lock_creates_an_empty_one(pool):
    async with unit_of_work(lambda: pool, PgEventTransaction)() as tx:
        assert await tx.merchants.lock("m-new") == Merchant("m-new")
    saved = merchant(Link("s-1", "One", T1, "Org 1"), Link("s-2", "Two", T1, "Org 1"))
    await save(pool, saved)
    async with unit_of_work(lambda: pool, PgEventTransaction)() as tx:
        assert await tx.merchants.lock("m-1") == saved
    await save(pool, merchant(Link("s-2", "Two", T1, "Org 1")))
    assert await pool.fetchval("SELECT count(*) FROM store_links") == 1


async def test_only_finalised_merchants_stores_are_postable_and_planning_twice_adds_nothing(pool):
    await save(pool, merchant(Link("s-1", "One", T1, "Org 1")))
    ledger = PgLedger(lambda: pool)
    [store] = await ledger.postable_stores()
    assert (store.store_id, store.tenant_id, store.finalised_at) == ("s-1", T1, NOW)
    days = [DueDay("m-1", "s-1", T1, SUNDAY)]
    assert [await ledger.plan(days, NOW), await ledger.plan(days, NOW)] == [1, 0]
    await save(pool, merchant(Link("s-1", "One", T1, "Org 1"), finalised=False))
    assert await ledger.postable_stores() == []
    assert await ledger.claim_due(NOW, 5, NOW + timedelta(minutes=5)) == []  # not finalised: not held


async def test_concurrent_posters_never_hold_the_same_day_and_a_dead_ones_lease_ends(pool):
    await save(pool, merchant(*(Link(f"s-{i}", f"Store {i}", T1, "Org 1") for i in range(10))))
    ledger = PgLedger(lambda: pool)
    await ledger.plan([DueDay("m-1", f"s-{i}", T1, SUNDAY) for i in range(10)], NOW)
    lease = NOW + timedelta(minutes=5)
    held = await asyncio.gather(*(ledger.claim_due(NOW, 3, lease) for _ in range(5)))
    stores = [c.store_id for batch in held for c in batch]
    assert sorted(stores) == sorted(f"s-{i}" for i in range(10)) and len(set(stores)) == 10
    assert await ledger.claim_due(NOW + timedelta(minutes=4), 10, lease) == []
    again = await ledger.claim_due(lease, 10, lease + timedelta(minutes=5))
    assert len(again) == 10 and all(c.resent and c.attempt == 2 for c in again)


async def test_finish_records_only_the_attempt_that_still_holds_the_day(pool):
    await save(pool, merchant(Link("s-1", "One", T1, "Org 1")))
    ledger = PgLedger(lambda: pool)
    await ledger.plan([DueDay("m-1", "s-1", T1, SUNDAY)], NOW)
    [first] = await ledger.claim_due(NOW, 1, NOW + timedelta(seconds=1))
    [second] = await ledger.claim_due(NOW + timedelta(seconds=2), 1, NOW + timedelta(minutes=5))
    done = Decision(Status.POSTED, None, None, "inv-1", "INV-0001")
    assert await ledger.finish(first, done, NOW) is False
    assert await ledger.finish(second, done, NOW) is True
    row = await pool.fetchrow("SELECT status, attempts, invoice_id, invoice_number, posted_at FROM daily_postings")
    assert dict(row) == {"status": "posted", "attempts": 2, "invoice_id": "inv-1", "invoice_number": "INV-0001",
                         "posted_at": NOW}
    assert await ledger.claim_due(NOW + timedelta(days=9), 1, NOW + timedelta(days=10)) == []


async def test_a_429_defers_the_organisations_pending_days_and_a_reconnection_rechecks(pool):
    await save(pool, merchant(Link("s-1", "One", T1, "Org 1"), Link("s-2", "Two", T1, "Org 1"),
                              Link("s-3", "Three", T2, "Org 2")))
    ledger = PgLedger(lambda: pool)
    await ledger.plan([DueDay("m-1", f"s-{i}", T1 if i < 3 else T2, SUNDAY) for i in (1, 2, 3)], NOW)
    later = NOW + timedelta(minutes=2)
    assert await ledger.defer_tenant(T1, later) == 2
    assert [c.store_id for c in await ledger.claim_due(NOW, 5, NOW + timedelta(minutes=5))] == ["s-3"]
    await pool.execute("UPDATE daily_postings SET status = 'reconnect_needed', next_attempt_at = $1"
                       " WHERE store_id = 's-1'", NOW + timedelta(hours=1))
    async with unit_of_work(lambda: pool, PgEventTransaction)() as tx:
        assert await tx.postings.recheck(["s-1", "s-2"], NOW) == 1
    assert [c.store_id for c in await ledger.claim_due(NOW, 5, NOW + timedelta(minutes=5))] == ["s-1"]
