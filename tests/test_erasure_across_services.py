"""Erasing a merchant across the four services on real Kafka and PostgreSQL (docs/erasure.md).

One merchant goes through the journey (sign in, validate the key, connect a store at the Xero sandbox, confirm the
organisation, "I have finished": the helpdesk notification is recorded); a second merchant signs in and validates
its key, as a control. `python -m tools.ops erase-merchant` erases the first. Then EVERY text, jsonb, bytea, inet,
uuid and array column of EVERY table of the four databases is searched for the first merchant's personal values:
none is left. The registry keeps the counts, the control merchant is untouched, the Xero sandbox holds no
connection and no live grant of the erased merchant, and replaying the erased merchant's old events (as they were,
and as new events) brings nothing back.
"""

import asyncio
import functools
import json
import sys
from dataclasses import replace
from uuid import uuid4

import asyncpg
import httpx
import pytest

from local_infra.merchant import CLOUDPOS_TOKENS, Merchant, sign_in, to_xero_consent, validate_key
from local_infra.postgres import temporary_database
from connection_registry.rebuild import rebuild
from notifier.main import build_app as build_notifier
from notifier.settings import NotifierSettings
from sandboxes.xero import STEVE_TEST_STORE_TENANT_ID
from sandboxes.xero.demo_data import STEVE_EMAIL, STEVE_SUB, STEVE_XERO_USERID
from services.oauth_gateway.tests.stack import CONTROL, SERVICE_TOKEN, Stack, gateway_stack
from shared.contracts import topics

from .support.kafka import committed_offset, eventually, produce, read_topic
from .support.services import running
from .test_tracing import NOTIFIER, _real_key_validator, _registry_knows

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

ERIN_ADDRESS, CARL_ADDRESS = "203.0.113.45", "198.51.100.23"     # documentation addresses, one per merchant
# Buckets of the shared rate limiter are keyed by address or account and expire within their window (minutes);
# they are not a merchant's rows (docs/erasure.md, "What is not erased").
NOT_SCANNED = {"rate_limit_hits", "rate_limit_slices", "rate_limit_holds"}
SCANNED_TYPES = ("text", "character varying", "jsonb", "json", "bytea", "inet", "uuid", "ARRAY")


