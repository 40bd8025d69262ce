"""Connection-health rules: the words for each reason, the reminder schedule, one email per incident and store
whatever event records it, what a restoration and a missing contact email tell the helpdesk, the stop link."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from notifier.domain.addresses import one_recipient
from notifier.domain.delivery import (
    AttemptResult,
    Channel,
    Claimed,
    Outcome,
    RetryPolicy,
    Status,
    after_attempt,
    load_payload,
)
from notifier.domain.health import follow_ups, on_broken, on_restored, restored_notice
from notifier.domain.incidents import (
    BrokenStore,
    Incident,
    MerchantNotice,
    ReminderSchedule,
    reason_for_helpdesk,
    what_happened,
    what_stops,
    when,
)
from notifier.domain.notifications import Kind, Notification
from notifier.domain.refusals import Code, Refusal
from notifier.domain.stop_links import StopRequest, read_stop_token, stop_token
from shared.contracts import BreakReason, ConnectionBroken, ConnectionRestored
from shared.contracts.examples import ALL, BROKEN_AT, INCIDENT, STEVE

BROKEN = next(e for e in ALL if isinstance(e, ConnectionBroken))
RESTORED = next(e for e in ALL if isinstance(e, ConnectionRestored))
HELPDESK = (Channel.EMAIL, Channel.WEBHOOK)
GATHER = timedelta(seconds=30)
SCHEDULE = ReminderSchedule((1, 3, 7), timedelta(days=1), GATHER)
NOW = BROKEN_AT + timedelta(minutes=2)
SECRET = b"a-reminder-link-secret-of-32-bytes!!"


def plan(broken: ConnectionBroken = BROKEN, *, restored_at=None, now=NOW, channels=HELPDESK, event_id=None):
    return on_broken(event_id or uuid4(), now, broken, restored_at, channels, SCHEDULE, now)


def merchant_mail(planned):
    return [d for d in planned if d.channel is Channel.MERCHANT_EMAIL]


# --- words -------------------------------------------------------------------------------------------------
def test_the_app_removed_in_xero_is_said_in_plain_words():
    assert what_happened(BreakReason.REMOVED_IN_XERO, "Steve Test Store") == \
        "The Cloud POS app was removed from your Xero organisation 'Steve Test Store'."
    one = (BrokenStore(store_id="s-1", store_name="Steve Test Store", reconnect_url="https://x.test/r"),)
    assert what_stops(one).startswith("Until the store is reconnected, Cloud POS cannot post the sales of "
                                      "'Steve Test Store' to Xero")
    three = tuple(BrokenStore(store_id=f"s-{i}", store_name=name, reconnect_url="https://x.test/r")
                  for i, name in enumerate(("A", "B", "C")))
    assert "Until these stores are reconnected, Cloud POS cannot post the sales of 'A', 'B' and 'C'" \
        in what_stops(three)


@pytest.mark.parametrize("reason", list(BreakReason))
def test_every_reason_has_words_for_the_merchant_and_the_helpdesk(reason):
    merchant, helpdesk = what_happened(reason, "Acme Ltd"), reason_for_helpdesk(reason)
    assert "'Acme Ltd'" in merchant and merchant.endswith(".") and reason.value not in merchant
    assert helpdesk and helpdesk != merchant


def test_times_are_written_for_people():
    assert when(datetime(2026, 3, 2, 9, 30, tzinfo=UTC)) == "2 March 2026 at 09:30 UTC"


# --- the schedule ------------------------------------------------------------------------------------------
def test_reminders_fall_on_days_1_3_and_7_after_the_break():
    assert SCHEDULE.due(BROKEN_AT, NOW) == [(1, BROKEN_AT + timedelta(days=1)), (2, BROKEN_AT + timedelta(days=3)),
                                            (3, BROKEN_AT + timedelta(days=7))]
    assert SCHEDULE.in_words() == "1, 3 and 7 days after it broke"
    assert ReminderSchedule((1,)).in_words() == "1 day after it broke" and ReminderSchedule(()).in_words() == ""


def test_a_break_recorded_late_skips_reminders_already_past_and_keeps_their_numbers():
    late = BROKEN_AT + timedelta(days=2)
    assert SCHEDULE.due(BROKEN_AT, late) == [(2, BROKEN_AT + timedelta(days=3)), (3, BROKEN_AT + timedelta(days=7))]
    assert SCHEDULE.due(BROKEN_AT, BROKEN_AT + timedelta(days=8)) == []


def test_a_schedule_in_seconds_for_tests():
    fast = ReminderSchedule((1, 3), timedelta(seconds=2), timedelta(0))
    assert [at for _, at in fast.due(BROKEN_AT, BROKEN_AT)] == [BROKEN_AT + timedelta(seconds=2),
                                                                BROKEN_AT + timedelta(seconds=6)]


def test_a_reminder_due_before_the_first_email_is_skipped():
    fast = ReminderSchedule((1, 3), timedelta(seconds=10), timedelta(seconds=15))
    assert fast.due(BROKEN_AT, BROKEN_AT) == [(2, BROKEN_AT + timedelta(seconds=30))]


def test_the_stop_link_outlives_the_last_reminder():
    assert SCHEDULE.stop_link_until(BROKEN_AT, NOW) == BROKEN_AT + timedelta(days=37)


# --- a break -----------------------------------------------------------------------------------------------
def test_a_break_tells_the_helpdesk_on_each_channel_and_emails_the_merchant_then_three_reminders():
    planned = plan()
    assert [(d.channel, d.notification.kind) for d in planned[:2]] == [
        (Channel.EMAIL, Kind.CONNECTION_BROKEN), (Channel.WEBHOOK, Kind.CONNECTION_BROKEN)]
    mail = merchant_mail(planned)
    assert [(d.notification.kind, d.notification.reminder, d.due_at) for d in mail] == [
        (Kind.MERCHANT_BROKEN, 0, NOW + GATHER), (Kind.MERCHANT_REMINDER, 1, BROKEN_AT + timedelta(days=1)),
        (Kind.MERCHANT_REMINDER, 2, BROKEN_AT + timedelta(days=3)),
        (Kind.MERCHANT_REMINDER, 3, BROKEN_AT + timedelta(days=7))]
    assert {d.created_at for d in mail} == {NOW}
    first = mail[0].notification
    assert (first.incident_id, first.reminders_total) == (INCIDENT, 3)
    assert [(s.store_id, s.reconnect_url) for s in first.stores] == [("s-1", BROKEN.reconnect_url)]


def test_the_same_break_recorded_again_by_another_event_or_later_has_the_same_delivery_ids():
    once, again = plan(), plan(event_id=uuid4(), now=NOW + timedelta(hours=1))
    assert [d.delivery_id for d in once] == [d.delivery_id for d in again]
    assert len({d.delivery_id for d in once}) == len(once) == 6
    other_incident = BROKEN.model_copy(update={"incident_id": uuid4()})
    assert not {d.delivery_id for d in plan(other_incident)} & {d.delivery_id for d in once}


def test_every_store_of_an_incident_tells_the_helpdesk_but_shares_the_merchants_emails():
    other_store = BROKEN.model_copy(update={"store_id": "s-2", "store_name": "Steve Test Store 2"})
    first, second = plan(), plan(other_store)
    assert {d.delivery_id for d in first[:2]}.isdisjoint(d.delivery_id for d in second[:2])
    assert [d.delivery_id for d in merchant_mail(first)] == [d.delivery_id for d in merchant_mail(second)]
    joined = merchant_mail(first)[0].notification.with_store(merchant_mail(second)[0].notification.stores[0])
    assert [s.store_id for s in joined.stores] == ["s-1", "s-2"]
    assert joined.with_store(joined.stores[1]) is None                      # in already
    assert joined.withdrawn("s-1").stores == joined.stores[1:]              # s-1 works again
    assert joined.withdrawn("s-9") is joined                                # not in it: unchanged
    assert joined.withdrawn("s-1").withdrawn("s-2") is None                 # nothing left: cancelled
    assert joined.withdrawn(None) is None                                   # reminders stopped


def test_a_break_already_restored_tells_the_helpdesk_only():
    planned = plan(restored_at=NOW)
    assert merchant_mail(planned) == [] and len(planned) == 2
    assert "Already repaired" in planned[0].notification.next_steps


def test_without_helpdesk_channels_the_merchant_is_still_emailed():
    planned = plan(channels=())
    assert len(planned) == len(merchant_mail(planned)) == 4


def test_the_helpdesk_hears_store_organisation_reason_since_and_who_authorised():
    n = plan()[0].notification
    assert n.kind is Kind.CONNECTION_BROKEN and not n.action_needed
    assert (n.incident_id, n.since, n.authorised_by) == (INCIDENT, BROKEN_AT, STEVE)
    assert [(s.store_name, s.organisation_name) for s in n.links] == [("Steve Test Store", "Steve Test Store")]
    assert n.change.reason == "removed_in_xero" and "removed from the organisation inside Xero" in n.change.summary
    assert "2 March 2026 at 09:30 UTC" in n.change.summary
    assert "1, 3 and 7 days after it broke" in n.next_steps and "no contact email" in n.next_steps


# --- a restoration -----------------------------------------------------------------------------------------
def test_restored_to_the_same_organisation_needs_nothing():
    n = restored_notice(uuid4(), BROKEN_AT + timedelta(hours=2, minutes=5), RESTORED, None)
    assert n.kind is Kind.CONNECTION_RESTORED and not n.action_needed
    assert n.change.reason == "restored_same_organisation"
    assert "again (broken since 2 March 2026 at 09:30 UTC, 2 h 5 min)" in n.change.summary


def test_restored_to_another_organisation_asks_the_helpdesk_to_check():
    moved = RESTORED.model_copy(update={"same_organisation": False, "organisation_name": "New Books Ltd"})
    before = Incident("m-1", INCIDENT, "s-1", organisation_name="Steve Test Store")
    n = restored_notice(uuid4(), BROKEN_AT + timedelta(days=3), moved, before)
    assert n.action_needed and n.change.reason == "restored_other_organisation"
    assert "DIFFERENT Xero organisation, 'New Books Ltd' instead of 'Steve Test Store' (broken since" \
        in n.change.summary
    assert "3 days" in n.change.summary and "platform admin" in n.next_steps


def test_a_restoration_notice_has_stable_ids_per_incident_and_store():
    first, second = (on_restored(uuid4(), NOW, RESTORED, None, HELPDESK, NOW) for _ in range(2))
    assert [d.delivery_id for d in first] == [d.delivery_id for d in second]
    assert not {d.delivery_id for d in first} & {d.delivery_id for d in plan()}


# --- no contact email --------------------------------------------------------------------------------------
def claimed(delivery) -> Claimed:
    return Claimed(delivery.delivery_id, delivery.channel, delivery.notification, 1, 1)


def test_a_merchant_without_contact_email_is_reported_to_the_helpdesk_once_per_incident():
    first, reminder = (claimed(d) for d in merchant_mail(plan())[:2])
    nobody = AttemptResult(Outcome.PERMANENT, "no contact email", no_recipient=True)
    told = follow_ups(first, nobody, HELPDESK, NOW)
    assert [(d.channel, d.notification.kind) for d in told] == [(Channel.EMAIL, Kind.MERCHANT_UNREACHABLE),
                                                                (Channel.WEBHOOK, Kind.MERCHANT_UNREACHABLE)]
    n = told[0].notification
    assert n.action_needed and "Call the merchant" in n.next_steps and str(first.delivery_id) in n.next_steps
    assert [d.delivery_id for d in follow_ups(reminder, nobody, HELPDESK, NOW)] == [d.delivery_id for d in told]
    assert follow_ups(first, AttemptResult(Outcome.PERMANENT, "550"), HELPDESK, NOW) == []
    assert follow_ups(claimed(plan()[0]), nobody, HELPDESK, NOW) == []  # only a merchant email


def test_no_contact_email_parks_the_merchant_email_for_a_redrive():
    decision = after_attempt(AttemptResult(Outcome.PERMANENT, "no contact email", no_recipient=True), 1,
                             RetryPolicy(), NOW, lambda: 0.5)
    assert decision.status is Status.PARKED


@pytest.mark.parametrize(("value", "address"), [
    ("accounts@steves-cycles.test", "accounts@steves-cycles.test"),
    ("Steve <accounts@steves-cycles.test>", "accounts@steves-cycles.test"),
    (None, None), ("", None), ("not-an-address", None), ("@nobody.test", None), ("someone@", None),
    ("a@x.test, b@x.test", None), ("a@x.test\r\nBcc: c@x.test", None)])
def test_only_one_clean_recipient_is_written_to(value, address):
    assert one_recipient(value) == address


def test_a_stored_payload_is_read_back_by_its_channel():
    helpdesk, mail = plan()[0], merchant_mail(plan())[0]
    assert isinstance(load_payload(Channel.WEBHOOK, helpdesk.notification.model_dump_json()), Notification)
    assert load_payload(Channel.MERCHANT_EMAIL, mail.notification.model_dump_json()) == mail.notification
    assert isinstance(mail.notification, MerchantNotice)


# --- the stop link -----------------------------------------------------------------------------------------
UNTIL = NOW + timedelta(days=30)


def test_a_stop_token_carries_merchant_incident_and_expiry():
    token = stop_token(SECRET, "m-steve-cycles", INCIDENT, UNTIL)
    assert token == stop_token(SECRET, "m-steve-cycles", INCIDENT, UNTIL)  # same email on every retry
    assert read_stop_token(SECRET, token, NOW) == StopRequest("m-steve-cycles", INCIDENT, UNTIL.replace(microsecond=0))


def test_an_expired_stop_token_is_refused():
    token = stop_token(SECRET, "m-1", INCIDENT, NOW)
    assert read_stop_token(SECRET, token, NOW - timedelta(seconds=1)) == StopRequest("m-1", INCIDENT, NOW)
    refused = read_stop_token(SECRET, token, NOW)
    assert isinstance(refused, Refusal) and refused.code is Code.LINK_EXPIRED


def test_a_tampered_stop_token_or_one_signed_with_another_key_is_refused():
    token = stop_token(SECRET, "m-1", INCIDENT, UNTIL)
    version, payload, mac = token.split(".")
    forged_payload = stop_token(SECRET, "m-2", INCIDENT, UNTIL).split(".")[1]
    for bad in (f"{version}.{forged_payload}.{mac}", f"{version}.{payload}.{mac[:-2]}AA", f"v2.{payload}.{mac}",
                stop_token(b"another-secret-of-thirty-two-bytes!!", "m-1", INCIDENT, UNTIL)):
        refused = read_stop_token(SECRET, bad, NOW)
        assert isinstance(refused, Refusal) and refused.code is Code.LINK_INVALID, bad


@pytest.mark.parametrize("token", ["", None, "v1", "v1..", "v1.a.b", "x" * 5000, "v1.%%%.***", "v1.é.ü",
                                   "v1.AAAA.AAAA", f"{INCIDENT}.1999999999.abc", "v1.bS0xCnh4CjE.AAAA"])
def test_any_malformed_token_is_refused_without_raising(token):
    refused = read_stop_token(SECRET, token, NOW)
    assert isinstance(refused, Refusal)
    assert refused.code is (Code.LINK_INCOMPLETE if not token else Code.LINK_INVALID)
