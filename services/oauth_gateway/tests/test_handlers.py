"""The gateway's use cases on fakes: fast, no I/O."""

import asyncio
import hashlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest

from oauth_gateway.domain.model import Connection, ConnectionStatus, GrantStatus, StoreRef, WebSession
from oauth_gateway.domain.problems import Problem
from oauth_gateway.handlers.common import Deps
from oauth_gateway.handlers.gateway import build_handlers
from oauth_gateway.handlers.tokens import GrantBroken
from oauth_gateway.ports import XeroConnection
from shared.contracts import OrgDisconnected, OrgSelected, StoreConnected

from .fakes import FakeApi, FakeClock, FakeIdentity, FakeUnitOfWork, NoRegistry, PlainSealer, active_grant

EVENT = uuid4()
STANDARD, STARTER, ELSEWHERE = uuid4(), uuid4(), uuid4()


@pytest.fixture
def world():
    uow, clock = FakeUnitOfWork(), FakeClock()
    identity = FakeIdentity(EVENT)
    api = FakeApi([XeroConnection(uuid4(), ELSEWHERE, "Earlier consent", uuid4()),     # first in the list
                   XeroConnection(uuid4(), STANDARD, "Standard Org", EVENT),
                   XeroConnection(uuid4(), STARTER, "Starter Org", EVENT)],
                  {STANDARD: "STANDARD", STARTER: "STARTER", ELSEWHERE: "PREMIUM"})
    deps = Deps(uow, clock, identity, api, None, None, NoRegistry(), PlainSealer())
    handlers = build_handlers(deps, "https://identity.xero.com", timedelta(days=14))
    session = WebSession(hashlib.sha256(b"sid").digest(), "u-1", "m-1", "M", "D", clock(), clock(),
                         (StoreRef("s-1", "One"),))
    return handlers, uow, identity, api, session


async def _authorised(handlers, session):
    url = await handlers.connect.start(session, "s-1")
    state = parse_qs(urlsplit(url).query)["state"][0]
    return await handlers.connect.callback(session, [("code", "c"), ("state", state)])


async def test_only_organisations_of_this_consent_are_offered_matched_by_event_id(world):
    handlers, uow, *_ , session = world
    flow_id = await _authorised(handlers, session)

    flow = uow.committed.flows[flow_id][0]
    assert [o.tenant_id for o in flow.organisations] == [STANDARD, STARTER]
    [event] = uow.committed.outbox
    assert isinstance(event.data, StoreConnected) and event.data.store_id == "s-1"
    assert [o.tenant_id for o in event.data.organisations] == [STANDARD, STARTER]


async def test_an_organisation_outside_the_consent_is_refused(world):
    handlers, uow, *_, session = world
    flow_id = await _authorised(handlers, session)

    with pytest.raises(Problem) as refused:
        await handlers.select.confirm(session, flow_id, str(ELSEWHERE))

    assert refused.value.status == 403 and len(uow.committed.outbox) == 1


async def test_reaching_for_what_is_not_the_sessions_is_refused_and_audited(world):
    """§B36: another merchant's store, sign-in or organisation, or one outside the consent: refused, changes
    nothing, and one `access.refused` audit record each (what was sent, printable and bounded; why)."""
    handlers, uow, *_, session = world
    flow_id = await _authorised(handlers, session)
    intruder = WebSession(b"intruder", "u-9", "m-9", "N", "E", session.created_at, session.created_at)
    outbox = len(uow.committed.outbox)

    for attempt in (handlers.connect.start(intruder, "s-1"),
                    handlers.connect.start(session, "s-\x00\r\n" + "x" * 500),
                    handlers.select.page(intruder, flow_id),
                    handlers.select.confirm(session, flow_id, str(ELSEWHERE)),
                    handlers.disconnect.disconnect(intruder, str(STANDARD)),
                    handlers.disconnect.disconnect(session, "not-a-uuid")):
        with pytest.raises(Problem):
            await attempt

    refused = [(merchant, detail["target"], detail["reference"][:12], detail["reason"])
               for action, merchant, _, detail in uow.committed.audit if action == "access.refused"]
    assert refused == [("m-9", "store", "s-1", "store_not_yours"),
                       ("m-1", "store", "s-" + "x" * 10, "store_not_yours"),
                       ("m-9", "flow", str(flow_id)[:12], "flow_not_yours"),
                       ("m-1", "organisation", str(ELSEWHERE)[:12], "organisation_not_in_consent"),
                       ("m-9", "organisation", str(STANDARD)[:12], "not_connected"),
                       ("m-1", "organisation", "not-a-uuid", "not_connected")]
    assert max(len(d["reference"]) for a, *_, d in uow.committed.audit if a == "access.refused") == 200
    assert len(uow.committed.outbox) == outbox


async def test_a_starter_organisation_is_refused_and_its_xero_connection_removed(world):
    handlers, uow, _, api, session = world
    flow_id = await _authorised(handlers, session)

    with pytest.raises(Problem) as refused:
        await handlers.select.confirm(session, flow_id, str(STARTER))

    assert refused.value.code == "subscription_refused" and "Starter" in refused.value.message
    assert not any(isinstance(e.data, OrgSelected) for e in uow.committed.outbox)
    assert len(api.deleted) == 1


async def test_a_standard_organisation_is_selected_for_the_flows_store(world):
    handlers, uow, *_, session = world
    flow_id = await _authorised(handlers, session)

    await handlers.select.confirm(session, flow_id, str(STANDARD))

    selected = uow.committed.outbox[-1].data
    assert isinstance(selected, OrgSelected) and (selected.store_id, selected.tenant_id) == ("s-1", STANDARD)
    assert uow.committed.connections[("m-1", STANDARD)].status is ConnectionStatus.ACTIVE
    with pytest.raises(Problem):                         # the flow is spent
        await handlers.select.confirm(session, flow_id, str(STANDARD))


async def test_a_callback_in_another_session_is_refused_and_spends_the_flow(world):
    handlers, uow, identity, _, session = world
    url = await handlers.connect.start(session, "s-1")
    state = parse_qs(urlsplit(url).query)["state"][0]
    other = WebSession(b"other", "u-1", "m-1", "M", "D", session.created_at, session.created_at)

    with pytest.raises(Problem):
        await handlers.connect.callback(other, [("code", "c"), ("state", state)])
    with pytest.raises(Problem):
        await handlers.connect.callback(session, [("code", "c"), ("state", state)])
    assert uow.committed.grants == {}


async def test_concurrent_callers_share_one_refresh(world):
    handlers, uow, identity, *_ = world
    uow.committed.grants["g-1"] = active_grant(expires_in=timedelta(seconds=30))

    tokens = await asyncio.gather(*(handlers.tokens.access_token("g-1") for _ in range(20)))

    assert set(tokens) == {"access-2"} and identity.refreshes == 1


async def test_invalid_grant_breaks_the_grant_and_disconnects_its_organisations(world):
    handlers, uow, identity, *_ = world
    uow.committed.grants["g-1"] = active_grant(expires_in=timedelta(seconds=30))
    uow.committed.connections[("m-1", STANDARD)] = Connection("m-1", STANDARD, "Org", uuid4(), "g-1", "STANDARD")
    identity.refuse = "invalid_grant"

    with pytest.raises(GrantBroken):
        await handlers.tokens.access_token("g-1")

    assert uow.committed.grants["g-1"].status is GrantStatus.BROKEN
    [event] = uow.committed.outbox
    assert isinstance(event.data, OrgDisconnected) and event.data.reason.value == "grant_invalid"
