"""The helpdesk's lists read many merchants' graphs in one round trip: on real PostgreSQL they must be exactly the
graphs read one by one, in the lists' order, within their limit (seeded the way `make bench`'s lifecycle seeds)."""

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from bench.lifecycle_seed import GrantSeed, MerchantSeed, StoreSeed, seed_registry
from connection_registry.adapters.postgres import PgRegistryReads
from local_infra import temporary_database

pytestmark = [pytest.mark.postgres]


def _merchant(n: int) -> MerchantSeed:
    user = {"sub": f"sub-{n}", "xero_userid": str(uuid.uuid4()), "email": f"u{n}@example.test", "name": f"U {n}",
            "auth_event_id": str(uuid.uuid4())}
    stores = tuple(StoreSeed(f"s-{n}-{k}", f"Store {n}.{k}", uuid.uuid4(), f"Org {n}", uuid.uuid4(), f"g-{n}",
                             broken=(n % 4 == 0 and k == 0)) for k in range(3))
    return MerchantSeed(f"m-{n:03}", f"Merchant {n}", f"u-{n}", (GrantSeed(f"g-{n}", user, stores),),
                        completed=n % 3 != 0, finalised=n % 3 != 0 and n % 5 == 0)


async def test_the_helpdesk_lists_are_the_graphs_read_one_by_one_in_order(pg_dsn):
    merchants = [_merchant(n) for n in range(1, 41)]
    async with temporary_database(pg_dsn, prefix="helpdesk_lists") as dsn:
        await seed_registry(dsn, merchants, datetime.now(UTC))
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            reads = PgRegistryReads(lambda: pool)
            awaiting = await reads.awaiting_finalisation(10)
            attention = await reads.needing_attention(100)
            expected_awaiting = [m.merchant_id for m in merchants if m.completed and not m.finalised][:10]
            expected_attention = [m.merchant_id for m in merchants if any(s.broken for s in m.stores)]

            assert [g.merchant_id for g in awaiting] == expected_awaiting
            assert [g.merchant_id for g in attention] == expected_attention
            for graph in awaiting + attention:
                assert graph == await reads.graph(graph.merchant_id)
            assert len(awaiting[0].stores) == 3 and awaiting[0].merchant.completion is not None
        finally:
            await pool.close()
