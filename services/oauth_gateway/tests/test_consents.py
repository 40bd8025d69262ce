"""Abandoned consents and resuming the selection, on the fakes of test_handlers.py: a consent waits for "Confirm
Selection" for the consent TTL, resumable from any later session of the same merchant; after it the sweep abandons
it, deleting at Xero only the connections nothing else uses and revoking the grant only when nothing holds it."""

from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest

from oauth_gateway.domain.model import FlowStatus, GrantStatus, JobKind, StoreRef, WebSession
from oauth_gateway.domain.refusals import Code, Refusal
from oauth_gateway.merchant.select import SelectionPage
from oauth_gateway.ports import XeroUnavailable
from oauth_gateway.xero_client.consents import AbandonedConsents
from shared.contracts import ConsentAbandoned, OrgSelected

from .test_handlers import STANDARD, STARTER, World, world  # noqa: F401, F811 - `world` is the fixture

TTL = timedelta(hours=24)


@pytest.fixture
def sweep(world: World) -> AbandonedConsents:
    return AbandonedConsents(world.uow, world.clock, world.jobs, ttl=TTL, batch=2)


def _session(w: World, name: bytes, user: str = "u-1", merchant: str = "m-1",
             stores: tuple[str, ...] = ()) -> WebSession:
    return WebSession(name.ljust(32, b"-"), user, merchant, "M", "D", w.clock(), w.clock(),
                      tuple(StoreRef(s, f"Store {s}") for s in stores))


async def _consent(w: World, store_id: str = "s-1", session: WebSession | None = None) -> UUID:
    """"Connect to Xero" and "Allow access" for one store; the flow then waits for "Confirm Selection"."""
    session = session or _session(w, b"first", stores=("s-1", "s-2", "s-3"))
    url = await w.connect.start(session, store_id)
    assert isinstance(url, str), url
    state = parse_qs(urlsplit(url).query)["state"][0]
    flow_id = await w.connect.callback(session, [("code", "c"), ("state", state)])
    assert isinstance(flow_id, UUID), flow_id
    return flow_id


def _status(w: World, flow_id: UUID) -> FlowStatus:
    return w.uow.committed.flows[flow_id][0].status


def _abandoned(w: World) -> list[ConsentAbandoned]:
    return [e.data for e in w.uow.committed.outbox if isinstance(e.data, ConsentAbandoned)]


def _connection_ids(w: World) -> dict[UUID, UUID]:
    return {c.tenant_id: c.connection_id for c in w.api.listed}


async def test_the_selection_resumes_after_signing_out_and_in_again_even_as_a_colleague(world: World) -> None:
    flow_id = await _consent(world)
    world.clock.advance(hours=23)
    later = _session(world, b"later", user="u-2")        # signed in again; no key validated in this session

    summary = await world.summaries.read(later)
    page = await world.select.page(later, flow_id)
    selected = await world.select.confirm(later, flow_id, str(STANDARD))

    [waiting] = summary.awaiting
    assert (waiting.flow_id, waiting.store_id, waiting.until) == (flow_id, "s-1", world.clock() + timedelta(hours=1))
    assert summary.awaiting_of("s-1") == waiting and summary.awaiting_of("s-2") is None
    assert set(waiting.organisations) == {"Standard Org", "Starter Org"}
    assert isinstance(page, SelectionPage) and page.flow.flow_id == flow_id
    assert not isinstance(selected, Refusal) and selected.store_id == "s-1"
    [event] = [e.data for e in world.uow.committed.outbox if isinstance(e.data, OrgSelected)]
    assert event.actor == "u-2"                                    # who confirmed, not who began
    assert (await world.summaries.read(later)).awaiting == ()


async def test_another_merchant_cannot_resume_and_is_recorded(world: World) -> None:
    flow_id = await _consent(world)
    intruder = _session(world, b"intruder", user="u-9", merchant="m-9")

    page = await world.select.page(intruder, flow_id)
    confirmed = await world.select.confirm(intruder, flow_id, str(STANDARD))

    assert isinstance(page, Refusal) and page.code is Code.FLOW_EXPIRED
    assert isinstance(confirmed, Refusal) and confirmed.code is Code.FLOW_EXPIRED
    refused = [(m, d["reason"]) for a, m, _, d in world.uow.committed.audit if a == "access.refused"]
    assert refused == [("m-9", "flow_not_yours"), ("m-9", "flow_not_yours")]
    assert (await world.summaries.read(intruder)).awaiting == ()
    assert _status(world, flow_id) is FlowStatus.AUTHORISED and world.uow.committed.connections == {}


async def test_past_the_ttl_the_selection_is_expired_even_before_the_sweep(world: World) -> None:
    flow_id = await _consent(world)
    session = _session(world, b"first")
    world.clock.advance(hours=24, seconds=1)

    page = await world.select.page(session, flow_id)
    confirmed = await world.select.confirm(session, flow_id, str(STANDARD))

    assert isinstance(page, Refusal) and page.code is Code.FLOW_EXPIRED
    assert isinstance(confirmed, Refusal) and confirmed.code is Code.FLOW_EXPIRED
    assert (await world.summaries.read(session)).awaiting == ()
    assert world.uow.committed.connections == {}


