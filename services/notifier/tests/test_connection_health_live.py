"""Connection health end to end on real Kafka and PostgreSQL, the Cloud POS sandbox (the merchant's contact email)
and the helpdesk sandbox (a real SMTP sink and a webhook receiver that checks signatures):

a ConnectionBroken published twice gives the merchant one email and the helpdesk one notice (email + webhook);
a reminder falls due and goes out once; ConnectionRestored cancels the rest and tells the helpdesk it is repaired;
the stop link in an email stops that incident's reminders; Cloud POS down only delays the merchant's email."""

from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from uuid import uuid4

import httpx
import pytest

from notifier.main import build_app
from notifier.settings import NotifierSettings
from sandboxes.cloudpos import CloudPosSandboxSettings
from sandboxes.cloudpos import build_app as build_cloudpos
from shared.contracts import BreakReason, CloudEvent, ConnectionBroken, ConnectionRestored, XeroUser
from shared.contracts.examples import TENANT
from tests.support.kafka import read_topic
from tests.support.services import running

from .fakes import FakeClock
from .live import Helpdesk, consumed, publish, serve

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
TOKENS = {"platform": "platform-token-for-tests", "support": "support-token-for-tests",
          "control": "control-token-for-tests"}
DAY = timedelta(seconds=60)          # a reminder "day" lasts a minute of the hand-moved clock
AUTHORISED = XeroUser(xero_userid=uuid4(), name="Steve Tester", email="steve@xero-demo.test")


class CloudPos:
    """The Cloud POS sandbox on a real port; merchants seeded with (or without) a contact email."""

    def __init__(self) -> None:
        settings = CloudPosSandboxSettings(**{f"{name}_token": token for name, token in TOKENS.items()})
        self.server, self.url = serve(build_cloudpos(settings))
        self.control = httpx.Client(base_url=self.url, timeout=10,
                                    headers={"x-sandbox-control-token": TOKENS["control"]})

    def merchant(self, contact_email: str | None) -> str:
        merchant = f"m-{uuid4().hex[:8]}"
        seed = {"merchant_id": merchant, "name": "Steve's Cycles", "licence": "pro_plus",
                "contact_email": contact_email}
        self.control.post("/_sandbox/merchants", json=seed).raise_for_status()
        return merchant

    def fail_next(self, count: int) -> None:
        self.control.post("/_sandbox/faults", json={"count": count, "status": 503}).raise_for_status()

    def close(self) -> None:
        self.control.close()
        self.server.should_exit = True


@pytest.fixture
def helpdesk():
    desk = Helpdesk()
    yield desk
    desk.close()


@pytest.fixture
def cloudpos():
    platform = CloudPos()
    yield platform
    platform.close()


@pytest.fixture
def notifier(helpdesk, cloudpos, pg_dsn, kafka_bootstrap, unique_name):
    """The notifier with its dispatcher stepped by hand (`run_once`) on a hand-moved clock."""
    @asynccontextmanager
    async def start(clock: FakeClock):
        built = {}

        def build(settings: NotifierSettings):
            built["app"] = build_app(settings, clock=clock)
            return built["app"]

        options = (helpdesk.settings() | helpdesk.merchant_settings(cloudpos.url, TOKENS["platform"])
                   | {"api_token": "operator-token-for-tests", "dispatcher": {"enabled": False, "batch_size": 500},
                      "reminder_days": [1, 3, 7], "reminder_day_seconds": DAY.total_seconds(),
                      "merchant_email_delay_seconds": 5, "retry": {"schedule_seconds": [30, 60]}})
        async with running(build, NotifierSettings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                           group=unique_name("notifier-health"), **options) as runtime:
            yield runtime, built["app"]
    return start


def broken(merchant: str, since: datetime) -> CloudEvent:
    return CloudEvent(data=ConnectionBroken(
        merchant_id=merchant, store_id="s-1", store_name="Steve Test Store", tenant_id=TENANT,
        organisation_name="Steve Test Store", reason=BreakReason.REMOVED_IN_XERO, since=since, incident_id=uuid4(),
        authorised_by=AUTHORISED, reconnect_url=f"http://127.0.0.1:8100/reconnect/s-1?link={merchant}.signed"),
        source="/tests")


def restored(event: CloudEvent) -> CloudEvent:
    b = event.data
    return CloudEvent(data=ConnectionRestored(
        merchant_id=b.merchant_id, store_id=b.store_id, store_name=b.store_name, tenant_id=b.tenant_id,
        organisation_name=b.organisation_name, incident_id=b.incident_id, broken_since=b.since,
        same_organisation=True, restored_by="u-steve"), source="/tests")


async def publish_and_wait(bootstrap: str, runtime, event: CloudEvent, times: int = 1) -> None:
    await publish(bootstrap, event, times=times)
    copies = await read_topic(bootstrap, event.topic, key=event.data.merchant_id.encode(), expect=times)
    await consumed(bootstrap, runtime, copies[-1])


async def step(app, clock: FakeClock, at: datetime) -> None:
    """Move the clock to `at` and send everything due, over and over: what is sent once stays sent once."""
    clock.at = max(clock.at, at)
    for _ in range(3):
        while await app.state.dispatcher.run_once():
            pass


def to_merchant(helpdesk: Helpdesk, address: str) -> list[dict]:
    return [m for m in helpdesk.mailbox.messages() if m["to"] == [address]]


def to_helpdesk(helpdesk: Helpdesk, merchant: str) -> list[str]:
    return [m["subject"] for m in helpdesk.mailbox.messages()
            if m["to"] == ["helpdesk@desk.test"] and f"merchant {merchant}" in m["subject"]]


