"""examples/daily_sales against the REAL gateway: its platform API and proxy over HTTP, the Xero and Cloud POS
sandboxes, real Kafka and PostgreSQL. Exactly one invoice per store per day, however often it runs or restarts."""

from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from daily_sales.main import build_app
from daily_sales.settings import DailySalesSettings
from local_infra.merchant import CLOUDPOS_TOKENS, connect, ready
from local_infra.postgres import temporary_database
from sandboxes.xero import STEVE_PREMIUM_TENANT_ID, STEVE_TEST_STORE_TENANT_ID
from services.oauth_gateway.tests.stack import CONTROL, PLATFORM_TOKEN, Stack, gateway_stack
from shared.contracts import CloudEvent, SetupCompleted, SetupFinalised, StoreLink

from .support.kafka import eventually, publish

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)      # a Tuesday: the day owed is Monday 2 March
DAY = date(2026, 3, 2)
SOURCE = "/cloudpos-xero/connection_registry"


@asynccontextmanager
async def poster(stack: Stack, dsn: str, kafka: str, group: str):  # noqa: ANN201
    settings = DailySalesSettings(
        database={"url": dsn}, kafka={"bootstrap_servers": kafka, "consumer_group": group},
        platform_api={"base_url": stack.urls["platform"], "token": PLATFORM_TOKEN},
        cloudpos={"base_url": stack.cloudpos_url, "platform_token": CLOUDPOS_TOKENS["platform"]},
        posting={"poll_interval_seconds": 0.5})
    app = build_app(settings, clock=lambda: NOW)
    async with app.router.lifespan_context(app):
        yield app


async def invoices(stack: Stack, tenant: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=stack.xero_url, headers={"x-sandbox-control-token": CONTROL}) as c:
        return (await c.get(f"/_sandbox/tenants/{tenant}/invoices")).json()["invoices"]


async def test_finalised_stores_get_one_invoice_each_per_day_through_the_gateway(pg_dsn, kafka_bootstrap,
                                                                                 unique_name):
    async with gateway_stack(pg_dsn, kafka_bootstrap, unique_name("sales-gw")) as stack, \
            temporary_database(pg_dsn, prefix="daily_sales") as dsn:
        browser = await ready(stack)
        (store_1, name_1), (store_2, name_2) = stack.merchant.stores.items()
        await connect(stack, browser, store_1, STEVE_TEST_STORE_TENANT_ID)
        await connect(stack, browser, store_2, STEVE_PREMIUM_TENANT_ID)
        merchant = stack.merchant.merchant_id
        links = (StoreLink(store_id=store_1, store_name=name_1, tenant_id=STEVE_TEST_STORE_TENANT_ID,
                           organisation_name="Steve Test Store"),
                 StoreLink(store_id=store_2, store_name=name_2, tenant_id=STEVE_PREMIUM_TENANT_ID,
                           organisation_name="Steve Premium Ltd"))
        await publish(kafka_bootstrap, CloudEvent(
            data=SetupCompleted(merchant_id=merchant, merchant_name="Steve's Cycles", links=links,
                                completed_by=f"u-{merchant}"), source=SOURCE, time=NOW - timedelta(hours=2)),
            CloudEvent(data=SetupFinalised(merchant_id=merchant, finalised_by="helpdesk.alice"), source=SOURCE,
                       time=NOW - timedelta(hours=1)))
        refs = {STEVE_TEST_STORE_TENANT_ID: f"{store_1} {DAY}", STEVE_PREMIUM_TENANT_ID: f"{store_2} {DAY}"}

        async def counts() -> dict[str, int]:
            return {t: sum(i["Reference"] == ref for i in await invoices(stack, t)) for t, ref in refs.items()}

        async with poster(stack, dsn, kafka_bootstrap, unique_name("daily-sales")) as app:
            async def both_posted() -> bool:
                return await counts() == {t: 1 for t in refs}
            await eventually(both_posted, timeout=60, what="one invoice per store in Xero")
            await app.state.poster.run_once()                                  # run again: nothing new
            await app.state.runtime.pool.execute(                             # as if it died mid-call
                "UPDATE daily_postings SET status = 'posting', next_attempt_at = $2 WHERE store_id = $1",
                store_1, NOW - timedelta(seconds=1))
        async with poster(stack, dsn, kafka_bootstrap, unique_name("daily-sales")) as restarted:
            async def reposted() -> bool:      # its own poll loop may be the one that takes the row
                await restarted.state.poster.run_once()
                return await restarted.state.runtime.pool.fetchval(
                    "SELECT status FROM daily_postings WHERE store_id = $1 AND day = $2", store_1, DAY) == "posted"
            await eventually(reposted, timeout=30, what="the restarted poster to finish the row left posting")
        assert await counts() == {t: 1 for t in refs}
        puts = [c for c in (await stack.xero_state())["calls"] if c["method"] in ("PUT", "POST")
                and c["path"].lower() == "/api.xro/2.0/invoices"]
        assert {c["tenant_id"] for c in puts} == set(refs)                 # through the gateway, per store's tenant
