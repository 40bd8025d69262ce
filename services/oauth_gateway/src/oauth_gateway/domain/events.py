"""The events this gateway publishes, each built in one place (subject, correlation, actor rules)."""

from uuid import UUID

from shared.contracts import (
    AuthorisedOrganisation,
    CloudEvent,
    DisconnectReason,
    OrgDisconnected,
    OrgSelected,
    StoreConnected,
)

from .model import AuthorisedOrg, Connection, Flow

SOURCE = "/cloudpos-xero/oauth_gateway"
SYSTEM_ACTOR = "oauth_gateway"      # who acts when nobody clicked (keep-alive, removal detection)
XERO_ACTOR = "xero"                 # the change happened inside Xero


def store_connected(flow: Flow, grant_id: str, auth_event_id: UUID, orgs: tuple[AuthorisedOrg, ...]) -> CloudEvent:
    """A consent finished for one store: the organisations it authorised, one of which the merchant picks."""
    return CloudEvent(data=StoreConnected(
        merchant_id=flow.merchant_id, store_id=flow.store_id, grant_id=grant_id, auth_event_id=auth_event_id,
        actor=flow.user_id, organisations=tuple(
            AuthorisedOrganisation(tenant_id=o.tenant_id, connection_id=o.connection_id, name=o.name)
            for o in orgs)),
        source=SOURCE, subject=flow.store_id, correlation_id=flow.flow_id)


def org_selected(flow: Flow, connection: Connection, actor: str) -> CloudEvent:
    """The store's organisation is chosen (it passed the subscription gate)."""
    return CloudEvent(data=OrgSelected(
        merchant_id=flow.merchant_id, store_id=flow.store_id, tenant_id=connection.tenant_id,
        organisation_name=connection.organisation_name, subscription_class=connection.subscription_class,
        connection_id=connection.connection_id, grant_id=connection.grant_id, actor=actor),
        source=SOURCE, subject=flow.store_id, correlation_id=flow.flow_id)


def org_disconnected(connection: Connection, reason: DisconnectReason, actor: str) -> CloudEvent:
    """Every store of the merchant on this organisation is disconnected, whoever or whatever caused it."""
    return CloudEvent(data=OrgDisconnected(
        merchant_id=connection.merchant_id, tenant_id=connection.tenant_id,
        organisation_name=connection.organisation_name, reason=reason, actor=actor),
        source=SOURCE, subject=str(connection.tenant_id))
