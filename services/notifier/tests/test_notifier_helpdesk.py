"""The notifier end to end on real Kafka, PostgreSQL, an SMTP server (aiosmtpd) and an HTTP receiver that
verifies Standard Webhooks signatures (the helpdesk sandbox): exactly one email and one webhook per event,
although Kafka delivers twice, the helpdesk is down for hours, or a parked delivery is re-driven."""

import asyncio
import os
import sys
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import pytest

from notifier.main import build_app
from notifier.settings import NotifierSettings
from shared.contracts import ConnectionsChanged, SetupCompleted, topics
from shared.contracts.examples import LINK
from shared.delivery import CloudEvent
from shared.ports import Clock, utc_now
from tests.support.kafka import eventually, read_topic
from tests.support.services import running

from .fakes import FakeClock
from .live import LINK_SECRET, Helpdesk, consumed, publish

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
TOKEN = "operator-token-for-tests"


@pytest.fixture
def helpdesk():
    desk = Helpdesk()
    yield desk
    desk.close()


@pytest.fixture
def notifier(helpdesk, pg_dsn, kafka_bootstrap, unique_name):
    @asynccontextmanager
    async def start(clock: Clock = utc_now, **overrides):
        built = {}

        def build(settings: NotifierSettings):
            built.update(app=build_app(settings, clock=clock), url=settings.database.url)
            return built["app"]

        options = (helpdesk.settings() | helpdesk.merchant_settings()
                   | {"api_token": TOKEN, "dispatcher": {"batch_size": 500}} | overrides)
        async with running(build, NotifierSettings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                           group=unique_name("notifier"), **options) as runtime:
            yield runtime, built["app"], built["url"]
    return start


def completed(merchant: str) -> CloudEvent:
    return CloudEvent(data=SetupCompleted(merchant_id=merchant, merchant_name="Steve's <Cycles>", links=(LINK,),
                                          completed_by="u-1"), source="/tests")


def changed(merchant: str) -> CloudEvent:
    return CloudEvent(data=ConnectionsChanged(merchant_id=merchant, merchant_name="Steve's <Cycles>", links=(LINK,),
                                              summary="Second Store: Xero access was revoked",
                                              reason="grant_invalid"), source="/tests")


async def rows(runtime, merchant: str) -> dict[str, dict]:
    found = await runtime.pool.fetch("SELECT * FROM helpdesk_deliveries WHERE merchant_id = $1", merchant)
    return {r["channel"]: dict(r) for r in found}


async def recorded(runtime, merchant: str) -> dict[str, dict]:
    async def both() -> bool:
        return len(await rows(runtime, merchant)) == 2
    await eventually(both, what="the notifier to record both deliveries")
    return await rows(runtime, merchant)


async def drain(dispatcher) -> None:
    for _ in range(20):
        if not await dispatcher.run_once():
            return


def assert_told_once(helpdesk: Helpdesk, merchant: str, ids: dict[str, object]) -> None:
    [mail] = helpdesk.mail(merchant)
    assert mail["message_id"] == f"<{ids['email']}@xero.test>" and "Steve Test Store" in mail["text"]
    assert "&lt;Cycles&gt;" in mail["html"] and "<Cycles>" not in mail["html"]
    hooks = helpdesk.hooks(merchant)
    assert [h["status"] for h in hooks][-1] == 204 and [h["status"] for h in hooks].count(204) == 1
    assert all(h["verified"] for h in hooks) and {h["webhook_id"] for h in hooks} == {str(ids["webhook"])}


async def test_one_email_and_one_webhook_per_event_although_kafka_delivers_each_twice(
        notifier, helpdesk, kafka_bootstrap):
    ready, broken = f"m-{uuid4().hex[:8]}", f"m-{uuid4().hex[:8]}"
    events = {ready: completed(ready), broken: changed(broken)}
    async with notifier(dispatcher={"poll_interval_seconds": 0.1, "batch_size": 500}) as (runtime, _, _):
        for merchant, event in events.items():
            await publish(kafka_bootstrap, event, times=2)
            copies = await read_topic(kafka_bootstrap, event.topic, key=merchant.encode(), expect=2)
            await consumed(kafka_bootstrap, runtime, copies[-1])
        for merchant in events:
            await eventually(lambda m=merchant: _all(runtime, m, "delivered"), what=f"{merchant}'s deliveries")
        await asyncio.sleep(0.5)  # several more dispatcher rounds: nothing else goes out
        for merchant, event in events.items():
            ids = {c: r["delivery_id"] for c, r in (await rows(runtime, merchant)).items()}
            assert_told_once(helpdesk, merchant, ids)
            assert len(helpdesk.hooks(merchant)) == 1
            assert await runtime.pool.fetchval("SELECT count(*) FROM delivery_inbox WHERE event_id = $1", event.id) == 1
            assert await runtime.pool.fetchval("SELECT count(*) FROM helpdesk_delivery_attempts"
                                               " WHERE delivery_id = ANY($1::uuid[])", list(ids.values())) == 2
        assert helpdesk.mail(broken)[0]["subject"] == "Action needed: Xero connection broken: Steve's <Cycles>"
        assert helpdesk.hooks(broken)[0]["body"]["type"] == "integration.connections_changed"
        assert helpdesk.hooks(ready)[0]["body"]["type"] == "integration.ready_to_finalise"


