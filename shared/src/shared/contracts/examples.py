"""One valid instance of every event: examples for the docs and fixtures for every service's tests."""

from datetime import UTC, datetime
from uuid import UUID

from . import (
    AuthorisedOrganisation,
    BreakReason,
    ConnectionBroken,
    ConnectionRestored,
    ConnectionsChanged,
    ConsentAbandoned,
    DisconnectReason,
    Event,
    KeyValidated,
    Licence,
    MerchantErased,
    OrgDisconnected,
    OrgSelected,
    SetupCompleted,
    SetupFinalised,
    SetupReminderRequested,
    Store,
    StoreConnected,
    StoreDisconnected,
    StoreLink,
    XeroUser,
)

TENANT = UUID("6a7f1a2e-8d3c-4a4f-9f10-2b5e6c7d8e9f")
CONNECTION = UUID("0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f")
AUTH_EVENT = UUID("11111111-2222-4333-8444-555555555555")
INCIDENT = UUID("7b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e")
BROKEN_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
STEVE = XeroUser(xero_userid=UUID("6f1a2b3c-4d5e-4f60-8a71-92b3c4d5e6f7"), name="Steve Tester",
                 email="steve@xero-demo.test")
LINK = StoreLink(store_id="s-1", store_name="Steve Test Store", tenant_id=TENANT,
                 organisation_name="Steve Test Store")


def key_validated(merchant_id: str = "m-1", stores: int = 3) -> KeyValidated:
    return KeyValidated(
        merchant_id=merchant_id, merchant_name="Steve's Cycles", key_id="k-1", key_label="Xero API Client",
        licence=Licence.PRO_PLUS, validated_by="u-1",
        stores=tuple(Store(store_id=f"s-{i}", name=f"Steve Test Store {i}") for i in range(1, stores + 1)))


ALL: list[Event] = [
    key_validated(),
    StoreConnected(merchant_id="m-1", store_id="s-1", grant_id="g-1", auth_event_id=AUTH_EVENT, actor="u-1",
                   organisations=(AuthorisedOrganisation(tenant_id=TENANT, connection_id=CONNECTION,
                                                         name="Steve Test Store"),)),
    OrgSelected(merchant_id="m-1", store_id="s-1", tenant_id=TENANT, organisation_name="Steve Test Store",
                subscription_class="STANDARD", connection_id=CONNECTION, grant_id="g-1", actor="u-1"),
    OrgDisconnected(merchant_id="m-1", tenant_id=TENANT, organisation_name="Steve Test Store",
                    reason=DisconnectReason.MERCHANT_REQUEST, actor="u-1"),
    StoreDisconnected(merchant_id="m-1", store_id="s-1", tenant_id=TENANT, organisation_name="Steve Test Store",
                      reason=DisconnectReason.REMOVED_IN_XERO),
    SetupCompleted(merchant_id="m-1", merchant_name="Steve's Cycles", links=(LINK,), completed_by="u-1"),
    ConnectionsChanged(merchant_id="m-1", merchant_name="Steve's Cycles", summary="Steve Test Store connected",
                       reason="store_connected", links=(LINK,)),
    SetupFinalised(merchant_id="m-1", finalised_by="alice.agent@helpdesk.cloudpos.test"),
    SetupReminderRequested(merchant_id="m-1", merchant_name="Steve's Cycles", links=(LINK,),
                           connected_since=BROKEN_AT, requested_by="alice.agent@helpdesk.cloudpos.test"),
    ConnectionBroken(merchant_id="m-1", store_id="s-1", store_name="Steve Test Store", tenant_id=TENANT,
                     organisation_name="Steve Test Store", reason=BreakReason.REMOVED_IN_XERO, since=BROKEN_AT,
                     incident_id=INCIDENT, authorised_by=STEVE,
                     reconnect_url="http://127.0.0.1:8100/reconnect/s-1?link=signed.example"),
    ConnectionRestored(merchant_id="m-1", store_id="s-1", store_name="Steve Test Store", tenant_id=TENANT,
                       organisation_name="Steve Test Store", incident_id=INCIDENT, broken_since=BROKEN_AT,
                       same_organisation=True, restored_by="u-1"),
    ConsentAbandoned(merchant_id="m-1", store_id="s-1", grant_id="g-1", auth_event_id=AUTH_EVENT,
                     organisations=(AuthorisedOrganisation(tenant_id=TENANT, connection_id=CONNECTION,
                                                           name="Steve Test Store"),), released=(TENANT,),
                     started_by="u-1", authorised_at=BROKEN_AT, abandoned_at=BROKEN_AT.replace(day=3)),
    MerchantErased(merchant_id="m-1", requested_by="lena.lead@helpdesk.cloudpos.test", reference="HD-1234",
                   requested_at=BROKEN_AT.replace(day=4)),
]
