"""The merchant's "finish your Xero setup" email on hand-written fakes: one email per request however often the
event arrives, no helpdesk notice, what it says (stores by organisation, the button, the setup page), Cloud POS
down only delays it, and a merchant without a contact email is reported to the helpdesk once."""

from dataclasses import dataclass, field
from email import message_from_bytes, policy
from uuid import UUID, uuid4

import pytest

from notifier.adapters.merchant_mail import MerchantMailer
from notifier.dispatcher import Dispatcher
from notifier.domain.delivery import Channel, RetryPolicy, Status, load_payload
from notifier.domain.notifications import Kind
from notifier.domain.setup_reminders import SetupReminder
from notifier.handlers import NotifierHandlers
from notifier.rendering import title
from notifier.settings import MerchantEmailSettings
from shared.contracts import CloudEvent, SetupReminderRequested, StoreLink
from shared.contracts.examples import ALL, BROKEN_AT

from .fakes import FakeClock, FakeContacts, FakeStore, ScriptedSender, SentMail

REQUESTED = next(e for e in ALL if isinstance(e, SetupReminderRequested))
HELPDESK = (Channel.EMAIL, Channel.WEBHOOK)
SETUP_PAGE = "https://xero.cloudpos.test/"
RELAY = MerchantEmailSettings(host="smtp.test", from_address="Cloud POS <noreply@cloudpos.test>",
                              reply_to="help@cloudpos.test")
NORTH, SOUTH = UUID("11111111-1111-4111-8111-111111111111"), UUID("22222222-2222-4222-8222-222222222222")
LINKS = (StoreLink(store_id="s-1", store_name="High Street", tenant_id=NORTH, organisation_name="Steve North Ltd"),
         StoreLink(store_id="s-2", store_name="Market Hall", tenant_id=SOUTH, organisation_name="Steve South Ltd"),
         StoreLink(store_id="s-3", store_name="Harbour", tenant_id=NORTH, organisation_name="Steve North Ltd"))


@dataclass
class World:
    store: FakeStore = field(default_factory=FakeStore)
    clock: FakeClock = field(default_factory=lambda: FakeClock(BROKEN_AT))
    contacts: FakeContacts = field(default_factory=lambda: FakeContacts({"m-1": "accounts@steves-cycles.test"}))
    outbox: SentMail = field(default_factory=SentMail)
    helpdesk_email: ScriptedSender = field(default_factory=ScriptedSender)
    helpdesk_webhook: ScriptedSender = field(default_factory=ScriptedSender)
    setup_page: str | None = SETUP_PAGE

    @property
    def handlers(self) -> NotifierHandlers:
        return NotifierHandlers(self.store, HELPDESK, self.clock)

    async def drain(self) -> None:
        mailer = MerchantMailer(self.contacts, RELAY, "https://notifier.test/", b"k" * 32, self.clock,
                                deliver_mail=self.outbox, setup_page_url=self.setup_page)
        dispatcher = Dispatcher(self.store, {Channel.EMAIL: self.helpdesk_email, Channel.MERCHANT_EMAIL: mailer,
                                             Channel.WEBHOOK: self.helpdesk_webhook}, self.clock,
                                RetryPolicy(schedule=(5.0, 60.0)), jitter=lambda: 1.0, helpdesk=HELPDESK)
        while await dispatcher.run_once():
            pass

    def rows(self) -> list:
        return [r.view for r in self.store.committed.rows.values()]

    def texts(self) -> tuple[str, str]:
        [message] = self.outbox.messages
        parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
        return parsed.get_body(("plain",)).get_content(), parsed.get_body(("html",)).get_content()


@pytest.fixture
def world() -> World:
    return World()


def requested(**changes) -> CloudEvent:
    return CloudEvent(data=REQUESTED.model_copy(update=changes), source="/tests")


async def test_one_email_per_request_however_often_it_arrives_and_no_helpdesk_notice(world):
    event = requested()
    assert await world.handlers.remind(event) == 1
    assert await world.handlers.remind(event) == 0                    # redelivered: the inbox
    await world.drain()
    [row] = world.rows()
    assert (row.kind, row.channel, row.status) == (Kind.MERCHANT_SETUP_REMINDER, Channel.MERCHANT_EMAIL,
                                                   Status.DELIVERED)
    assert [m["To"] for m in world.outbox.messages] == ["accounts@steves-cycles.test"]
    assert world.outbox.messages[0]["Subject"] == "Finish connecting your stores to Xero"
    assert world.helpdesk_email.sent == [] and world.helpdesk_webhook.sent == []
    assert await world.handlers.remind(requested()) == 1              # an agent clicks again: another email
    await world.drain()
    assert len(world.outbox.messages) == 2


