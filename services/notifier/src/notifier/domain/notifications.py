"""What the helpdesk is told about a registry event: who the merchant is, the map, what changed, what to do.

From the registry the notifier consumes SetupCompleted and ConnectionsChanged only (consuming OrgDisconnected
as well would tell the helpdesk twice about one change). A connection that BREAKS after the setup comes from
the gateway as ConnectionBroken/ConnectionRestored, set up or not: `domain.health` words those notices.
SetupReminderRequested (an agent's "Send reminder") emails the merchant only: `domain.setup_reminders`.
"""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from shared.contracts import ConnectionsChanged, DisconnectReason, Event, SetupCompleted, StoreLink, XeroUser

INCIDENT_FIELDS = frozenset({"incident_id", "since", "authorised_by"})
"""Optional fields of a connection-health notice; a webhook body leaves them out when empty."""
BROKEN = frozenset({DisconnectReason.REMOVED_IN_XERO, DisconnectReason.GRANT_INVALID,
                    DisconnectReason.ORGANISATION_DELETED})


class Kind(StrEnum):
    """The webhook `type`; also says which template the email uses."""

    READY_TO_FINALISE = "integration.ready_to_finalise"
    CONNECTIONS_CHANGED = "integration.connections_changed"
    CONNECTION_BROKEN = "integration.connection_broken"
    CONNECTION_RESTORED = "integration.connection_restored"
    MERCHANT_UNREACHABLE = "integration.merchant_unreachable"   # no contact email: the merchant was not told
    # to the merchant (channel merchant_email), never a webhook
    MERCHANT_BROKEN = "merchant.connection_broken"
    MERCHANT_REMINDER = "merchant.connection_broken_reminder"
    MERCHANT_SETUP_REMINDER = "merchant.setup_reminder"          # "finish your setup", when an agent asks


class WhatChanged(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str
    summary: str


class Notification(BaseModel):
    """Everything the helpdesk needs, and nothing secret: ids, names and the store → organisation map.
    A connection-health notice names its incident, since when, and who authorised the connection; its
    event carries no merchant name, so `merchant_name` is empty there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    event_id: UUID
    occurred_at: datetime
    merchant_id: str
    merchant_name: str = ""
    links: tuple[StoreLink, ...]
    change: WhatChanged | None = None
    action_needed: bool
    next_steps: str
    incident_id: UUID | None = None
    since: datetime | None = None
    authorised_by: XeroUser | None = None

    @property
    def merchant(self) -> str:
        """'Name (id)', or the id alone when the event named no merchant."""
        return f"{self.merchant_name} ({self.merchant_id})" if self.merchant_name else self.merchant_id


def notification_for(event_id: UUID, occurred_at: datetime, data: Event) -> Notification:
    """The message for one event; raises TypeError for events the notifier does not consume."""
    if isinstance(data, SetupCompleted):
        return Notification(kind=Kind.READY_TO_FINALISE, event_id=event_id, occurred_at=occurred_at,
                            merchant_id=data.merchant_id, merchant_name=data.merchant_name, links=data.links,
                            action_needed=True, next_steps=_finalise(data))
    if isinstance(data, ConnectionsChanged):
        broken = data.reason in BROKEN or not data.links
        return Notification(kind=Kind.CONNECTIONS_CHANGED, event_id=event_id, occurred_at=occurred_at,
                            merchant_id=data.merchant_id, merchant_name=data.merchant_name, links=data.links,
                            change=WhatChanged(reason=data.reason, summary=data.summary), action_needed=broken,
                            next_steps=_reconnect(data) if broken else _update(data))
    raise TypeError(f"the notifier does not notify {type(data).__name__}")


def _finalise(data: SetupCompleted) -> str:
    return (f"Finalise the Xero integration for {data.merchant_name} (merchant {data.merchant_id}) in the "
            f"platform admin, using the store → organisation map below ({len(data.links)} store(s)). "
            "Finalising turns the integration on; the merchant does not need to call.")


def _reconnect(data: ConnectionsChanged) -> str:
    return (f"A Xero connection of {data.merchant_name} (merchant {data.merchant_id}) broke ({data.reason}): "
            "stores missing from the map below no longer post to Xero. Contact the merchant and ask them to "
            "reconnect from the Cloud POS Xero settings, then check the map in the platform admin.")


def _update(data: ConnectionsChanged) -> str:
    return (f"Update the Xero setup of {data.merchant_name} (merchant {data.merchant_id}) in the platform "
            "admin to match the map below. No call to the merchant is needed unless the change is unexpected.")
