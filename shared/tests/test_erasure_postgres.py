"""`shared.erasure` on real PostgreSQL: one transaction with the inbox claim, counts recorded once, only the erased
merchant's rows and outbox rows (by record key) go, and late events of an erased merchant are not handled."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from shared.contracts import CloudEvent, MerchantErased
from shared.contracts.examples import key_validated
from shared.delivery import DELIVERY_MIGRATIONS, add_to_outbox, apply_migrations
from shared.erasure import PgErasure, anonymise, delete, unless_erased

pytestmark = pytest.mark.postgres
STATEMENTS = (delete("people"), anonymise("audit", "actor = 'erased'", "audit_rows"))


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(fresh_database, min_size=1, max_size=2) as pool:
        await apply_migrations(pool, DELIVERY_MIGRATIONS)
        await pool.execute("CREATE TABLE people (merchant_id text, name text);"
                           "CREATE TABLE audit (merchant_id text, actor text, action text);"
                           "CREATE TABLE merchant_erasures (merchant_id text PRIMARY KEY, event_id uuid NOT NULL,"
                           " erased_at timestamptz NOT NULL, counts jsonb NOT NULL)")
        for merchant in ("m-1", "m-2"):
            await pool.execute("INSERT INTO people VALUES ($1, 'Erin'), ($1, 'Eve')", merchant)
            await pool.execute("INSERT INTO audit VALUES ($1, 'u-' || $1, 'signed_in')", merchant)
            async with pool.acquire() as conn, conn.transaction():
                await add_to_outbox(conn, CloudEvent(data=key_validated(merchant), source="/tests"))
        yield pool


def _erased(merchant_id: str = "m-1") -> CloudEvent:
    return CloudEvent(data=MerchantErased(merchant_id=merchant_id, requested_by="ops:olivia", reference="HD-1",
                                          requested_at=datetime.now(UTC)), source="/tests")


async def test_the_merchants_rows_go_once_with_their_counts_and_nobody_elses(pool: asyncpg.Pool) -> None:
    erasure, event = PgErasure("svc", lambda: pool, STATEMENTS), _erased()
    done = await erasure.erase(event)
    assert done is not None and done.counts == {"people": 2, "audit_rows": 1, "outbox": 1}
    assert await erasure.erase(event) is None, "a redelivery erases nothing twice"
    assert await erasure.erase(_erased()) is not None           # another MerchantErased: nothing left, counts kept
    assert await pool.fetchval("SELECT counts->>'people' FROM merchant_erasures WHERE merchant_id = 'm-1'") == "2"
    assert await pool.fetchval("SELECT count(*) FROM people WHERE merchant_id = 'm-1'") == 0
    assert await pool.fetchval("SELECT actor || action FROM audit WHERE merchant_id = 'm-1'") == "erasedsigned_in"
    assert await pool.fetchval("SELECT count(*) FROM people WHERE merchant_id = 'm-2'") == 2
    assert await pool.fetchval("SELECT count(*) FROM delivery_outbox WHERE record_key = 'm-2'::bytea") == 1
    assert await pool.fetchval("SELECT count(*) FROM delivery_outbox") == 1


async def test_a_failing_statement_erases_nothing_and_claims_nothing(pool: asyncpg.Pool) -> None:
    erasure, event = PgErasure("svc", lambda: pool, (*STATEMENTS, delete("no_such_table"))), _erased()
    with pytest.raises(asyncpg.UndefinedTableError):
        await erasure.erase(event)
    assert await pool.fetchval("SELECT count(*) FROM people WHERE merchant_id = 'm-1'") == 2
    assert await pool.fetchval("SELECT count(*) FROM delivery_inbox") == 0


async def test_an_erased_merchants_late_events_are_not_handled(pool: asyncpg.Pool) -> None:
    erasure, handled = PgErasure("svc", lambda: pool, STATEMENTS), []

    async def handle(event: CloudEvent) -> None:
        handled.append(event.data.merchant_id)

    guarded = unless_erased(erasure, handle)
    await erasure.erase(_erased("m-1"))
    for merchant in ("m-1", "m-2"):
        await guarded(CloudEvent(data=key_validated(merchant), source="/tests"))
    assert handled == ["m-2"]
