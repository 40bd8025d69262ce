"""Connection health on hand-written fakes: a break tells the helpdesk and emails the merchant once, reminders
go out on their day once, a restoration or the stop link ends them, Cloud POS being down loses nothing, and a
merchant without a contact email is reported to the helpdesk."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from uuid import uuid4

import pytest

from notifier.adapters.merchant_mail import MerchantMailer
from notifier.connection_health import ConnectionHealth, ReminderStops, Stopped
from notifier.dispatcher import Dispatcher
from notifier.domain.delivery import Channel, RetryPolicy, Status
from notifier.domain.incidents import ReminderSchedule
from notifier.domain.notifications import Kind
from notifier.domain.refusals import Code, Refusal
from notifier.domain.stop_links import read_stop_token, stop_token
from notifier.settings import MerchantEmailSettings
from shared.contracts import CloudEvent, ConnectionBroken, ConnectionRestored
from shared.contracts.examples import ALL, BROKEN_AT

from .fakes import FakeClock, FakeContacts, FakeStore, ScriptedSender, SentMail

BROKEN = next(e for e in ALL if isinstance(e, ConnectionBroken))
RESTORED = next(e for e in ALL if isinstance(e, ConnectionRestored))
HELPDESK = (Channel.EMAIL, Channel.WEBHOOK)
SECRET = b"a-reminder-link-secret-of-32-bytes!!"
DAY = timedelta(seconds=10)  # a reminder "day" of ten seconds
GATHER = timedelta(seconds=2)  # the first merchant email waits for the incident's other stores
RELAY = MerchantEmailSettings(host="smtp.test", from_address="Cloud POS <noreply@cloudpos.test>",
                              reply_to="help@cloudpos.test")


@dataclass
class World:
    store: FakeStore = field(default_factory=FakeStore)
    clock: FakeClock = field(default_factory=lambda: FakeClock(BROKEN_AT))
    contacts: FakeContacts = field(default_factory=lambda: FakeContacts({"m-1": "accounts@steves-cycles.test"}))
    outbox: SentMail = field(default_factory=SentMail)
    helpdesk_email: ScriptedSender = field(default_factory=ScriptedSender)
    helpdesk_webhook: ScriptedSender = field(default_factory=ScriptedSender)

    @property
    def health(self) -> ConnectionHealth:
        return ConnectionHealth(self.store, HELPDESK, ReminderSchedule((1, 3, 7), DAY, GATHER), self.clock)

    @property
    def dispatcher(self) -> Dispatcher:
        mailer = MerchantMailer(self.contacts, RELAY, "https://notifier.test/", SECRET, self.clock,
                                deliver_mail=self.outbox)
        return Dispatcher(self.store, {Channel.EMAIL: self.helpdesk_email, Channel.WEBHOOK: self.helpdesk_webhook,
                                       Channel.MERCHANT_EMAIL: mailer}, self.clock,
                          RetryPolicy(schedule=(5.0, 60.0)), jitter=lambda: 1.0, helpdesk=HELPDESK)

    async def drain(self) -> None:
        dispatcher = self.dispatcher
        while await dispatcher.run_once():
            pass

    async def gathered(self) -> None:
        """Past the first email's wait, and everything due sent."""
        self.clock.at = max(self.clock.at, BROKEN_AT + GATHER)
        await self.drain()

    def rows(self, *kinds: Kind) -> list:
        return [r.view for r in self.store.committed.rows.values() if not kinds or r.view.kind in kinds]

    def merchant_subjects(self) -> list[str]:
        return [m["Subject"] for m in self.outbox.messages]

    def helpdesk_kinds(self) -> list[Kind]:
        return [n.kind for _, n in self.helpdesk_email.sent]


def event(data, **changes) -> CloudEvent:
    return CloudEvent(data=data.model_copy(update=changes) if changes else data, source="/tests")


@pytest.fixture
def world() -> World:
    return World()


async def test_a_break_emails_the_merchant_once_and_tells_the_helpdesk_once_however_often_it_arrives(world):
    broken = event(BROKEN)
    assert await world.health.broken(broken) == 6
    assert await world.health.broken(broken) == 0                  # redelivered: the inbox
    assert await world.health.broken(event(BROKEN)) == 6           # republished or another instance: same ids
    assert len(world.rows()) == 6
    await world.drain()
    assert world.outbox.messages == [] and world.helpdesk_kinds() == [Kind.CONNECTION_BROKEN]  # the wait
    await world.gathered()
    await world.drain()
    assert world.merchant_subjects() == ["Action needed: reconnect Steve Test Store to Xero"]
    assert world.helpdesk_kinds() == [Kind.CONNECTION_BROKEN] and len(world.helpdesk_webhook.sent) == 1
    assert world.outbox.messages[0]["To"] == "accounts@steves-cycles.test"


