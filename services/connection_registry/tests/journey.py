"""Builds one merchant's events as the other services publish them, one minute apart in event time."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from shared.contracts import (AuthorisedOrganisation, BreakReason, CloudEvent, ConnectionBroken, ConnectionRestored,
                              DisconnectReason, KeyValidated, Licence, OrgDisconnected, OrgSelected, Store,
                              StoreConnected, XeroUser)

ORG_A = UUID("aaaaaaaa-0000-4000-8000-000000000001")
ORG_B = UUID("bbbbbbbb-0000-4000-8000-000000000002")
NAMES = {ORG_A: "Steve's Cycles Ltd", ORG_B: "Steve's Rentals Ltd"}
STEVE = XeroUser(xero_userid=UUID("6f1a2b3c-4d5e-4f60-8a71-92b3c4d5e6f7"), name="Steve Tester",
                 email="steve@xero-demo.test")


class Journey:
    """Events one minute apart from `start`; with `clock`, each event takes the clock's time instead."""

    def __init__(self, merchant_id: str = "m-1", start: datetime = datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
                 clock: Callable[[], datetime] | None = None) -> None:
        self.merchant_id = merchant_id
        self.start = self.time = start
        self.clock = clock
        self.correlation = uuid4()

    def at(self, minutes: float) -> datetime:
        """An absolute time relative to the start, to build late or early events on purpose."""
        return self.start + timedelta(minutes=minutes)

    def key_validated(self, stores: int = 3, **kw: object) -> CloudEvent:
        return self._event(KeyValidated(
            merchant_id=self.merchant_id, merchant_name="Steve's Cycles", key_id="k-1", key_label="Xero API Client",
            licence=Licence.PRO_PLUS, validated_by="u-1",
            stores=tuple(Store(store_id=f"s-{i}", name=f"Store {i}") for i in range(1, stores + 1))), **kw)

    def store_connected(self, store: str, grant: str, *tenants: UUID, **kw: object) -> CloudEvent:
        return self._event(StoreConnected(
            merchant_id=self.merchant_id, store_id=store, grant_id=grant, auth_event_id=uuid4(), actor="u-1",
            organisations=tuple(AuthorisedOrganisation(tenant_id=t, connection_id=uuid4(), name=NAMES[t])
                                for t in tenants)), **kw)

    def org_selected(self, store: str, tenant: UUID, grant: str, authorised_by: XeroUser | None = None,
                     **kw: object) -> CloudEvent:
        return self._event(OrgSelected(
            merchant_id=self.merchant_id, store_id=store, tenant_id=tenant, organisation_name=NAMES[tenant],
            subscription_class="STANDARD", connection_id=uuid4(), grant_id=grant, actor="u-1",
            authorised_by=authorised_by), **kw)

    def broken(self, store: str, tenant: UUID, incident: UUID, reason: BreakReason = BreakReason.REMOVED_IN_XERO,
               since: datetime | None = None, time: datetime | None = None, **kw: object) -> CloudEvent:
        """The gateway's ConnectionBroken; `since` is the event's own time unless given."""
        time = time or self._tick()
        return self._event(ConnectionBroken(
            merchant_id=self.merchant_id, store_id=store, store_name=f"Store {store[2:]}", tenant_id=tenant,
            organisation_name=NAMES[tenant], reason=reason, since=since or time, incident_id=incident,
            authorised_by=STEVE, reconnect_url=f"http://gateway.test/reconnect/{store}?link=signed"), time, **kw)

    def restored(self, store: str, tenant: UUID, incident: UUID, broken_since: datetime,
                 same_organisation: bool = True, **kw: object) -> CloudEvent:
        return self._event(ConnectionRestored(
            merchant_id=self.merchant_id, store_id=store, store_name=f"Store {store[2:]}", tenant_id=tenant,
            organisation_name=NAMES[tenant], incident_id=incident, broken_since=broken_since,
            same_organisation=same_organisation, restored_by="u-1"), **kw)

    def org_disconnected(self, tenant: UUID, reason: DisconnectReason = DisconnectReason.REMOVED_IN_XERO,
                         **kw: object) -> CloudEvent:
        return self._event(OrgDisconnected(merchant_id=self.merchant_id, tenant_id=tenant,
                                           organisation_name=NAMES[tenant], reason=reason, actor="u-1"), **kw)

    def connected(self) -> list[CloudEvent]:
        """The usual happy path: 3 stores; s-1 and s-2 post to A, s-3 to B (s-2 reuses s-1's grant)."""
        return [self.key_validated(),
                self.store_connected("s-1", "g-1", ORG_A, ORG_B), self.org_selected("s-1", ORG_A, "g-1"),
                self.org_selected("s-2", ORG_A, "g-1"),
                self.store_connected("s-3", "g-2", ORG_B), self.org_selected("s-3", ORG_B, "g-2")]

    def _tick(self) -> datetime:
        self.time = self.clock() if self.clock else self.time + timedelta(minutes=1)
        return self.time

    def _event(self, data, time: datetime | None = None, **kw: object) -> CloudEvent:  # noqa: ANN001
        return CloudEvent(data=data, source="/cloudpos-xero/oauth_gateway", time=time or self._tick(),
                          correlation_id=self.correlation, **kw)  # type: ignore[arg-type]
