"""Builds one merchant's events as the other services publish them, one minute apart in event time."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from shared.contracts import (AuthorisedOrganisation, CloudEvent, DisconnectReason, KeyValidated, Licence,
                              OrgDisconnected, OrgSelected, Store, StoreConnected)

ORG_A = UUID("aaaaaaaa-0000-4000-8000-000000000001")
ORG_B = UUID("bbbbbbbb-0000-4000-8000-000000000002")
NAMES = {ORG_A: "Steve's Cycles Ltd", ORG_B: "Steve's Rentals Ltd"}


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

    def org_selected(self, store: str, tenant: UUID, grant: str, **kw: object) -> CloudEvent:
        return self._event(OrgSelected(
            merchant_id=self.merchant_id, store_id=store, tenant_id=tenant, organisation_name=NAMES[tenant],
            subscription_class="STANDARD", connection_id=uuid4(), grant_id=grant, actor="u-1"), **kw)

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

    def _event(self, data, time: datetime | None = None, **kw: object) -> CloudEvent:  # noqa: ANN001
        if time is None:
            self.time = self.clock() if self.clock else self.time + timedelta(minutes=1)
        return CloudEvent(data=data, source="/cloudpos-xero/oauth_gateway", time=time or self.time,
                          correlation_id=self.correlation, **kw)  # type: ignore[arg-type]
