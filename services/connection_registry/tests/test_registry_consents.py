"""ConsentAbandoned on real Kafka + PostgreSQL: delivered twice, applied once; the summary API shows the store
eligible again, the helpdesk page says why, the released organisation is disconnected while the one a store uses
stays, nothing is published, and a rebuild from offset zero reproduces the rows."""

from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from connection_registry.rebuild import rebuild

from .journey import ORG_A, ORG_B, Journey
from .live import serving, snapshot
from .test_consents import abandoned
from .test_registry_health import helpdesk_pages

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_an_abandoned_consent_clears_the_waiting_store_once_and_rebuilds_the_same(
        pg_dsn, kafka_bootstrap, fresh_database, unique_name):
    async with serving(pg_dsn, kafka_bootstrap, unique_name("registry-consents")) as registry:
        j = Journey(f"m-{uuid4().hex[:10]}", clock=lambda: datetime.now(UTC))
        setup = [j.key_validated(stores=2), j.store_connected("s-2", "g-1", ORG_A),
                 j.org_selected("s-2", ORG_A, "g-1")]
        await registry.send(*setup)
        waiting = j.store_connected("s-1", "g-1", ORG_A, ORG_B)
        await registry.send(waiting)
        gone = abandoned(j, waiting, ORG_B)

        await registry.send(gone, gone)                 # delivered twice (a redelivery)

        summary = (await registry.http.get(f"/v1/merchants/{j.merchant_id}/summary")).json()
        assert [(s["store_id"], s["state"], s["reason"]) for s in summary["stores"]] == [
            ("s-1", "eligible", "consent_abandoned"), ("s-2", "connected", None)]
        assert [o["tenant_id"] for o in summary["organisations"]] == [str(ORG_A)]
        orgs = {r["tenant_id"]: (r["state"], r["reason"]) for r in await registry.runtime.pool.fetch(
            "SELECT tenant_id, state, reason FROM organisations WHERE merchant_id = $1", j.merchant_id)}
        assert orgs == {ORG_A: ("authorised", None), ORG_B: ("disconnected", "consent_abandoned")}
        page = (await helpdesk_pages(registry, j.merchant_id))["merchant"]
        assert "Not connected (Xero access given, no organisation chosen in time)" in page
        assert page.count("no organisation selected in time") == 1          # one timeline line, not two
        outbox = await registry.runtime.pool.fetchval(
            "SELECT count(*) FROM delivery_outbox WHERE record_key = $1", j.merchant_id.encode())
        assert outbox == 0
        consumed = [e.id for e in (*setup, waiting, gone)]
        live = await snapshot(registry.runtime.pool, [j.merchant_id], consumed)

    await rebuild(fresh_database, kafka_bootstrap, unique_name("registry-consents-rebuild"))

    conn = await asyncpg.connect(fresh_database)
    try:
        rebuilt = await snapshot(conn, [j.merchant_id], consumed)
    finally:
        await conn.close()
    for table in ("merchants", "stores", "organisations", "grants", "timeline", "parked_events"):
        assert rebuilt[table] == live[table], table
