"""The gateway's part of erasing a merchant over fakes (docs/erasure.md): Xero first (DELETE the connections,
revoke the grants only this merchant used), then the rows; Xero away leaves every row in place for the retry.
The rows themselves (every table, on PostgreSQL) are tests/test_erasure_across_services.py."""

from uuid import uuid4

import pytest

from oauth_gateway.ports import XeroFootprint, XeroUnavailable
from oauth_gateway.xero_client import Breaks, Tokens
from oauth_gateway.xero_client.erasure import MerchantErasure
from shared.contracts import CloudEvent, MerchantErased

from .fakes import LINKS, NOW, FakeApi, FakeClock, FakeIdentity, FakeUnitOfWork, active_grant

CONNECTION_A, CONNECTION_B = uuid4(), uuid4()


class FakeMerchantRows:
    """What the gateway holds about merchants at Xero, and which were erased (with how many events)."""

    def __init__(self, footprint: XeroFootprint) -> None:
        self.footprint, self.erased_by = footprint, {}

    async def erased(self, merchant_id: str) -> bool:
        return merchant_id in self.erased_by

    async def xero_footprint(self, merchant_id: str) -> XeroFootprint:
        return self.footprint

    async def erase(self, event: CloudEvent) -> object | None:
        if event.data.merchant_id in self.erased_by:
            return None
        self.erased_by[event.data.merchant_id] = event.id
        return {"connections": len(self.footprint.connections)}


@pytest.fixture
def xero():  # noqa: ANN201
    uow, clock = FakeUnitOfWork(), FakeClock()
    for grant_id in ("g-own", "g-shared"):
        uow.committed.grants[grant_id] = active_grant(grant_id)
    identity, api = FakeIdentity(uuid4()), FakeApi([], {})
    return Tokens(uow, clock, identity, Breaks(LINKS)), identity, api


def erased(merchant_id: str = "m-1") -> CloudEvent:
    return CloudEvent(data=MerchantErased(merchant_id=merchant_id, requested_by="ops:olivia", reference="HD-1",
                                          requested_at=NOW), source="/tests")


async def test_xero_first_then_the_rows_and_a_shared_grant_is_not_revoked(xero):
    tokens, identity, api = xero
    rows = FakeMerchantRows(XeroFootprint((("g-own", CONNECTION_A), ("g-shared", CONNECTION_B)), ("g-own",)))
    event = erased()
    assert await MerchantErasure(rows, tokens, identity, api).erased(event) == {"connections": 2}
    assert api.deleted == [CONNECTION_A, CONNECTION_B]
    assert identity.revoked == ["refresh-1"]            # g-own's; g-shared serves another merchant too
    assert rows.erased_by == {"m-1": event.id}


async def test_xero_away_erases_nothing_locally_and_the_retry_finishes(xero):
    tokens, identity, api = xero
    rows = FakeMerchantRows(XeroFootprint((("g-own", CONNECTION_A),), ("g-own",)))
    erasure, event = MerchantErasure(rows, tokens, identity, api), erased()
    api.failure = XeroUnavailable("503")
    with pytest.raises(XeroUnavailable):
        await erasure.erased(event)
    assert rows.erased_by == {} and identity.revoked == []
    api.failure = None
    await erasure.erased(event)
    assert api.deleted == [CONNECTION_A] and identity.revoked == ["refresh-1"] and "m-1" in rows.erased_by


async def test_a_redelivery_after_the_erasure_calls_xero_no_more(xero):
    tokens, identity, api = xero
    rows = FakeMerchantRows(XeroFootprint((("g-own", CONNECTION_A),), ("g-own",)))
    erasure = MerchantErasure(rows, tokens, identity, api)
    await erasure.erased(erased())
    assert await erasure.erased(erased()) is None
    assert api.deleted == [CONNECTION_A] and identity.revoked == ["refresh-1"]


async def test_an_unusable_grant_has_nothing_left_to_undo_at_xero(xero):
    tokens, identity, api = xero
    rows = FakeMerchantRows(XeroFootprint((("g-gone", CONNECTION_A),), ("g-gone",)))
    await MerchantErasure(rows, tokens, identity, api).erased(erased())
    assert api.deleted == [] and identity.revoked == [] and "m-1" in rows.erased_by
