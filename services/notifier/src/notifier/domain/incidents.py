"""A broken connection as the notifier keeps it, what the merchant is told about it in plain words, and when
they are reminded.

One incident is one broken connection (one Xero organisation of one merchant); the gateway publishes one
ConnectionBroken per store on it. The merchant gets ONE email per incident naming its stores, then reminders
on a capped schedule (days after the break, each at most once) until every store is restored or they stop
the reminders. Wording says what happened and what stops working; each store's reconnect link comes from
the gateway in its event.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from shared.contracts import BreakReason, ConnectionBroken

from .notifications import Kind

STOP_LINK_GRACE = timedelta(days=30)
"""A stop link keeps working this long after the last reminder was due (people open old emails)."""

_TO_MERCHANT = {
    BreakReason.REMOVED_IN_XERO: "The Cloud POS app was removed from your Xero organisation '{org}'.",
    BreakReason.AUTHORISATION_EXPIRED: "Cloud POS's access to your Xero organisation '{org}' has expired or was "
                                       "withdrawn (for example, the Xero user who connected it no longer has "
                                       "access to Xero).",
    BreakReason.ORGANISATION_DELETED: "Your Xero organisation '{org}' no longer exists in Xero.",
    BreakReason.SUBSCRIPTION_DOWNGRADED: "Your Xero organisation '{org}' is no longer on a Xero plan that Cloud "
                                         "POS can post to (Standard or higher).",
    BreakReason.NEW_PERMISSIONS_NEEDED: "Cloud POS needs new permissions in your Xero organisation '{org}', "
                                        "which only you can grant.",
}
_FIRST_STEP = {
    BreakReason.ORGANISATION_DELETED: "Reconnect to the Xero organisation your sales should go to from now on.",
    BreakReason.SUBSCRIPTION_DOWNGRADED: "First move the organisation back to a Standard or higher Xero plan, "
                                         "then reconnect.",
    BreakReason.NEW_PERMISSIONS_NEEDED: "Reconnect and approve the new permissions in Xero.",
}
_TO_HELPDESK = {
    BreakReason.REMOVED_IN_XERO: "the Cloud POS app was removed from the organisation inside Xero (Connected "
                                 "Apps); that removes it for every store on the organisation",
    BreakReason.AUTHORISATION_EXPIRED: "the Xero authorisation expired or was withdrawn (invalid_grant: the "
                                       "authorising user left or lost access, 60 days unused, or revoked)",
    BreakReason.ORGANISATION_DELETED: "the Xero organisation was deleted",
    BreakReason.SUBSCRIPTION_DOWNGRADED: "the organisation's Xero subscription dropped below Standard "
                                         "(Starter or trial)",
    BreakReason.NEW_PERMISSIONS_NEEDED: "Cloud POS now asks for more Xero permissions than were granted",
}


def when(moment: datetime) -> str:
    """'2 March 2026 at 09:30 UTC'."""
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y at %H:%M} UTC"


def what_happened(reason: BreakReason, organisation_name: str) -> str:
    """The reason in the merchant's words, naming their organisation."""
    return _TO_MERCHANT[reason].format(org=organisation_name)


def what_stops(stores: "tuple[BrokenStore, ...]") -> str:
    which = "these stores are" if len(stores) > 1 else "the store is"
    return (f"Until {which} reconnected, Cloud POS cannot post the sales of {store_names(stores)} to Xero: they "
            "stay in Cloud POS and do not reach your accounts.")


def first_step(reason: BreakReason) -> str:
    return _FIRST_STEP.get(reason, "To reconnect, sign in with your Cloud POS details, then approve Cloud POS in "
                                   "Xero. It takes about a minute.")


def reason_for_helpdesk(reason: BreakReason) -> str:
    return _TO_HELPDESK[reason]