async def test_reminders_go_out_on_their_day_once_until_the_connection_is_restored(world):
    await world.health.broken(event(BROKEN))
    await world.gathered()
    world.clock.at = BROKEN_AT + DAY - timedelta(seconds=1)
    await world.drain()
    assert len(world.outbox.messages) == 1                         # not before its day
    world.clock.at = BROKEN_AT + DAY
    await world.drain()
    world.clock.advance(seconds=1)
    await world.drain()
    assert world.merchant_subjects()[1:] == ["Reminder: Steve Test Store is still not connected to Xero"]

    assert await world.health.restored(event(RESTORED)) == 2
    world.clock.at = BROKEN_AT + 8 * DAY
    await world.drain()
    assert len(world.outbox.messages) == 2                         # days 3 and 7 never went out
    assert Counter(v.status for v in world.rows(Kind.MERCHANT_REMINDER)) == {Status.DELIVERED: 1,
                                                                            Status.CANCELLED: 2}
    assert world.helpdesk_kinds() == [Kind.CONNECTION_BROKEN, Kind.CONNECTION_RESTORED]


async def test_the_merchant_email_says_what_happened_what_stops_and_links_reconnect_and_stop(world):
    await world.health.broken(event(BROKEN))
    await world.gathered()
    [message] = world.outbox.messages
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    text, html = parsed.get_body(("plain",)).get_content(), parsed.get_body(("html",)).get_content()
    assert "The Cloud POS app was removed from your Xero organisation 'Steve Test Store'." in text
    assert "The Cloud POS app was removed from your Xero organisation &#39;Steve Test Store&#39;." in html
    for body in (text, html):
        assert "cannot post the sales of" in body and BROKEN.reconnect_url in body
        assert "1, 3 and 7 days after it broke" in body and "2 March 2026 at 09:30 UTC" in body
    stop_url = parsed["List-Unsubscribe"].strip("<>")
    assert stop_url.startswith("https://notifier.test/reminders/stop?token=") and stop_url in text
    request = read_stop_token(SECRET, stop_url.split("token=")[1], world.clock())
    assert (request.merchant_id, request.incident_id) == ("m-1", BROKEN.incident_id)
    assert parsed["Reply-To"] == "help@cloudpos.test" and parsed["List-Unsubscribe-Post"]
    [row] = world.rows(Kind.MERCHANT_BROKEN)
    assert parsed["Message-ID"] == f"<{row.delivery_id}@cloudpos.test>"


async def test_names_cannot_inject_markup_and_a_strange_reconnect_link_is_no_button(world):
    await world.health.broken(event(BROKEN, store_name="Bob's <script>x</script>",
                                    reconnect_url="javascript:alert(1)"))
    await world.gathered()
    html = world.outbox.messages[0].get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html and "javascript:" not in html


async def test_cloud_pos_down_delays_the_merchant_email_but_never_loses_it(world):
    world.contacts.down = True
    await world.health.broken(event(BROKEN))
    await world.gathered()
    [first] = world.rows(Kind.MERCHANT_BROKEN)
    assert first.status is Status.PENDING and "Cloud POS unavailable" in first.last_error
    assert world.outbox.messages == [] and world.helpdesk_kinds() == [Kind.CONNECTION_BROKEN]
    world.contacts.down = False
    world.clock.advance(seconds=5)
    await world.drain()
    assert world.merchant_subjects() == ["Action needed: reconnect Steve Test Store to Xero"]
    assert world.rows(Kind.MERCHANT_BROKEN)[0].attempts == 2


async def test_a_merchant_without_contact_email_is_reported_to_the_helpdesk_once(world):
    world.contacts.emails = {"m-1": None}
    await world.health.broken(event(BROKEN))
    await world.gathered()
    [first] = world.rows(Kind.MERCHANT_BROKEN)
    assert first.status is Status.PARKED and "no contact email" in first.last_error
    assert world.helpdesk_kinds() == [Kind.CONNECTION_BROKEN, Kind.MERCHANT_UNREACHABLE]
    unreachable = world.helpdesk_email.sent[1][1]
    assert str(first.delivery_id) in unreachable.next_steps
    world.clock.at = BROKEN_AT + DAY
    await world.drain()                                            # the day-1 reminder finds no address either
    assert world.helpdesk_kinds().count(Kind.MERCHANT_UNREACHABLE) == 1 and world.outbox.messages == []


async def test_a_restoration_consumed_before_its_break_means_the_merchant_is_not_emailed(world):
    await world.health.restored(event(RESTORED))
    assert await world.health.broken(event(BROKEN)) == 2
    await world.gathered()
    assert world.outbox.messages == [] and world.rows(*[Kind.MERCHANT_BROKEN, Kind.MERCHANT_REMINDER]) == []
    assert sorted(world.helpdesk_kinds()) == sorted([Kind.CONNECTION_BROKEN, Kind.CONNECTION_RESTORED])