async def test_a_helpdesk_down_for_hours_gets_each_notification_once_when_it_is_back(
        notifier, helpdesk, kafka_bootstrap):
    merchant, clock = f"m-{uuid4().hex[:8]}", FakeClock(datetime.now(UTC))
    async with notifier(clock=clock, dispatcher={"enabled": False, "batch_size": 500}) as (runtime, app, _):
        helpdesk.down()
        await publish(kafka_bootstrap, completed(merchant))
        ids = {c: r["delivery_id"] for c, r in (await recorded(runtime, merchant)).items()}
        [record] = await read_topic(kafka_bootstrap, topics.SETUP_COMPLETED, key=merchant.encode())
        await consumed(kafka_bootstrap, runtime, record)  # the partition moves on while the helpdesk is down
        outage_ends = clock() + timedelta(hours=3)
        await drain(app.state.dispatcher)
        while (due := min(r["next_attempt_at"] for r in (await rows(runtime, merchant)).values())) <= outage_ends:
            clock.at = max(clock.at, due)
            await drain(app.state.dispatcher)
        failed = {c: r["attempts"] for c, r in (await rows(runtime, merchant)).items()}
        assert min(failed.values()) >= 5 and await _all(runtime, merchant, "pending")  # 5 s + 5 m + 30 m + 2 h

        helpdesk.up()
        clock.at = max(r["next_attempt_at"] for r in (await rows(runtime, merchant)).values())
        await drain(app.state.dispatcher)
        assert await _all(runtime, merchant, "delivered")
        clock.at += timedelta(hours=30)
        await drain(app.state.dispatcher)
        assert_told_once(helpdesk, merchant, ids)
        assert len(helpdesk.hooks(merchant)) == failed["webhook"] + 1  # every 503 and the one 204, same id
        history = await runtime.pool.fetch("SELECT outcome, status_code FROM helpdesk_delivery_attempts"
                                           " WHERE delivery_id = $1 ORDER BY attempt", ids["webhook"])
        assert [(h["outcome"], h["status_code"]) for h in history] == \
            [("transient", 503)] * failed["webhook"] + [("delivered", 204)]


async def test_a_parked_delivery_is_redriven_once_by_api_and_by_cli(notifier, helpdesk, kafka_bootstrap):
    merchant, clock = f"m-{uuid4().hex[:8]}", FakeClock(datetime.now(UTC))
    async with notifier(clock=clock, dispatcher={"enabled": False, "batch_size": 500},
                        retry={"schedule_seconds": [60]}) as (runtime, app, dsn):
        helpdesk.down()
        await publish(kafka_bootstrap, completed(merchant))
        ids = {c: r["delivery_id"] for c, r in (await recorded(runtime, merchant)).items()}
        await drain(app.state.dispatcher)
        clock.at += timedelta(seconds=60)
        await drain(app.state.dispatcher)
        assert await _all(runtime, merchant, "parked")

        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifier",
                                headers={"authorization": f"Bearer {TOKEN}"})
        async with api:
            parked = {d["delivery_id"] for d in (await api.get("/v1/deliveries")).json()}
            assert {str(i) for i in ids.values()} <= parked
            helpdesk.up()
            assert (await api.post(f"/v1/deliveries/{ids['webhook']}/redrive")).json()["redriven"]
            assert "re-driven" in await cli(dsn, ids["email"])
            await drain(app.state.dispatcher)
            assert await _all(runtime, merchant, "delivered")
            assert not (await api.post(f"/v1/deliveries/{ids['webhook']}/redrive")).json()["redriven"]
            assert "delivered, not parked" in await cli(dsn, ids["email"])
        clock.at += timedelta(hours=30)
        await drain(app.state.dispatcher)
        assert_told_once(helpdesk, merchant, ids)
        assert [h["status"] for h in helpdesk.hooks(merchant)] == [503, 503, 204]


async def cli(dsn: str, delivery_id) -> str:
    env = os.environ | {"NOTIFIER_DATABASE__URL": dsn, "NOTIFIER_KAFKA__BOOTSTRAP_SERVERS": "unused:9092",
                        "NOTIFIER_API_TOKEN": TOKEN, "NOTIFIER_MERCHANT_EMAIL__HOST": "unused",
                        "NOTIFIER_MERCHANT_EMAIL__FROM_ADDRESS": "noreply@cloudpos.test",
                        "NOTIFIER_CLOUDPOS__BASE_URL": "http://unused:1", "NOTIFIER_CLOUDPOS__PLATFORM_TOKEN": "x",
                        "NOTIFIER_PUBLIC_BASE_URL": "http://notifier.test",
                        "NOTIFIER_REMINDER_LINK_SECRET": LINK_SECRET}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "notifier.redrive", str(delivery_id),
                                                   env=env, stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    assert process.returncode == 0
    return out.decode()


async def _all(runtime, merchant: str, status: str) -> bool:
    return {r["status"] for r in (await rows(runtime, merchant)).values()} == {status}