async def test_an_erased_merchant_leaves_no_personal_datum_anywhere(pg_dsn, kafka_bootstrap, unique_name):
    group, kv_group, notifier_group = unique_name("erase-gw"), unique_name("erase-kv"), unique_name("erase-nt")
    async with temporary_database(pg_dsn, prefix="erase_kv") as kv_dsn:
        built: list = []
        real_kv = _real_key_validator(built, kv_dsn, kafka_bootstrap, kv_group)
        async with gateway_stack(pg_dsn, kafka_bootstrap, group, use_real_registry=True, key_validator=real_kv,
                                 trusted_proxies=("127.0.0.1/32",)) as stack, \
                running(build_notifier, NotifierSettings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                        group=notifier_group, **NOTIFIER) as notifier:
            (key_validator,) = built
            async with key_validator.router.lifespan_context(key_validator):
                erin = replace(stack, merchant=await _seed(stack, "erin"), browsers=[])
                carl = replace(stack, merchant=await _seed(stack, "carl"), browsers=[])
                await _journey(erin)
                await eventually(lambda: _notified(notifier, erin.merchant.merchant_id), timeout=60,
                                 what="the notifier to record the helpdesk notification")
                carl_browser = carl.browser()
                carl_browser.http.headers["X-Forwarded-For"] = CARL_ADDRESS
                await sign_in(carl, carl_browser)
                await validate_key(carl, carl_browser)
                await eventually(lambda: _registry_knows(carl), what="the registry to learn the control merchant")

                databases = {"oauth_gateway": stack.dsn, "key_validator": kv_dsn,
                             "connection_registry": await _database_of(pg_dsn, f"{group}-reg"),
                             "notifier": await _database_of(pg_dsn, notifier_group)}
                erin_values = _personal_values(erin.merchant)
                _scan = functools.partial(_scan_for, merchant_id=erin.merchant.merchant_id)
                found = await _scan(databases, erin_values)
                assert {d for d, _, _ in found} == set(databases), f"the journey left data everywhere: {found}"
                carl_before = await _rows_of(databases, carl.merchant.merchant_id)

                answer = await _ops_erase(stack, kafka_bootstrap, erin.merchant.merchant_id,
                                          groups=(group, kv_group, notifier_group))
                assert answer["complete"] is True, answer
                registry = answer["registry"]
                assert (registry["known"], registry["stores"], registry["organisations"]) == (True, 2, 1), registry
                assert registry["timeline_rows"] > 0 and registry["events"] > 0
                assert registry["requested_by"] == "ops:olivia" and registry["reference"] == "HD-2101"

                assert await _scan(databases, erin_values) == [], "personal data left after the erasure"
                counts = await _service_counts(databases, erin.merchant.merchant_id)
                assert counts["key_validator"]["validation_attempts"] >= 1
                assert counts["oauth_gateway"]["connections"] == 1 and counts["oauth_gateway"]["grants"] == 1
                assert counts["notifier"]["deliveries"] >= 1
                assert await _rows_of(databases, carl.merchant.merchant_id) == carl_before, "control touched"
                await _timeline_still_append_only(databases["connection_registry"], erin.merchant.merchant_id,
                                                  carl.merchant.merchant_id)
                assert await _xero_holds_nothing(stack)

                replayed = await _replay(kafka_bootstrap, erin.merchant.merchant_id)
                await eventually(lambda: _consumed(kafka_bootstrap, f"{group}-reg", replayed[topics.KEY_VALIDATED]
                                                   + replayed[topics.STORE_CONNECTED] + replayed[topics.ORG_SELECTED]),
                                 timeout=60, what="the registry to consume the replayed events")
                await eventually(lambda: _consumed(kafka_bootstrap, notifier_group, replayed[topics.SETUP_COMPLETED]),
                                 timeout=60, what="the notifier to consume the replayed SetupCompleted")
                assert await _scan(databases, erin_values) == [], "a replay brought the erased merchant back"
                async with httpx.AsyncClient(base_url=stack.urls["registry"],
                                             headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}) as client:
                    summary = await client.get(f"/v1/merchants/{erin.merchant.merchant_id}/summary")
                assert summary.status_code == 404
                await _rebuild_leaves_it_erased(pg_dsn, kafka_bootstrap, erin.merchant.merchant_id,
                                                carl.merchant.merchant_id)


async def _seed(stack: Stack, who: str) -> Merchant:
    """A merchant with names of its own (the scan looks for them), two stores, one user and a Xero API key."""
    suffix = uuid4().hex[:8]
    merchant_id = f"m-{who}-{suffix}"
    stores = {f"{merchant_id}-s1": f"{who.title()} Main Street {suffix}",
              f"{merchant_id}-s2": f"{who.title()} Harbour {suffix}"}
    async with httpx.AsyncClient(base_url=stack.cloudpos_url) as c:
        seeded = await c.post("/_sandbox/merchants", headers={"x-sandbox-control-token": CLOUDPOS_TOKENS["control"]},
                              json={"merchant_id": merchant_id, "name": f"{who.title()} Emporium {suffix}",
                                    "licence": "pro_plus",
                                    "stores": [{"store_id": k, "name": v} for k, v in stores.items()],
                                    "users": [{"user_id": f"u-{merchant_id}", "username": f"{who}.{suffix}@shop.test",
                                               "password": "Merchant-Pass-2026!",
                                               "display_name": f"{who.title()} Rider {suffix}"}]})
        assert seeded.status_code == 201, seeded.text
        issued = await c.post(f"/support/v1/merchants/{merchant_id}/api-keys",
                              headers={"Authorization": f"Bearer {CLOUDPOS_TOKENS['support']}"},
                              json={"label": "Xero API Client", "service": "xero"})
        assert issued.status_code == 201, issued.text
    return Merchant(merchant_id, f"{who}.{suffix}@shop.test", issued.json()["api_key"], stores)


def _personal_values(merchant: Merchant) -> dict[str, str]:
    suffix = merchant.merchant_id.rsplit("-", 1)[1]
    who = merchant.merchant_id.split("-")[1]
    return {"Cloud POS user id": f"u-{merchant.merchant_id}", "contact email": merchant.username,
            "display name": f"{who.title()} Rider {suffix}", "merchant name": f"{who.title()} Emporium {suffix}",
            **{f"store name {i}": name for i, name in enumerate(merchant.stores.values(), start=1)},
            "Xero user email": STEVE_EMAIL, "Xero user name": "Steve Tester", "Xero user id": STEVE_XERO_USERID,
            "Xero user sub": STEVE_SUB, "client address": ERIN_ADDRESS}


