"""The events the four services publish. Past tense, data only; see `base.py` for the envelope rules."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints

from . import topics
from .base import Contract, Event, event
from .personal import personal

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@-]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
CloudPosUser = Annotated[Identifier, personal("pseudonym")]   # a person: pseudonymised on the wire (personal.py)


class _Part(Contract):
    """A nested part of an event: strict when built, tolerant of unknown fields when decoded (see base.py)."""


class Licence(StrEnum):
    """Cloud POS licence tiers; only Pro Plus may use the Xero integration."""

    PRO_PLUS = "pro_plus"
    PRO = "pro"
    STANDARD = "standard"
    LITE = "lite"


class DisconnectReason(StrEnum):
    """Why an organisation stopped serving a merchant's stores."""

    MERCHANT_REQUEST = "merchant_request"
    REMOVED_IN_XERO = "removed_in_xero"
    GRANT_INVALID = "grant_invalid"
    ORGANISATION_DELETED = "organisation_deleted"
    REPLACED = "replaced"
    CONSENT_ABANDONED = "consent_abandoned"      # authorised at Xero, never selected before the consent expired


class BreakReason(StrEnum):
    """Why a store's connection needs the merchant to connect it again (the merchant's page says it in words)."""

    REMOVED_IN_XERO = "removed_in_xero"                  # the app was removed under Connected Apps in Xero
    AUTHORISATION_EXPIRED = "authorisation_expired"      # invalid_grant: the user left, 60 idle days, revoked
    ORGANISATION_DELETED = "organisation_deleted"
    SUBSCRIPTION_DOWNGRADED = "subscription_downgraded"  # now Starter or Trial: Standard or better only
    NEW_PERMISSIONS_NEEDED = "new_permissions_needed"    # the app asks for more scopes than were granted


class XeroUser(_Part):
    """The Xero user who authorised a connection (from the ID token); removing the app for them removes it
    for every store on that organisation."""

    xero_userid: Annotated[UUID, personal("pseudonym-uuid")]
    name: Annotated[str, StringConstraints(max_length=200), personal("sealed")] = ""
    email: Annotated[str, StringConstraints(max_length=320), personal("sealed")] = ""


class Store(_Part):
    store_id: Identifier
    name: Name


class AuthorisedOrganisation(_Part):
    """One Xero organisation (tenant) the merchant authorised in a consent."""

    tenant_id: UUID
    connection_id: UUID
    name: Name


class StoreLink(_Part):
    """One line of the store → organisation map the helpdesk finalises."""

    store_id: Identifier
    store_name: Name
    tenant_id: UUID
    organisation_name: Name


@event(topics.KEY_VALIDATED, "KeyValidated")
class KeyValidated(Event):
    """A merchant's Cloud POS API key for the Xero service was validated. Never carries the key itself."""

    merchant_name: Name
    key_id: Identifier
    key_label: Name
    licence: Licence
    stores: tuple[Store, ...] = Field(max_length=500)
    validated_by: CloudPosUser


@event(topics.STORE_CONNECTED, "StoreConnected")
class StoreConnected(Event):
    """A store completed Xero consent; `organisations` are those authorised in THIS consent."""

    store_id: Identifier
    grant_id: Identifier
    auth_event_id: UUID
    organisations: tuple[AuthorisedOrganisation, ...] = Field(max_length=100)
    actor: CloudPosUser
    authorised_by: XeroUser | None = None
    previous_tenant_id: UUID | None = None       # the organisation the store posted to before this consent


@event(topics.ORG_SELECTED, "OrgSelected")
class OrgSelected(Event):
    """The merchant chose the organisation a store posts to, after the subscription gate accepted it."""

    store_id: Identifier
    tenant_id: UUID
    organisation_name: Name
    subscription_class: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    connection_id: UUID
    grant_id: Identifier
    actor: CloudPosUser
    authorised_by: XeroUser | None = None
    previous_tenant_id: UUID | None = None
    same_organisation: bool | None = None        # None: the store had no organisation before