async def test_the_sweep_abandons_only_expired_consents_and_releases_what_nothing_uses(
        world: World, sweep: AbandonedConsents) -> None:
    old = await _consent(world, "s-1")
    world.clock.advance(hours=20)
    world.api.listed = [replace(c, connection_id=UUID(int=i)) for i, c in enumerate(world.api.listed)]
    young = await _consent(world, "s-2")         # other connection ids (another Xero user's, say), same grant
    world.clock.advance(hours=4, seconds=1)

    assert await sweep.sweep() == 1

    assert (_status(world, old), _status(world, young)) == (FlowStatus.ABANDONED, FlowStatus.AUTHORISED)
    [event] = _abandoned(world)
    assert (event.store_id, event.still_awaiting, set(event.released)) == ("s-1", False, {STANDARD, STARTER})
    assert {o.tenant_id for o in event.organisations} == {STANDARD, STARTER}
    assert event.abandoned_at - event.authorised_at == timedelta(hours=24, seconds=1)
    assert len(world.api.deleted) == 2 and not set(world.api.deleted) & set(_connection_ids(world).values())
    assert world.identity.revoked == []                              # the young consent still holds the grant
    assert world.uow.committed.grants[event.grant_id].status is GrantStatus.ACTIVE


async def test_the_last_use_of_a_grant_abandoned_revokes_it(world: World, sweep: AbandonedConsents) -> None:
    flow_id = await _consent(world)
    world.clock.advance(hours=25)

    assert await sweep.sweep() == 1

    assert _status(world, flow_id) is FlowStatus.ABANDONED
    # Deleted one by one, or dropped with the grant's revocation (Xero removes every connection of that user).
    offered = {_connection_ids(world)[t] for t in (STANDARD, STARTER)}
    assert world.api.deleted and set(world.api.deleted) <= offered
    [grant] = world.uow.committed.grants.values()
    assert grant.status is GrantStatus.REVOKED and grant.tokens is None and len(world.identity.revoked) == 1
    assert all(e["done"] for e in world.uow.committed.jobs.values())
    [audit] = [d for a, *_, d in world.uow.committed.audit if a == "connect.abandoned"]
    assert audit["store_id"] == "s-1" and audit["xero_jobs"] == 2


async def test_a_connection_another_store_uses_is_kept_with_its_grant(world: World,
                                                                     sweep: AbandonedConsents) -> None:
    session = _session(world, b"first", stores=("s-1", "s-2"))
    chosen = await _consent(world, "s-1", session)
    assert not isinstance(await world.select.confirm(session, chosen, str(STANDARD)), Refusal)
    left = await _consent(world, "s-2", session)         # Xero keeps the connection ids: the same two again
    world.clock.advance(hours=25)

    assert await sweep.sweep() == 1

    assert (_status(world, chosen), _status(world, left)) == (FlowStatus.SELECTED, FlowStatus.ABANDONED)
    [event] = _abandoned(world)
    assert event.released == (STARTER,)
    assert world.api.deleted == [_connection_ids(world)[STARTER]]
    assert world.identity.revoked == [] and not any(
        e["job"].kind is JobKind.REVOKE_GRANT for e in world.uow.committed.jobs.values())


async def test_a_store_with_a_newer_consent_still_awaits_and_shared_connections_stay(
        world: World, sweep: AbandonedConsents) -> None:
    first = await _consent(world, "s-1")
    world.clock.advance(hours=23)
    second = await _consent(world, "s-1")        # the merchant began again; same organisations, same connections
    world.clock.advance(hours=2)

    assert await sweep.sweep() == 1

    assert (_status(world, first), _status(world, second)) == (FlowStatus.ABANDONED, FlowStatus.AUTHORISED)
    [event] = _abandoned(world)
    assert (event.still_awaiting, event.released) == (True, ())
    assert world.api.deleted == [] and world.identity.revoked == [] and world.uow.committed.jobs == {}


async def test_a_second_sweep_finds_nothing_more_to_do(world: World, sweep: AbandonedConsents) -> None:
    for store in ("s-1", "s-2", "s-3"):                 # more than one batch (of 2)
        await _consent(world, store)
    world.clock.advance(hours=25)
    assert await sweep.sweep() == 3
    done = (len(world.uow.committed.outbox), len(world.uow.committed.jobs), list(world.api.deleted))

    assert await sweep.sweep() == 0

    assert (len(world.uow.committed.outbox), len(world.uow.committed.jobs), list(world.api.deleted)) == done
    assert {e.store_id for e in _abandoned(world)} == {"s-1", "s-2", "s-3"}


async def test_xero_away_leaves_the_work_queued_and_the_consent_abandoned(world: World,
                                                                         sweep: AbandonedConsents) -> None:
    flow_id = await _consent(world)
    world.clock.advance(hours=25)
    world.api.failure = XeroUnavailable("down", retry_after=60)

    assert await sweep.sweep() == 1

    assert _status(world, flow_id) is FlowStatus.ABANDONED and len(_abandoned(world)) == 1
    assert world.api.deleted == [] and not all(e["done"] for e in world.uow.committed.jobs.values())
    world.api.failure = None
    world.clock.advance(minutes=5)
    await world.jobs.run_due()
    assert world.api.deleted and world.identity.revoked != []
    assert all(e["done"] for e in world.uow.committed.jobs.values())