async def test_the_email_names_each_organisations_stores_the_button_and_links_the_setup_page(world):
    await world.handlers.remind(requested(links=LINKS))
    await world.drain()
    text, html = world.texts()
    assert "You connected 3 stores to Xero, the first on 2 March 2026 at 09:30 UTC." in text
    assert "Xero organisation 'Steve North Ltd': High Street, Harbour" in text
    assert "Xero organisation 'Steve South Ltd': Market Hall" in text
    for body in (text, html):
        assert "I have finished connecting stores" in body and SETUP_PAGE in body
        assert REQUESTED.requested_by not in body                    # the agent is not named to the merchant
    assert f'href="{SETUP_PAGE}"' in html
    message = world.outbox.messages[0]
    [row] = world.rows()
    assert message["Message-ID"] == f"<{row.delivery_id}@cloudpos.test>" and message["Reply-To"] == "help@cloudpos.test"
    assert message["List-Unsubscribe"] is None


async def test_names_cannot_inject_markup_and_without_a_setup_page_the_email_says_where_it_is(world):
    world.setup_page = None
    store = StoreLink(store_id="s-1", store_name="Bob's <script>x</script>", tenant_id=NORTH, organisation_name="O")
    await world.handlers.remind(requested(links=(store,)))
    await world.drain()
    text, html = world.texts()
    assert "<script>" not in html and "&lt;script&gt;" in html and "<script>" in text
    assert "You connected a store to Xero on 2 March 2026 at 09:30 UTC." in text
    assert "Sign in to Cloud POS and open Settings, Xero" in text and "href" not in html.split("</h2>")[1]


async def test_cloud_pos_down_delays_the_email_but_never_loses_it(world):
    world.contacts.down = True
    await world.handlers.remind(requested())
    await world.drain()
    [row] = world.rows()
    assert row.status is Status.PENDING and "Cloud POS unavailable" in row.last_error and not world.outbox.messages
    world.contacts.down = False
    world.clock.advance(seconds=5)
    await world.drain()
    assert len(world.outbox.messages) == 1 and world.rows()[0].attempts == 2


async def test_a_merchant_without_contact_email_is_reported_to_the_helpdesk_once(world):
    world.contacts.emails = {"m-1": None}
    await world.handlers.remind(requested())
    await world.drain()
    [email] = [v for v in world.rows() if v.channel is Channel.MERCHANT_EMAIL]
    assert email.status is Status.PARKED and "no contact email" in email.last_error
    [(_, told)] = world.helpdesk_email.sent
    assert told.kind is Kind.MERCHANT_UNREACHABLE and len(world.helpdesk_webhook.sent) == 1
    assert title(told) == "Action needed: call merchant m-1, no contact email (Xero setup not finished)"
    assert str(email.delivery_id) in told.next_steps and "I have finished connecting stores" in told.next_steps
    assert told.links == REQUESTED.links and told.since is None and told.incident_id is None

    await world.store.redrive(email.delivery_id, world.clock())        # re-driven before the address was added
    await world.drain()
    assert len(world.helpdesk_email.sent) == 1 and world.outbox.messages == []
    world.contacts.emails = {"m-1": "accounts@steves-cycles.test"}
    await world.store.redrive(email.delivery_id, world.clock())
    await world.drain()
    assert [m["To"] for m in world.outbox.messages] == ["accounts@steves-cycles.test"]


def test_a_stored_reminder_reads_back_as_itself_and_a_broken_connection_email_as_before():
    reminder = SetupReminder(event_id=uuid4(), occurred_at=BROKEN_AT, merchant_id="m-1", merchant_name="M",
                             links=LINKS, connected_since=BROKEN_AT, requested_by="alice@desk.test")
    assert load_payload(Channel.MERCHANT_EMAIL, reminder.model_dump_json()) == reminder
    with pytest.raises(ValueError):
        load_payload(Channel.MERCHANT_EMAIL, reminder.model_dump_json().replace('"links"', '"stores"'))
