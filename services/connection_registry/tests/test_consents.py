"""ConsentAbandoned on fakes: a store still waiting for its selection is eligible again, the organisations released
with it are disconnected unless a store uses them, nothing is published, and the usual delivery rules hold
(duplicates, early events parked, late ones recorded)."""

from datetime import datetime, timedelta
from uuid import UUID


from connection_registry.domain import OrgState, StoreState
from connection_registry.handlers import Outcome
from shared.contracts import CloudEvent, ConsentAbandoned, StoreConnected

from .fakes import FakeUnitOfWork
from .journey import ORG_A, ORG_B, Journey


def abandoned(j: Journey, consent: CloudEvent, *released: UUID, still_awaiting: bool = False,
              time: datetime | None = None) -> CloudEvent:
    """The gateway's ConsentAbandoned for the consent announced by `consent` (a StoreConnected)."""
    data = consent.data
    assert isinstance(data, StoreConnected)
    event = ConsentAbandoned(
        merchant_id=j.merchant_id, store_id=data.store_id, grant_id=data.grant_id, auth_event_id=data.auth_event_id,
        organisations=data.organisations, released=released, started_by=data.actor, authorised_at=consent.time,
        abandoned_at=consent.time + timedelta(hours=24), still_awaiting=still_awaiting)
    return CloudEvent(data=event, source="/cloudpos-xero/oauth_gateway", time=time or j._tick(),
                      correlation_id=consent.correlation_id)


def store(uow: FakeUnitOfWork, store_id: str):  # noqa: ANN201
    return uow.committed.graph("m-1").stores[store_id]


def org_state(uow: FakeUnitOfWork, tenant: UUID) -> OrgState:
    return uow.committed.graph("m-1").organisations[tenant].state


async def test_a_store_waiting_for_its_selection_is_eligible_again_and_its_organisations_released(handlers, uow):
    j = Journey()
    await handlers.handle(j.key_validated())
    consent = j.store_connected("s-1", "g-1", ORG_A, ORG_B)
    await handlers.handle(consent)

    assert await handlers.consent_abandoned(abandoned(j, consent, ORG_A, ORG_B)) is Outcome.APPLIED

    s = store(uow, "s-1")
    assert (s.state, s.reason, s.grant_id) == (StoreState.ELIGIBLE, "consent_abandoned", None)
    assert {org_state(uow, t) for t in (ORG_A, ORG_B)} == {OrgState.DISCONNECTED}
    assert uow.committed.graph("m-1").organisations[ORG_A].reason.value == "consent_abandoned"
    assert uow.committed.outbox == []                               # the map of connected stores is unchanged
    line = uow.committed.timeline_of("m-1")[-1]
    assert (line.store_id, line.reason, line.actor) == ("s-1", "consent_abandoned", "oauth_gateway")
    assert "no organisation selected in time" in line.what and line.correlation_id == j.correlation


async def test_an_organisation_a_store_is_connected_to_stays_and_so_does_that_store(handlers, uow):
    j = Journey()
    await handlers.handle(j.key_validated())
    await handlers.handle(j.store_connected("s-1", "g-1", ORG_A))
    await handlers.handle(j.org_selected("s-1", ORG_A, "g-1"))
    change = j.store_connected("s-1", "g-1", ORG_A, ORG_B)      # "Change organisation", never confirmed
    other = j.store_connected("s-2", "g-1", ORG_A, ORG_B)       # a second store, same Xero user, left waiting
    for event in (change, other):
        await handlers.handle(event)

    await handlers.handle(abandoned(j, change, ORG_B))
    await handlers.handle(abandoned(j, other, ORG_A, ORG_B))     # the gateway would not release A; we hold anyway

    assert (store(uow, "s-1").state, store(uow, "s-1").tenant_id) == (StoreState.CONNECTED, ORG_A)
    assert store(uow, "s-2").state is StoreState.ELIGIBLE
    assert (org_state(uow, ORG_A), org_state(uow, ORG_B)) == (OrgState.AUTHORISED, OrgState.DISCONNECTED)
    assert "the store is unchanged" in uow.committed.timeline_of("m-1")[-2].what


async def test_a_newer_consent_still_waiting_keeps_the_store_waiting(handlers, uow):
    j = Journey()
    await handlers.handle(j.key_validated())
    first = j.store_connected("s-1", "g-1", ORG_A)
    for event in (first, j.store_connected("s-1", "g-1", ORG_A)):
        await handlers.handle(event)

    await handlers.handle(abandoned(j, first, still_awaiting=True))

    assert (store(uow, "s-1").state, store(uow, "s-1").grant_id) == (StoreState.AUTHORISED, "g-1")
    assert org_state(uow, ORG_A) is OrgState.AUTHORISED


async def test_the_same_event_twice_changes_nothing_the_second_time(handlers, uow):
    j = Journey()
    await handlers.handle(j.key_validated())
    consent = j.store_connected("s-1", "g-1", ORG_A)
    await handlers.handle(consent)
    event = abandoned(j, consent, ORG_A)
    await handlers.handle(event)
    before = len(uow.committed.timeline)

    assert await handlers.consent_abandoned(event) is Outcome.DUPLICATE
    assert len(uow.committed.timeline) == before


async def test_an_abandonment_before_its_consent_waits_and_then_leaves_the_store_eligible(handlers, uow):
    """Across topics the ConsentAbandoned may come first: it waits for the grant's StoreConnected, so that the
    StoreConnected cannot leave the store waiting for a selection for ever."""
    j = Journey()
    await handlers.handle(j.key_validated())
    consent = j.store_connected("s-1", "g-1", ORG_A, ORG_B)
    early = abandoned(j, consent, ORG_A, ORG_B)

    assert await handlers.handle(early) is Outcome.PARKED
    assert await handlers.handle(consent) is Outcome.APPLIED

    assert store(uow, "s-1").state is StoreState.ELIGIBLE and not uow.committed.parked
    assert {org_state(uow, t) for t in (ORG_A, ORG_B)} == {OrgState.DISCONNECTED}


async def test_an_abandonment_older_than_the_stores_last_change_is_recorded_not_applied(handlers, uow):
    j = Journey()
    await handlers.handle(j.key_validated())
    consent = j.store_connected("s-1", "g-1", ORG_A)
    await handlers.handle(consent)
    stale = abandoned(j, consent, ORG_A, time=j.at(-60))
    await handlers.handle(j.org_selected("s-1", ORG_A, "g-1"))

    await handlers.handle(stale)

    assert store(uow, "s-1").state is StoreState.CONNECTED and org_state(uow, ORG_A) is OrgState.AUTHORISED
    assert uow.committed.timeline_of("m-1")[-1].reason == "superseded"