@event(topics.ORG_DISCONNECTED, "OrgDisconnected")
class OrgDisconnected(Event):
    """An organisation no longer serves this merchant: every store linked to it is disconnected."""

    tenant_id: UUID
    organisation_name: Name
    reason: DisconnectReason
    actor: CloudPosUser


@event(topics.STORE_DISCONNECTED, "StoreDisconnected")
class StoreDisconnected(Event):
    """One store lost its organisation; the CloudEvents causation id names the change that caused it."""

    store_id: Identifier
    tenant_id: UUID
    organisation_name: Name
    reason: DisconnectReason


@event(topics.CONNECTION_BROKEN, "ConnectionBroken")
class ConnectionBroken(Event):
    """A store's connection stopped working and only the merchant can repair it (Reconnect). Published once
    per incident: `incident_id` names it until ConnectionRestored. Xero being slow or rate-limited is never
    a break."""

    store_id: Identifier
    store_name: Name
    tenant_id: UUID
    organisation_name: Name
    reason: BreakReason
    since: datetime
    incident_id: UUID
    authorised_by: XeroUser | None = None
    reconnect_url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


@event(topics.CONNECTION_RESTORED, "ConnectionRestored")
class ConnectionRestored(Event):
    """A broken store's connection works again: reconnected to the same organisation, or to another one."""

    store_id: Identifier
    store_name: Name
    tenant_id: UUID
    organisation_name: Name
    incident_id: UUID
    broken_since: datetime
    same_organisation: bool
    restored_by: CloudPosUser


@event(topics.CONSENT_ABANDONED, "ConsentAbandoned")
class ConsentAbandoned(Event):
    """A store's consent ("Allow access" at Xero) was never followed by "Confirm Selection" in time: the store
    no longer waits for a selection (unless `still_awaiting`: a newer consent for it does). `released`: the
    organisations whose Xero connection nothing else uses, now being removed at Xero."""

    store_id: Identifier
    grant_id: Identifier
    auth_event_id: UUID
    organisations: tuple[AuthorisedOrganisation, ...] = Field(max_length=100)   # offered in that consent
    released: tuple[UUID, ...] = Field(default=(), max_length=100)
    started_by: CloudPosUser                     # the Cloud POS user who clicked "Connect to Xero"
    authorised_at: datetime
    abandoned_at: datetime
    still_awaiting: bool = False


@event(topics.SETUP_COMPLETED, "SetupCompleted")
class SetupCompleted(Event):
    """The merchant finished connecting stores: the helpdesk can finalise with this map."""

    merchant_name: Name
    links: tuple[StoreLink, ...] = Field(min_length=1, max_length=500)
    completed_by: CloudPosUser


@event(topics.CONNECTIONS_CHANGED, "ConnectionsChanged")
class ConnectionsChanged(Event):
    """After completion, the map changed (a store connected, an organisation disconnected or broken)."""

    merchant_name: Name
    summary: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    links: tuple[StoreLink, ...] = Field(max_length=500)


@event(topics.SETUP_FINALISED, "SetupFinalised")
class SetupFinalised(Event):
    """The helpdesk finished the setup; the platform backend turns the integration on."""

    finalised_by: Identifier


@event(topics.SETUP_REMINDER_REQUESTED, "SetupReminderRequested")
class SetupReminderRequested(Event):
    """A helpdesk agent asked that the merchant be reminded to finish: stores are connected to Xero but nobody
    clicked "I have finished" yet. The notifier emails the merchant's contact address once per event."""

    merchant_name: Name
    links: tuple[StoreLink, ...] = Field(min_length=1, max_length=500)   # the stores connected so far
    connected_since: datetime                    # when the first of them was connected
    requested_by: Identifier                     # the agent, from their identity provider's ID token


@event(topics.MERCHANT_ERASED, "MerchantErased")
class MerchantErased(Event):
    """Staff erased the merchant (docs/erasure.md): every service removes its own personal data of the merchant
    (the envelope's merchant id) and keeps only counts. Carries no personal datum itself, so it may stay on its
    topic forever and tell a rebuild, or a late or replayed event, that the merchant is gone."""

    requested_by: Identifier                     # the lead's identity from the ID token, or "ops:<name>"
    reference: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:#/-]+$")]
    requested_at: datetime
