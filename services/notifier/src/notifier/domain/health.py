"""What a broken or restored connection makes the notifier send, as deliveries to record.

ConnectionBroken (one per store of an incident): the helpdesk hears of every store's break (email and webhook);
the merchant gets one email per incident, then reminders, naming every store still broken, unless the store was
already restored (ConnectionRestored may be consumed first: another topic). Every delivery id comes from the
incident and the notice (and the store, for the helpdesk), so recording the same break twice (redelivery, a
second instance, a republished event) adds nothing; a further store of the incident joins the merchant's
emails not yet attempted. ConnectionRestored: the helpdesk hears it is repaired; the caller withdraws the store
from what the merchant was still owed.
"""

from datetime import datetime
from uuid import UUID

from shared.contracts import ConnectionBroken, ConnectionRestored, StoreLink

from . import setup_reminders
from .delivery import AttemptResult, Channel, Claimed, NewDelivery, delivery_id, incident_delivery_id
from .incidents import (
    BrokenStore,
    Incident,
    MerchantNotice,
    ReminderSchedule,
    reason_for_helpdesk,
    store_names,
    when,
)
from .notifications import Kind, Notification, WhatChanged

MERCHANT_KINDS = (Kind.MERCHANT_BROKEN, Kind.MERCHANT_REMINDER)


def on_broken(event_id: UUID, occurred_at: datetime, broken: ConnectionBroken, restored_at: datetime | None,
              helpdesk: tuple[Channel, ...], schedule: ReminderSchedule, now: datetime) -> list[NewDelivery]:
    """The helpdesk's notice on each channel; the merchant's email and reminders unless already restored."""
    notice = broken_notice(event_id, occurred_at, broken, restored_at, schedule)
    planned = [NewDelivery(incident_delivery_id(broken.incident_id, broken.store_id, "broken", c), c, notice, now)
               for c in helpdesk]
    if restored_at is None:
        planned += merchant_notices(event_id, occurred_at, broken, schedule, now)
    return planned


def merchant_notices(event_id: UUID, occurred_at: datetime, broken: ConnectionBroken, schedule: ReminderSchedule,
                     now: datetime) -> list[NewDelivery]:
    """The first email, due once the incident's other stores had `gather` to join it, and each reminder still
    ahead, due at its time; ids per incident and merchant, so each store's event plans the same rows."""
    store = BrokenStore(store_id=broken.store_id, store_name=broken.store_name, reconnect_url=broken.reconnect_url)
    first = MerchantNotice(
        kind=Kind.MERCHANT_BROKEN, event_id=event_id, occurred_at=occurred_at, merchant_id=broken.merchant_id,
        incident_id=broken.incident_id, tenant_id=broken.tenant_id, organisation_name=broken.organisation_name,
        reason=broken.reason, since=broken.since, stores=(store,), reminders_total=len(schedule.days),
        reminder_schedule=schedule.in_words(), stop_until=schedule.stop_link_until(broken.since, now))
    notices = [(first, now + schedule.gather)] + [
        (first.model_copy(update={"kind": Kind.MERCHANT_REMINDER, "reminder": n}), at)
        for n, at in schedule.due(broken.since, now)]
    return [NewDelivery(merchant_delivery_id(n), Channel.MERCHANT_EMAIL, n, due, now) for n, due in notices]


def merchant_delivery_id(notice: MerchantNotice) -> UUID:
    return incident_delivery_id(notice.incident_id, f"merchant:{notice.merchant_id}", f"merchant/{notice.reminder}",
                                Channel.MERCHANT_EMAIL)


def broken_notice(event_id: UUID, occurred_at: datetime, broken: ConnectionBroken, restored_at: datetime | None,
                  schedule: ReminderSchedule) -> Notification:
    summary = (f"{broken.store_name}: {reason_for_helpdesk(broken.reason)} (Xero organisation "
               f"'{broken.organisation_name}'), since {when(broken.since)}.")
    if restored_at is not None:
        steps = (f"Already repaired ({when(restored_at)}); this notice arrived late. Nothing to do, and the "
                 "merchant is not emailed.")
    else:
        reminders = f", and reminded {schedule.in_words()}," if schedule.days else ""
        steps = ("The merchant is emailed (one email for all stores of this incident) at the contact email Cloud "
                 f"POS holds for them, with a link to reconnect{reminders} until it is repaired or they stop the "
                 "reminders. Nothing to do "
                 "unless they contact you: then help them reconnect (Cloud POS, Settings, Xero, Reconnect). If "
                 "Cloud POS holds no contact email for them, a separate notice asks you to call them.")
    return Notification(kind=Kind.CONNECTION_BROKEN, event_id=event_id, occurred_at=occurred_at,
                        merchant_id=broken.merchant_id, links=(_link(broken),),
                        change=WhatChanged(reason=broken.reason.value, summary=summary), action_needed=False,
                        next_steps=steps, incident_id=broken.incident_id, since=broken.since,
                        authorised_by=broken.authorised_by)