async def test_the_stores_of_one_incident_share_one_email_and_leave_it_as_each_is_restored(world):
    stores = {"s-1": "Steve Test Store", "s-2": "Steve Test Store 2", "s-3": "Steve Outlet Store"}
    for store_id, name in stores.items():
        await world.health.broken(event(BROKEN, store_id=store_id, store_name=name,
                                        reconnect_url=f"https://gateway.test/reconnect/{store_id}?link=x"))
    await world.gathered()
    assert world.merchant_subjects() == ["Action needed: reconnect 3 stores to Xero"]
    text = world.outbox.messages[0].get_body(("plain",)).get_content()
    assert "'Steve Test Store', 'Steve Test Store 2' and 'Steve Outlet Store'" in text
    assert all(f"https://gateway.test/reconnect/{s}?link=x" in text for s in stores)
    assert world.helpdesk_kinds() == [Kind.CONNECTION_BROKEN] * 3          # the helpdesk hears of every store

    await world.health.restored(event(RESTORED, store_id="s-1"))
    world.clock.at = BROKEN_AT + DAY
    await world.drain()
    assert world.merchant_subjects()[1] == "Reminder: 2 stores are still not connected to Xero"
    reminder = world.outbox.messages[1].get_body(("plain",)).get_content()
    assert "s-1?link" not in reminder and "s-2?link" in reminder and "s-3?link" in reminder
    for store_id in ("s-2", "s-3"):
        await world.health.restored(event(RESTORED, store_id=store_id))
    world.clock.at = BROKEN_AT + 8 * DAY
    await world.drain()
    assert len(world.outbox.messages) == 2
    assert {v.status for v in world.rows(Kind.MERCHANT_REMINDER) if v.status is not Status.DELIVERED} == \
        {Status.CANCELLED}


async def test_a_restoration_of_the_store_also_ends_an_older_incident_of_it_but_not_another_stores(world):
    older, other = uuid4(), uuid4()
    await world.health.broken(event(BROKEN, incident_id=older, since=BROKEN_AT - timedelta(hours=1)))
    await world.health.broken(event(BROKEN, incident_id=other, store_id="s-2", store_name="Other store"))
    await world.health.restored(CloudEvent(data=RESTORED, source="/t", time=BROKEN_AT + timedelta(minutes=5)))
    statuses = {(v.incident_id, v.status) for v in world.rows(Kind.MERCHANT_BROKEN, Kind.MERCHANT_REMINDER)}
    assert {s for i, s in statuses if i == older} == {Status.CANCELLED}
    assert {s for i, s in statuses if i == other} == {Status.PENDING}     # store s-2 is still broken


async def test_the_stop_link_cancels_that_incidents_reminders_only_and_can_be_opened_twice(world):
    await world.health.broken(event(BROKEN))
    other = uuid4()
    await world.health.broken(event(BROKEN, incident_id=other, store_id="s-2"))
    await world.gathered()
    stops = ReminderStops(world.store, SECRET, world.clock)
    token = stop_token(SECRET, "m-1", BROKEN.incident_id, BROKEN_AT + timedelta(days=30))
    first = await stops.stop(token)
    assert isinstance(first, Stopped) and first.cancelled == 3 and not first.already_restored
    assert [i.store_id for i in first.incidents] == ["s-1"] and first.incidents[0].reminders_stopped_at
    assert (await stops.stop(token)).cancelled == 0
    world.clock.at = BROKEN_AT + 8 * DAY
    await world.drain()
    reminded = [m for m in world.outbox.messages if m["Subject"].startswith("Reminder")]
    assert len(reminded) == 3                                      # the other incident's, days 1, 3 and 7
    assert {v.status for v in world.rows(Kind.MERCHANT_BROKEN)} == {Status.DELIVERED}


async def test_a_bad_or_expired_stop_link_changes_nothing(world):
    await world.health.broken(event(BROKEN))
    stops = ReminderStops(world.store, SECRET, world.clock)
    expired = stop_token(SECRET, "m-1", BROKEN.incident_id, BROKEN_AT)
    forged = stop_token(b"not-our-secret-but-thirty-two-bytes!", "m-1", BROKEN.incident_id, BROKEN_AT + DAY)
    for token, code in ((expired, Code.LINK_EXPIRED), (forged, Code.LINK_INVALID), (None, Code.LINK_INCOMPLETE)):
        refused = await stops.stop(token)
        assert isinstance(refused, Refusal) and refused.code is code
    assert {v.status for v in world.rows(Kind.MERCHANT_REMINDER)} == {Status.PENDING}


async def test_the_stop_link_after_a_restoration_says_it_was_already_repaired(world):
    await world.health.broken(event(BROKEN))
    await world.health.restored(event(RESTORED))
    stopped = await ReminderStops(world.store, SECRET, world.clock).stop(
        stop_token(SECRET, "m-1", BROKEN.incident_id, BROKEN_AT + DAY))
    assert stopped.already_restored and stopped.cancelled == 0
