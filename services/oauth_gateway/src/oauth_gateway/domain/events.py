"""The events this gateway publishes, each built in one place (subject, correlation, actor rules)."""

from datetime import datetime
from uuid import UUID

from shared.contracts import (
    AuthorisedOrganisation,
    BreakReason,
    CloudEvent,
    ConnectionBroken,
    ConnectionRestored,
    ConsentAbandoned,
    DisconnectReason,
    OrgDisconnected,
    OrgSelected,
    StoreConnected,
    XeroUser,
)

from .model import AuthorisedOrg, Connection, Flow
from .platform import StoreLink

SOURCE = "/cloudpos-xero/oauth_gateway"
SYSTEM_ACTOR = "oauth_gateway"      # who acts when nobody clicked (keep-alive, removal detection)
XERO_ACTOR = "xero"                 # the change happened inside Xero


def store_connected(flow: Flow, grant_id: str, auth_event_id: UUID, orgs: tuple[AuthorisedOrg, ...],
                    authorised_by: XeroUser | None = None, previous_tenant_id: UUID | None = None) -> CloudEvent:
    """A consent finished for one store: the organisations it authorised, one of which the merchant picks."""
    return CloudEvent(data=StoreConnected(
        merchant_id=flow.merchant_id, store_id=flow.store_id, grant_id=grant_id, auth_event_id=auth_event_id,
        actor=flow.user_id, authorised_by=authorised_by, previous_tenant_id=previous_tenant_id, organisations=tuple(
            AuthorisedOrganisation(tenant_id=o.tenant_id, connection_id=o.connection_id, name=o.name)
            for o in orgs)),
        source=SOURCE, subject=flow.store_id, correlation_id=flow.flow_id)


def org_selected(flow: Flow, connection: Connection, actor: str, authorised_by: XeroUser | None = None,
                 previous_tenant_id: UUID | None = None) -> CloudEvent:
    """The store's organisation is chosen (it passed the subscription gate); `previous_tenant_id`: the one it
    posted to before, so the platform knows whether to keep its account mappings."""
    same = None if previous_tenant_id is None else previous_tenant_id == connection.tenant_id
    return CloudEvent(data=OrgSelected(
        merchant_id=flow.merchant_id, store_id=flow.store_id, tenant_id=connection.tenant_id,
        organisation_name=connection.organisation_name, subscription_class=connection.subscription_class,
        connection_id=connection.connection_id, grant_id=connection.grant_id, actor=actor,
        authorised_by=authorised_by, previous_tenant_id=previous_tenant_id, same_organisation=same),
        source=SOURCE, subject=flow.store_id, correlation_id=flow.flow_id)


def connection_broken(connection: Connection, link: StoreLink, reason: BreakReason, reconnect_url: str,
                      authorised_by: XeroUser | None) -> CloudEvent:
    """One store's connection needs the merchant (once per incident; the incident id is the correlation)."""
    assert connection.incident_id is not None and connection.broken_since is not None, "a broken connection"
    return CloudEvent(data=ConnectionBroken(
        merchant_id=connection.merchant_id, store_id=link.store_id, store_name=link.store_name or link.store_id,
        tenant_id=connection.tenant_id, organisation_name=connection.organisation_name, reason=reason,
        since=connection.broken_since, incident_id=connection.incident_id, authorised_by=authorised_by,
        reconnect_url=reconnect_url), source=SOURCE, subject=link.store_id, correlation_id=connection.incident_id)


def connection_restored(link: StoreLink, connection: Connection, incident_id: UUID, broken_since: datetime,
                        same_organisation: bool, actor: str) -> CloudEvent:
    """A broken store works again (`connection` is the one it now uses)."""
    return CloudEvent(data=ConnectionRestored(
        merchant_id=connection.merchant_id, store_id=link.store_id, store_name=link.store_name or link.store_id,
        tenant_id=connection.tenant_id, organisation_name=connection.organisation_name, incident_id=incident_id,
        broken_since=broken_since, same_organisation=same_organisation, restored_by=actor),
        source=SOURCE, subject=link.store_id, correlation_id=incident_id)


def org_disconnected(connection: Connection, reason: DisconnectReason, actor: str) -> CloudEvent:
    """Every store of the merchant on this organisation is disconnected, whoever or whatever caused it."""
    return CloudEvent(data=OrgDisconnected(
        merchant_id=connection.merchant_id, tenant_id=connection.tenant_id,
        organisation_name=connection.organisation_name, reason=reason, actor=actor),
        source=SOURCE, subject=str(connection.tenant_id))


def consent_abandoned(flow: Flow, released: tuple[AuthorisedOrg, ...], now: datetime,
                      still_awaiting: bool) -> CloudEvent:
    """A consent nobody confirmed within the TTL (same correlation as its StoreConnected: the flow)."""
    assert flow.grant_id and flow.auth_event_id and flow.authorised_at, "an authorised flow"
    return CloudEvent(data=ConsentAbandoned(
        merchant_id=flow.merchant_id, store_id=flow.store_id, grant_id=flow.grant_id,
        auth_event_id=flow.auth_event_id, started_by=flow.user_id, authorised_at=flow.authorised_at,
        abandoned_at=now, still_awaiting=still_awaiting, released=tuple(o.tenant_id for o in released),
        organisations=tuple(AuthorisedOrganisation(tenant_id=o.tenant_id, connection_id=o.connection_id, name=o.name)
                            for o in flow.organisations)),
        source=SOURCE, subject=flow.store_id, correlation_id=flow.flow_id)