def on_restored(event_id: UUID, occurred_at: datetime, restored: ConnectionRestored, previous: Incident | None,
                helpdesk: tuple[Channel, ...], now: datetime) -> list[NewDelivery]:
    notice = restored_notice(event_id, occurred_at, restored, previous)
    return [NewDelivery(incident_delivery_id(restored.incident_id, restored.store_id, "restored", c), c, notice, now)
            for c in helpdesk]


def restored_notice(event_id: UUID, occurred_at: datetime, restored: ConnectionRestored,
                    previous: Incident | None) -> Notification:
    """Same organisation: nothing to do. Another one: the helpdesk checks the store's setup."""
    lasted = f"broken since {when(restored.broken_since)}, {_duration(restored.broken_since, occurred_at)}"
    if restored.same_organisation:
        summary = (f"{restored.store_name} posts to the Xero organisation '{restored.organisation_name}' again "
                   f"({lasted}).")
        steps = f"Nothing to do: reconnected by {restored.restored_by}. Reminders still due were cancelled."
    else:
        before = f" instead of '{previous.organisation_name}'" if previous and previous.organisation_name else ""
        summary = (f"{restored.store_name} was reconnected to a DIFFERENT Xero organisation, "
                   f"'{restored.organisation_name}'{before} ({lasted}).")
        steps = (f"Reconnected by {restored.restored_by}. Check the store's Xero setup in the platform admin: "
                 "documents posted before stay in the previous organisation, and its account mappings do not "
                 "carry over. Reminders still due were cancelled.")
    reason = "restored_same_organisation" if restored.same_organisation else "restored_other_organisation"
    link = StoreLink(store_id=restored.store_id, store_name=restored.store_name, tenant_id=restored.tenant_id,
                     organisation_name=restored.organisation_name)
    return Notification(kind=Kind.CONNECTION_RESTORED, event_id=event_id, occurred_at=occurred_at,
                        merchant_id=restored.merchant_id, links=(link,),
                        change=WhatChanged(reason=reason, summary=summary),
                        action_needed=not restored.same_organisation, next_steps=steps,
                        incident_id=restored.incident_id, since=restored.broken_since)


def follow_ups(claimed: Claimed, result: AttemptResult, helpdesk: tuple[Channel, ...],
               now: datetime) -> list[NewDelivery]:
    """A merchant email that found no contact email tells the helpdesk instead, once per incident (or per
    reminder to finish the setup)."""
    notice = claimed.notification
    if result.no_recipient and isinstance(notice, setup_reminders.SetupReminder):
        told = setup_reminders.unreachable_notice(notice, claimed.delivery_id)
        return [NewDelivery(delivery_id(notice.event_id, c), c, told, now) for c in helpdesk]
    if not result.no_recipient or not isinstance(notice, MerchantNotice):
        return []
    told = unreachable_notice(notice, claimed.delivery_id)
    about = f"merchant:{notice.merchant_id}"
    return [NewDelivery(incident_delivery_id(notice.incident_id, about, "unreachable", c), c, told, now)
            for c in helpdesk]


def unreachable_notice(notice: MerchantNotice, parked: UUID) -> Notification:
    summary = "Cloud POS holds no contact email for this merchant: they were not told their Xero connection broke."
    steps = (f"Call the merchant: the connection of {store_names(notice.stores)} to the Xero organisation "
             f"'{notice.organisation_name}' broke on {when(notice.since)} ({reason_for_helpdesk(notice.reason)}), "
             "and only they can reconnect it (Cloud POS, Settings, Xero, Reconnect). To email them the reconnect "
             "link as well, add a contact email to their Cloud POS account, then re-drive the parked email "
             f"(POST /v1/deliveries/{parked}/redrive).")
    links = tuple(StoreLink(store_id=s.store_id, store_name=s.store_name, tenant_id=notice.tenant_id,
                            organisation_name=notice.organisation_name) for s in notice.stores)
    return Notification(kind=Kind.MERCHANT_UNREACHABLE, event_id=notice.event_id, occurred_at=notice.occurred_at,
                        merchant_id=notice.merchant_id, links=links,
                        change=WhatChanged(reason="no_contact_email", summary=summary), action_needed=True,
                        next_steps=steps, incident_id=notice.incident_id, since=notice.since)


def _link(broken: ConnectionBroken) -> StoreLink:
    return StoreLink(store_id=broken.store_id, store_name=broken.store_name, tenant_id=broken.tenant_id,
                     organisation_name=broken.organisation_name)


def _duration(start: datetime, end: datetime) -> str:
    minutes = max(0, int((end - start).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // (24 * 60)} days"