async def _journey(site: Stack) -> None:
    browser = site.browser()
    browser.http.headers["X-Forwarded-For"] = ERIN_ADDRESS
    store = next(iter(site.merchant.stores))
    await sign_in(site, browser)
    await validate_key(site, browser)
    await eventually(lambda: _registry_knows(site), what="the registry to learn the merchant")
    await to_xero_consent(site, browser, store)
    await browser.submit("Allow access", {"tenant_id": STEVE_TEST_STORE_TENANT_ID})
    await browser.submit("Confirm Selection", {"tenant_id": STEVE_TEST_STORE_TENANT_ID})
    assert "is now connected" in browser.text(), browser.text()
    await eventually(lambda: _registry_knows(site, connected=store), what="the registry to learn the store")
    await browser.submit("I have finished connecting stores")
    assert "Helpdesk Team will now arrange" in browser.text(), browser.text()


async def _notified(notifier, merchant_id: str) -> bool:  # noqa: ANN001 - a ServiceRuntime
    return await notifier.pool.fetchval("SELECT count(*) FROM helpdesk_deliveries WHERE merchant_id = $1",
                                        merchant_id) > 0


async def _database_of(pg_dsn: str, group: str) -> str:
    """The DSN of the temporary database a service of that consumer group runs on (named after the group)."""
    from local_infra.postgres import with_database

    conn = await asyncpg.connect(pg_dsn)
    try:
        (name,) = [r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1",
                                                           group.replace("-", "_")[:40] + "\\_%")]
    finally:
        await conn.close()
    return with_database(pg_dsn, name)


SHARED_IDENTITY = ("Xero user email", "Xero user name", "Xero user id", "Xero user sub")
"""The sandbox's demo Xero user (Steve) consents for every merchant of every test; the registry and the notifier
read the session-wide topics from the start, so other tests' events about Steve reach them (some parked: their
merchants are unknown here). Those values count in these two databases only in rows that name this merchant."""
TOPIC_FED = ("connection_registry", "notifier")


async def _scan_for(databases: dict[str, str], values: dict[str, str],
                    merchant_id: str) -> list[tuple[str, str, str]]:
    """(database, table.column, what) for every column of every table holding one of the values."""
    found = []
    for database, dsn in databases.items():
        conn = await asyncpg.connect(dsn)
        try:
            columns = await conn.fetch(
                "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
                " JOIN information_schema.tables t USING (table_schema, table_name)"
                " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.data_type = ANY($1)",
                list(SCANNED_TYPES))
            for table, column, kind in columns:
                if table in NOT_SCANNED:
                    continue
                for what, value in values.items():
                    holds = (f'position(convert_to($1, \'UTF8\') in "{column}") > 0' if kind == "bytea"
                             else f'strpos(lower("{column}"::text), lower($1)) > 0')
                    if what in SHARED_IDENTITY and database in TOPIC_FED:
                        holds += ' AND strpos(t::text, $2) > 0'
                        sql = f'SELECT EXISTS (SELECT FROM "{table}" t WHERE {holds})'
                        hit = await conn.fetchval(sql, value, merchant_id)
                    else:
                        hit = await conn.fetchval(f'SELECT EXISTS (SELECT FROM "{table}" t WHERE {holds})', value)
                    if hit:
                        found.append((database, f"{table}.{column}", what))
        finally:
            await conn.close()
    return found


async def _rows_of(databases: dict[str, str], merchant_id: str) -> dict[str, dict[str, int]]:
    """How many rows of each table name the merchant (a merchant_id column), per database."""
    counts: dict[str, dict[str, int]] = {}
    for database, dsn in databases.items():
        conn = await asyncpg.connect(dsn)
        try:
            tables = await conn.fetch("SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
                                      " AND column_name = 'merchant_id' AND table_name <> 'merchant_erasures'")
            counts[database] = {t["table_name"]: await conn.fetchval(
                f'SELECT count(*) FROM "{t["table_name"]}" WHERE merchant_id = $1', merchant_id) for t in tables}
        finally:
            await conn.close()
    return counts


