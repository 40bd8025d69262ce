"""The out-of-order rule on real Kafka + PostgreSQL: events that arrive before what they refer to are parked
(never dropped, never dead-lettered) and applied, in event-time order, once the merchant's KeyValidated
arrives; `python -m connection_registry.rebuild` then reproduces the same rows, parked ones included."""

import asyncio
import json
import sys
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from .journey import ORG_A, ORG_B, Journey
from .live import serving, snapshot

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_early_events_are_parked_then_applied_and_a_rebuild_reproduces_them(pg_dsn, kafka_bootstrap,
                                                                                   fresh_database, unique_name):
    async with serving(pg_dsn, kafka_bootstrap, unique_name("registry-order")) as registry:
        j = Journey(f"m-{uuid4().hex[:10]}", clock=lambda: datetime.now(UTC))
        kv, sc = j.key_validated(stores=1), j.store_connected("s-1", "g-1", ORG_A)
        os_ = j.org_selected("s-1", ORG_A, "g-1")
        never = j.org_disconnected(ORG_B)  # an organisation this merchant never authorised
        pool, merchant = registry.runtime.pool, j.merchant_id

        await registry.send(os_, sc)  # before the key was validated: handled (claimed) by parking them
        parked = "SELECT event_type, waiting_for FROM parked_events WHERE merchant_id = $1 ORDER BY occurred_at"
        assert [tuple(r) for r in await pool.fetch(parked, merchant)] == [
            ("com.citruslime.cloudpos.xero.StoreConnected.v1", "KeyValidated listing store s-1"),
            ("com.citruslime.cloudpos.xero.OrgSelected.v1", "KeyValidated listing store s-1")]
        assert (await registry.http.get(f"/v1/merchants/{merchant}/summary")).status_code == 404

        await registry.send(kv, never)

        summary = (await registry.http.get(f"/v1/merchants/{merchant}/summary")).json()
        assert [(s["store_id"], s["state"], s["tenant_id"]) for s in summary["stores"]] == [
            ("s-1", "connected", str(ORG_A))]
        timeline = (await registry.http.get(f"/v1/merchants/{merchant}/timeline")).json()["entries"]
        assert [e["event_id"] for e in timeline] == [str(kv.id), str(sc.id), str(os_.id)]
        assert [tuple(r) for r in await pool.fetch(
            "SELECT event_id, waiting_for FROM parked_events WHERE merchant_id = $1", merchant)] == [
            (never.id, f"StoreConnected or OrgSelected naming organisation {ORG_B}")]
        live = await snapshot(pool, [merchant], [kv.id, sc.id, os_.id, never.id])

        code, output = await rebuild_command(fresh_database, kafka_bootstrap)
        assert code == 0, output
        assert json.loads(output)["outcomes"]["applied"] >= 3
        rebuilt = await snapshot_of(fresh_database, merchant, [kv.id, sc.id, os_.id, never.id])
        assert rebuilt == live

        again, output = await rebuild_command(fresh_database, kafka_bootstrap)
        assert again == 2 and "refusing to rebuild into a database that holds registry state" in output


async def rebuild_command(database_url: str, bootstrap: str) -> tuple[int, str]:
    """Run the command as ops would; returns its exit code and stdout (stderr when it failed)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "connection_registry.rebuild", "--database-url", database_url,
        "--bootstrap-servers", bootstrap, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode() if process.returncode == 0 else err.decode()[-2000:]


async def snapshot_of(database_url: str, merchant: str, event_ids: list) -> dict:
    conn = await asyncpg.connect(database_url)
    try:
        return await snapshot(conn, [merchant], event_ids)
    finally:
        await conn.close()