@dataclass(frozen=True, slots=True)
class Incident:
    """One store's broken connection, as recorded. A ConnectionRestored that arrives before its
    ConnectionBroken leaves a row with only the ids and `restored_at`: the facts of the break are None."""

    merchant_id: str
    incident_id: UUID
    store_id: str
    store_name: str | None = None
    tenant_id: UUID | None = None
    organisation_name: str | None = None
    reason: BreakReason | None = None
    since: datetime | None = None
    reconnect_url: str | None = None
    restored_at: datetime | None = None
    reminders_stopped_at: datetime | None = None


def incident_of(broken: ConnectionBroken) -> Incident:
    return Incident(broken.merchant_id, broken.incident_id, broken.store_id, broken.store_name, broken.tenant_id,
                    broken.organisation_name, broken.reason, broken.since, broken.reconnect_url)


@dataclass(frozen=True, slots=True)
class ReminderSchedule:
    """Reminders `days` after the break (e.g. 1, 3, 7), a day lasting `day` (tests shorten it to seconds). The
    first email waits `gather` so that the other stores of the same incident (one ConnectionBroken each, a
    moment apart) share it."""

    days: tuple[float, ...] = (1.0, 3.0, 7.0)
    day: timedelta = timedelta(days=1)
    gather: timedelta = timedelta(seconds=30)

    def due(self, since: datetime, now: datetime) -> list[tuple[int, datetime]]:
        """(reminder number, due time) of each reminder still ahead: one due already when the break is
        recorded would only repeat the first email, so it is skipped. Numbers stay those of the schedule."""
        times = [(n, since + d * self.day) for n, d in enumerate(self.days, start=1)]
        return [(n, at) for n, at in times if at > now + self.gather]

    def stop_link_until(self, since: datetime, now: datetime) -> datetime:
        """How long the stop link in every email of this incident works."""
        last = since + max(self.days, default=0.0) * self.day
        return max(last, now) + STOP_LINK_GRACE

    def in_words(self) -> str:
        """'1, 3 and 7 days after it broke'."""
        days = [f"{d:g}" for d in self.days]
        if not days:
            return ""
        listed = days[0] if len(days) == 1 else ", ".join(days[:-1]) + " and " + days[-1]
        return f"{listed} day{'' if days == ['1'] else 's'} after it broke"


class BrokenStore(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    store_id: str
    store_name: str
    reconnect_url: str


class MerchantNotice(BaseModel):
    """An email to the merchant about one incident (`reminder` 0: the first; then 1, 2, ...), naming each of its
    stores with the gateway's reconnect link for it (the link leads through sign-in, so alone it grants nothing).
    The stop link is signed when the email is rendered, from `stop_until`, so the secret is never stored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    event_id: UUID
    occurred_at: datetime
    merchant_id: str
    incident_id: UUID
    tenant_id: UUID
    organisation_name: str
    reason: BreakReason
    since: datetime
    stores: tuple[BrokenStore, ...]
    reminder: int = 0
    reminders_total: int = 0
    reminder_schedule: str = ""
    stop_until: datetime

    @property
    def is_reminder(self) -> bool:
        return self.reminder > 0

    def with_store(self, store: BrokenStore) -> "MerchantNotice | None":
        """Another store of the incident joins the email; None when it is in already."""
        if any(s.store_id == store.store_id for s in self.stores):
            return None
        return self.model_copy(update={"stores": (*self.stores, store)})

    def withdrawn(self, store_id: str | None) -> "MerchantNotice | None":
        """What is still owed once `store_id` works again: the email without it, the email unchanged when it was
        not in it, None when no store is left. `store_id` None (reminders stopped): nothing is owed."""
        left = tuple(s for s in self.stores if s.store_id != store_id)
        if store_id is None or not left:
            return None
        return self if len(left) == len(self.stores) else self.model_copy(update={"stores": left})


def store_names(stores: "tuple[BrokenStore, ...]") -> str:
    """'A' / 'A' and 'B' / 'A', 'B' and 'C'."""
    names = [f"'{s.store_name}'" for s in stores]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
