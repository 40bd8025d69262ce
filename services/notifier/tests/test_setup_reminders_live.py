"""The reminder to finish the setup end to end on real Kafka and PostgreSQL, the Cloud POS sandbox (the contact
email) and the helpdesk sandbox's SMTP sink: a SetupReminderRequested published twice emails the merchant once,
linking the setup page from the settings, and tells the helpdesk nothing; a merchant without a contact email is
reported to the helpdesk instead."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from shared.contracts import CloudEvent, SetupReminderRequested
from shared.contracts.examples import LINK

from .fakes import FakeClock
from .test_connection_health_live import (  # noqa: F401 - the fixtures
    cloudpos,
    helpdesk,
    notifier,
    publish_and_wait,
    step,
    to_helpdesk,
    to_merchant,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
SETUP_PAGE = "http://127.0.0.1:8100/"


def requested(merchant: str, since: datetime) -> CloudEvent:
    return CloudEvent(data=SetupReminderRequested(
        merchant_id=merchant, merchant_name="Basil's Bakery", links=(LINK,), connected_since=since,
        requested_by="alice.agent@helpdesk.cloudpos.test"), source="/tests")


async def test_a_requested_reminder_emails_the_merchant_once_and_a_merchant_without_address_is_reported(
        notifier, helpdesk, cloudpos, kafka_bootstrap, monkeypatch):
    monkeypatch.setenv("NOTIFIER_SETUP_PAGE_URL", SETUP_PAGE)
    address = f"owner-{uuid4().hex[:6]}@basils-bakery.test"
    merchant, nobody, clock = cloudpos.merchant(address), cloudpos.merchant(None), FakeClock(datetime.now(UTC))
    async with notifier(clock) as (runtime, app):
        await publish_and_wait(kafka_bootstrap, runtime, requested(merchant, clock()), times=2)
        await publish_and_wait(kafka_bootstrap, runtime, requested(nobody, clock()))
        await step(app, clock, clock())

        [mail] = to_merchant(helpdesk, address)
        assert mail["subject"] == "Finish connecting your stores to Xero"
        assert SETUP_PAGE in mail["text"] and "I have finished connecting stores" in mail["text"]
        assert "Xero organisation 'Steve Test Store': Steve Test Store" in mail["text"]
        assert to_helpdesk(helpdesk, merchant) == [] and helpdesk.hooks(merchant) == []
        assert to_helpdesk(helpdesk, nobody) == [
            f"Action needed: call merchant {nobody}, no contact email (Xero setup not finished)"]
        rows = await runtime.pool.fetch("SELECT merchant_id, status FROM helpdesk_deliveries WHERE channel ="
                                        " 'merchant_email' AND merchant_id = ANY($1::text[]) ORDER BY status",
                                        [merchant, nobody])
        assert [(r["merchant_id"], r["status"]) for r in rows] == [(merchant, "delivered"), (nobody, "parked")]