async def _service_counts(databases: dict[str, str], merchant_id: str) -> dict[str, dict[str, int]]:
    found = {}
    for database in ("oauth_gateway", "key_validator", "notifier"):
        conn = await asyncpg.connect(databases[database])
        try:
            found[database] = json.loads(await conn.fetchval(
                "SELECT counts FROM merchant_erasures WHERE merchant_id = $1", merchant_id))
        finally:
            await conn.close()
    return found


async def _ops_erase(stack: Stack, kafka_bootstrap: str, merchant_id: str, *, groups: tuple[str, ...]) -> dict:
    """The ops command, as on-call runs it (its own process)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tools.ops", "--bootstrap-servers", kafka_bootstrap, "erase-merchant", merchant_id,
        "--requested-by", "olivia", "--reference", "HD-2101", "--registry-url", stack.urls["registry"],
        "--api-token", SERVICE_TOKEN, "--wait-seconds", "90", *[a for g in groups for a in ("--group", g)],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=150)
    assert process.returncode == 0, (out.decode(), err.decode()[-3000:])
    return json.loads(out)


async def _timeline_still_append_only(dsn: str, erased: str, control: str) -> None:
    """Only the erasing transaction, and only for the merchant it names, may delete timeline lines."""
    conn = await asyncpg.connect(dsn)
    try:
        for setting in ("", erased):
            async with conn.transaction():
                await conn.execute("SELECT set_config('connection_registry.erasing', $1, true)", setting)
                with pytest.raises(asyncpg.RaiseError, match="append-only"):
                    await conn.execute("DELETE FROM timeline WHERE merchant_id = $1", control)
        assert await conn.fetchval("SELECT count(*) FROM timeline WHERE merchant_id = $1", control) > 0
    finally:
        await conn.close()


async def _rebuild_leaves_it_erased(pg_dsn: str, kafka_bootstrap: str, erased: str, control: str) -> None:
    """The registry rebuilt from offset 0 (every topic, the replayed copies too) has the erasure, not the merchant."""
    async with temporary_database(pg_dsn, prefix="erase_rebuild") as dsn:
        report = await rebuild(dsn, kafka_bootstrap, f"erase-rebuild-{uuid4().hex[:8]}")
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT count(*) FROM merchant_erasures WHERE merchant_id = $1", erased) == 1
            for table in ("merchants", "stores", "organisations", "grants", "timeline", "parked_events"):
                assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE merchant_id = $1", erased) == 0, \
                    (table, report)
            assert await conn.fetchval("SELECT count(*) FROM stores WHERE merchant_id = $1", control) == 2
        finally:
            await conn.close()


async def _xero_holds_nothing(stack: Stack) -> bool:
    async with httpx.AsyncClient(base_url=stack.xero_url, headers={"x-sandbox-control-token": CONTROL}) as client:
        state = (await client.get("/_sandbox/state")).json()
    live = [g for g in state["grants"] if g["sub"] == STEVE_SUB and g["usable"]]
    return not [c for c in state["connections"] if c["sub"] == STEVE_SUB] and not live


async def _replay(bootstrap: str, merchant_id: str) -> dict[str, list[tuple[str, int, int]]]:
    """The merchant's records on the topics the registry and the notifier consume, produced again: as they were
    (a replay) and under new event ids (as if published again). Returns (topic, partition, offset) of the copies'
    originals, per topic."""
    replayed = {}
    for topic in (topics.KEY_VALIDATED, topics.STORE_CONNECTED, topics.ORG_SELECTED, topics.SETUP_COMPLETED):
        records = await read_topic(bootstrap, topic, key=merchant_id.encode())
        for record in records:
            await produce(bootstrap, topic, record.value, key=record.key, headers=list(record.headers))
            fresh = [(k, str(uuid4()).encode() if k == "ce_id" else v) for k, v in record.headers]
            await produce(bootstrap, topic, record.value, key=record.key, headers=fresh)
        replayed[topic] = [(topic, r.partition, r.offset) for r in records]
    return replayed


async def _consumed(bootstrap: str, group: str, originals: list[tuple[str, int, int]]) -> bool:
    """The group committed past the two copies produced after each original (the same partition: the same key)."""
    for topic, partition, _ in originals:
        ends = await _end_offset(bootstrap, topic, partition)
        if await committed_offset(bootstrap, group, topic, partition) < ends:
            return False
    return True


async def _end_offset(bootstrap: str, topic: str, partition: int) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        return (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()
