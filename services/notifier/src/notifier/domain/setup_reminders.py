"""The merchant's "finish your Xero setup" email: a helpdesk agent saw stores connected but "I have finished"
never clicked, and asked (SetupReminderRequested) that the merchant be reminded. One email per request, to the
contact email Cloud POS holds (looked up when it is sent); no helpdesk notice, the agent asked for it. When the
merchant has no contact email the helpdesk is told to call them instead, as for a broken connection.
"""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from shared.contracts import SetupReminderRequested, StoreLink

from .incidents import when
from .notifications import Kind, Notification, WhatChanged

FINISH_BUTTON = "I have finished connecting stores"
"""The button on the gateway's Xero setup page that completes the setup (the email quotes it)."""


class SetupReminder(BaseModel):
    """What the email says: the merchant, which stores are connected to which organisation, since when.
    `requested_by` (the agent) is kept for the record and never shown to the merchant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal[Kind.MERCHANT_SETUP_REMINDER] = Kind.MERCHANT_SETUP_REMINDER
    event_id: UUID
    occurred_at: datetime
    merchant_id: str
    merchant_name: str
    links: tuple[StoreLink, ...]
    connected_since: datetime
    requested_by: str

    @property
    def incident_id(self) -> None:
        """Not about a broken connection (the delivery row's incident column stays empty)."""
        return None


def reminder_of(event_id: UUID, occurred_at: datetime, data: SetupReminderRequested) -> SetupReminder:
    return SetupReminder(event_id=event_id, occurred_at=occurred_at, merchant_id=data.merchant_id,
                         merchant_name=data.merchant_name, links=data.links, connected_since=data.connected_since,
                         requested_by=data.requested_by)


def by_organisation(links: tuple[StoreLink, ...]) -> list[tuple[str, list[str]]]:
    """(organisation name, its store names) in the order the links name them."""
    grouped: dict[UUID, tuple[str, list[str]]] = {}
    for link in links:
        grouped.setdefault(link.tenant_id, (link.organisation_name, []))[1].append(link.store_name)
    return list(grouped.values())


def connected_so_far(reminder: SetupReminder) -> str:
    """'You connected 2 stores to Xero, the first on 2 March 2026 at 09:30 UTC.' (or 'a store ... on')"""
    count, since = len(reminder.links), when(reminder.connected_since)
    if count == 1:
        return f"You connected a store to Xero on {since}."
    return f"You connected {count} stores to Xero, the first on {since}."


def unreachable_notice(reminder: SetupReminder, parked: UUID) -> Notification:
    """The helpdesk's notice when the reminder found no contact email for the merchant."""
    summary = ("Cloud POS holds no contact email for this merchant: the reminder to finish the Xero setup "
               "was not sent.")
    steps = (f"Call the merchant: {len(reminder.links)} store(s) were connected to Xero (since "
             f"{when(reminder.connected_since)}) but nobody clicked \"{FINISH_BUTTON}\" on the Xero setup page, "
             "so the setup cannot be finalised. To email them the reminder as well, add a contact email to their "
             f"Cloud POS account, then re-drive the parked email (POST /v1/deliveries/{parked}/redrive).")
    return Notification(kind=Kind.MERCHANT_UNREACHABLE, event_id=reminder.event_id,
                        occurred_at=reminder.occurred_at, merchant_id=reminder.merchant_id,
                        merchant_name=reminder.merchant_name, links=reminder.links,
                        change=WhatChanged(reason="no_contact_email", summary=summary), action_needed=True,
                        next_steps=steps)