async def test_one_email_a_reminder_once_then_restored_and_the_helpdesk_told_each_time(
        notifier, helpdesk, cloudpos, kafka_bootstrap):
    address = f"owner-{uuid4().hex[:6]}@steves-cycles.test"
    merchant, clock = cloudpos.merchant(address), FakeClock(datetime.now(UTC))
    event = broken(merchant, since=clock())
    async with notifier(clock) as (runtime, app):
        await publish_and_wait(kafka_bootstrap, runtime, event, times=2)
        await step(app, clock, clock() + timedelta(seconds=5))
        [first] = to_merchant(helpdesk, address)
        assert first["subject"] == "Action needed: reconnect Steve Test Store to Xero"
        assert "The Cloud POS app was removed from your Xero organisation 'Steve Test Store'." in first["text"]
        assert event.data.reconnect_url in first["text"] and event.data.reconnect_url in first["html"]
        assert to_helpdesk(helpdesk, merchant) == [f"Xero connection broken: Steve Test Store (merchant {merchant})"]
        [hook] = helpdesk.hooks(merchant)
        assert hook["verified"] and hook["body"]["type"] == "integration.connection_broken"
        assert hook["body"]["data"]["authorised_by"]["name"] == "Steve Tester"

        await step(app, clock, event.data.since + DAY)
        reminders = to_merchant(helpdesk, address)[1:]
        assert [m["subject"] for m in reminders] == ["Reminder: Steve Test Store is still not connected to Xero"]
        assert "This is reminder 1 of 3." in reminders[0]["text"]

        await publish_and_wait(kafka_bootstrap, runtime, restored(event))
        await step(app, clock, event.data.since + 8 * DAY)
        assert len(to_merchant(helpdesk, address)) == 2                    # days 3 and 7 never went out
        restored_subject = f"Xero connection restored: Steve Test Store (merchant {merchant})"
        assert to_helpdesk(helpdesk, merchant)[1:] == [restored_subject]
        assert [h["body"]["type"] for h in helpdesk.hooks(merchant)] == ["integration.connection_broken",
                                                                         "integration.connection_restored"]
        statuses = await runtime.pool.fetch("SELECT kind, status, count(*) AS n FROM helpdesk_deliveries"
                                            " WHERE merchant_id = $1 AND channel = 'merchant_email'"
                                            " GROUP BY kind, status ORDER BY kind, status", merchant)
        assert [(r["kind"], r["status"], r["n"]) for r in statuses] == [
            ("merchant.connection_broken", "delivered", 1), ("merchant.connection_broken_reminder", "cancelled", 2),
            ("merchant.connection_broken_reminder", "delivered", 1)]


async def test_the_stop_link_stops_the_reminders_and_cloud_pos_down_only_delays_the_email(
        notifier, helpdesk, cloudpos, kafka_bootstrap):
    address = f"owner-{uuid4().hex[:6]}@basils-bakery.test"
    merchant, clock = cloudpos.merchant(address), FakeClock(datetime.now(UTC))
    event = broken(merchant, since=clock())
    async with notifier(clock) as (runtime, app):
        await publish_and_wait(kafka_bootstrap, runtime, event)
        # Cloud POS answers 503 until told otherwise: a fresh consumer group also reads earlier tests' events, so
        # "fail once" could be used up by another merchant's lookup
        cloudpos.fail_next(10_000)
        await step(app, clock, clock() + timedelta(seconds=5))
        assert to_merchant(helpdesk, address) == []
        cloudpos.fail_next(0)
        await step(app, clock, clock() + timedelta(seconds=30))           # the retry
        [first] = to_merchant(helpdesk, address)

        stop_url = first["headers"]["List-Unsubscribe"].strip("<>")
        assert stop_url in first["text"] and stop_url.startswith("http://notifier.test/reminders/stop?token=")
        page = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifier.test")
        async with page:
            url = urlsplit(stop_url)
            stopped = await page.get(f"{url.path}?{url.query}")
            assert stopped.status_code == 200 and "Reminders stopped" in stopped.text
            assert event.data.reconnect_url in stopped.text
            tampered = await page.get(f"{url.path}?{url.query[:-3]}xyz")
            assert tampered.status_code == 400 and "This link does not work" in tampered.text

        await step(app, clock, event.data.since + 8 * DAY)
        assert len(to_merchant(helpdesk, address)) == 1                    # no reminder after the stop
        [row] = await runtime.pool.fetch("SELECT attempts FROM helpdesk_deliveries WHERE merchant_id = $1"
                                         " AND kind = 'merchant.connection_broken'", merchant)
        assert row["attempts"] == 2


async def test_a_merchant_without_contact_email_is_reported_to_the_helpdesk(
        notifier, helpdesk, cloudpos, kafka_bootstrap):
    merchant, clock = cloudpos.merchant(None), FakeClock(datetime.now(UTC))
    async with notifier(clock) as (runtime, app):
        await publish_and_wait(kafka_bootstrap, runtime, broken(merchant, since=clock()))
        await step(app, clock, clock() + timedelta(seconds=5))
        assert to_helpdesk(helpdesk, merchant) == [
            f"Xero connection broken: Steve Test Store (merchant {merchant})",
            f"Action needed: call merchant {merchant}, no contact email (Xero connection broken: Steve Test Store)"]
        assert await runtime.pool.fetchval("SELECT status FROM helpdesk_deliveries WHERE merchant_id = $1"
                                           " AND kind = 'merchant.connection_broken'", merchant) == "parked"
