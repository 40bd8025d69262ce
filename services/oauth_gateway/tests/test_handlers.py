"""The gateway's use cases on hand-written fakes: fast, no I/O. Each use case is built with only its ports."""

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import pytest

from oauth_gateway.domain.model import Connection, ConnectionStatus, FlowStatus, GrantStatus, StoreRef, WebSession
from oauth_gateway.domain.refusals import Code, Refusal
from oauth_gateway.merchant import Connect, Disconnect, RefusalLog, Select, SessionLifetime, Sessions, Summaries
from oauth_gateway.merchant.sessions import SignedIn
from oauth_gateway.ports import ServiceRefusal, XeroConnection, XeroUnavailable
from oauth_gateway.xero_client import Breaks, GrantBroken, Tokens, Upkeep, XeroJobs
from oauth_gateway.domain.platform import StoreLink
from oauth_gateway.domain.signin import Accounts
from oauth_gateway.domain.upkeep import UpkeepPlan
from shared.contracts import ConnectionBroken, ConnectionRestored, OrgDisconnected, OrgSelected, StoreConnected

from .fakes import (
    EPOCH,
    LINKS,
    FakeApi,
    FakeClock,
    FakeCloudPos,
    FakeIdentity,
    FakeKeyValidator,
    FakeRegistry,
    FakeShare,
    FakeSignInBudget,
    FakeUnitOfWork,
    PlainSealer,
    active_grant,
)

EVENT = uuid4()
CLIENT = "192.0.2.1"
UPKEEP_PLAN = UpkeepPlan(keepalive_every=timedelta(days=7), check_every=timedelta(minutes=15))
STANDARD, STARTER, ELSEWHERE = uuid4(), uuid4(), uuid4()


@dataclass
class World:
    uow: FakeUnitOfWork
    clock: FakeClock
    identity: FakeIdentity
    api: FakeApi
    cloudpos: FakeCloudPos
    key_validator: FakeKeyValidator
    registry: FakeRegistry
    session: WebSession
    tokens: Tokens
    jobs: XeroJobs
    upkeep: Upkeep
    sessions: Sessions
    connect: Connect
    select: Select
    disconnect: Disconnect
    summaries: Summaries


@pytest.fixture
def world() -> World:
    uow, clock, identity = FakeUnitOfWork(), FakeClock(), FakeIdentity(EVENT)
    api = FakeApi([XeroConnection(uuid4(), ELSEWHERE, "Earlier consent", uuid4()),     # first in the list
                   XeroConnection(uuid4(), STANDARD, "Standard Org", EVENT),
                   XeroConnection(uuid4(), STARTER, "Starter Org", EVENT)],
                  {STANDARD: "STANDARD", STARTER: "STARTER", ELSEWHERE: "PREMIUM"})
    cloudpos, key_validator, registry = FakeCloudPos(), FakeKeyValidator(), FakeRegistry()
    refusal_log = RefusalLog(uow, clock)
    breaks = Breaks(LINKS)
    tokens = Tokens(uow, clock, identity, breaks)
    jobs = XeroJobs(uow, clock, tokens, identity, api)
    summaries = Summaries(uow, clock, registry, settle_timeout=0)
    session = WebSession(hashlib.sha256(b"sid").digest(), "u-1", "m-1", "M", "D", clock(), clock(),
                         (StoreRef("s-1", "One"),))
    return World(
        uow, clock, identity, api, cloudpos, key_validator, registry, session, tokens, jobs,
        Upkeep(uow, uow, clock, tokens, api, breaks, FakeShare(), UPKEEP_PLAN, session_idle=timedelta(minutes=30),
               spread=lambda: 0.0),
        Sessions(uow, clock, cloudpos, key_validator, refusal_log, SessionLifetime(), FakeSignInBudget(),
                 Accounts(b"account-secret")),
        Connect(uow, clock, identity, api, PlainSealer(), refusal_log, issuer="https://identity.xero.com",
                flow_ttl=timedelta(minutes=10)),
        Select(uow, clock, api, tokens, jobs, summaries, refusal_log, breaks),
        Disconnect(uow, clock, jobs, refusal_log),
        summaries)


async def _authorised(w: World, session: WebSession | None = None) -> UUID:
    session = session or w.session
    url = await w.connect.start(session, "s-1")
    assert isinstance(url, str)
    state = parse_qs(urlsplit(url).query)["state"][0]
    flow_id = await w.connect.callback(session, [("code", "c"), ("state", state)])
    assert isinstance(flow_id, UUID), flow_id
    return flow_id


async def _checked(w: World) -> int:
    """One upkeep pass with every grant's check due now: how many ConnectionBroken it published."""
    for row in w.uow.committed.upkeep.values():
        row["check"] = EPOCH
    before = sum(isinstance(e.data, ConnectionBroken) for e in w.uow.committed.outbox)
    await w.upkeep.tend_due()
    return sum(isinstance(e.data, ConnectionBroken) for e in w.uow.committed.outbox) - before


async def _selected(w: World) -> UUID:
    flow_id = await _authorised(w)
    assert not isinstance(await w.select.confirm(w.session, flow_id, str(STANDARD)), Refusal)
    return flow_id


async def test_only_organisations_of_this_consent_are_offered_matched_by_event_id(world: World) -> None:
    flow_id = await _authorised(world)

    flow = world.uow.committed.flows[flow_id][0]
    assert [o.tenant_id for o in flow.organisations] == [STANDARD, STARTER]
    [event] = world.uow.committed.outbox
    assert isinstance(event.data, StoreConnected) and event.data.store_id == "s-1"
    assert [o.tenant_id for o in event.data.organisations] == [STANDARD, STARTER]
    assert event.correlation_id == flow_id and event.subject == "s-1"


async def test_an_organisation_outside_the_consent_is_refused(world: World) -> None:
    flow_id = await _authorised(world)

    refused = await world.select.confirm(world.session, flow_id, str(ELSEWHERE))

    assert isinstance(refused, Refusal) and refused.code is Code.ORGANISATION_NOT_IN_CONSENT
    assert refused.flow_id == flow_id and len(world.uow.committed.outbox) == 1


async def test_reaching_for_what_is_not_the_sessions_is_refused_and_audited(world: World) -> None:
    """§B36: another merchant's store, sign-in or organisation, or one outside the consent: refused, changes
    nothing, and one `access.refused` audit record each (what was sent, printable and bounded; why)."""
    flow_id = await _authorised(world)
    session = world.session
    intruder = WebSession(b"intruder", "u-9", "m-9", "N", "E", session.created_at, session.created_at)
    outbox = len(world.uow.committed.outbox)

    for attempt in (world.connect.start(intruder, "s-1"),
                    world.connect.start(session, "s-\x00\r\n" + "x" * 500),
                    world.select.page(intruder, flow_id),
                    world.select.confirm(session, flow_id, str(ELSEWHERE)),
                    world.disconnect.disconnect(intruder, str(STANDARD)),
                    world.disconnect.disconnect(session, "not-a-uuid"),
                    world.disconnect.preview(intruder, str(STANDARD)),
                    world.disconnect.preview(session, "not-a-uuid")):
        assert isinstance(await attempt, Refusal)

    refused = [(merchant, detail["target"], detail["reference"][:12], detail["reason"])
               for action, merchant, _, detail in world.uow.committed.audit if action == "access.refused"]
    assert refused == [("m-9", "store", "s-1", "store_not_yours"),
                       ("m-1", "store", "s-" + "x" * 10, "store_not_yours"),
                       ("m-9", "flow", str(flow_id)[:12], "flow_not_yours"),
                       ("m-1", "organisation", str(ELSEWHERE)[:12], "organisation_not_in_consent"),
                       ("m-9", "organisation", str(STANDARD)[:12], "not_connected"),
                       ("m-1", "organisation", "not-a-uuid", "not_connected"),
                       ("m-9", "organisation", str(STANDARD)[:12], "not_connected"),
                       ("m-1", "organisation", "not-a-uuid", "not_connected")]
    assert max(len(d["reference"]) for a, *_, d in world.uow.committed.audit if a == "access.refused") == 200
    assert len(world.uow.committed.outbox) == outbox


async def test_a_starter_organisation_is_refused_and_its_xero_connection_removed(world: World) -> None:
    flow_id = await _authorised(world)

    refused = await world.select.confirm(world.session, flow_id, str(STARTER))

    assert isinstance(refused, Refusal) and refused.code is Code.SUBSCRIPTION_REFUSED
    assert "Starter" in refused.message
    assert refused.store_id == "s-1"                 # shown in that store's row, ready to connect again
    assert not any(isinstance(e.data, OrgSelected) for e in world.uow.committed.outbox)
    assert len(world.api.deleted) == 1


async def test_a_refused_consent_is_no_longer_offered_once_the_store_connects_through_another(world: World) -> None:
    refused = await _authorised(world)
    assert isinstance(await world.select.confirm(world.session, refused, str(STARTER)), Refusal)
    assert [a.flow_id for a in (await world.summaries.read(world.session)).awaiting] == [refused]

    world.clock.advance(seconds=60)
    await _selected(world)
    assert (await world.summaries.read(world.session)).awaiting == ()           # the Starter one: superseded
    assert world.uow.committed.flows[refused][0].status is FlowStatus.AUTHORISED   # the sweep still tidies it

    world.clock.advance(seconds=60)
    changing = await _authorised(world)                                          # "Change organisation"
    assert [a.flow_id for a in (await world.summaries.read(world.session)).awaiting] == [changing]


async def test_a_standard_organisation_is_selected_for_the_flows_store(world: World) -> None:
    flow_id = await _authorised(world)

    selected = await world.select.confirm(world.session, flow_id, str(STANDARD))

    assert not isinstance(selected, Refusal) and (selected.store_id, selected.tenant_id) == ("s-1", STANDARD)
    event = world.uow.committed.outbox[-1]
    assert isinstance(event.data, OrgSelected) and (event.data.store_id, event.data.tenant_id) == ("s-1", STANDARD)
    assert event.correlation_id == flow_id
    assert world.uow.committed.connections[("m-1", STANDARD)].status is ConnectionStatus.ACTIVE
    spent = await world.select.confirm(world.session, flow_id, str(STANDARD))
    assert isinstance(spent, Refusal) and spent.code is Code.ALREADY_SELECTED


async def test_xero_away_at_confirm_sends_the_merchant_back_to_the_selection(world: World) -> None:
    flow_id = await _authorised(world)
    world.api.failure = XeroUnavailable("down", retry_after=120)

    refused = await world.select.confirm(world.session, flow_id, str(STANDARD))

    assert isinstance(refused, Refusal) and refused.code is Code.XERO_UNAVAILABLE
    assert refused.flow_id == flow_id and "2 minute" in refused.message
    assert world.uow.committed.connections == {}


async def test_a_callback_in_another_session_is_refused_and_spends_the_flow(world: World) -> None:
    url = await world.connect.start(world.session, "s-1")
    assert isinstance(url, str)
    state = parse_qs(urlsplit(url).query)["state"][0]
    other = WebSession(b"other", "u-1", "m-1", "M", "D", world.session.created_at, world.session.created_at)

    first = await world.connect.callback(other, [("code", "c"), ("state", state)])
    second = await world.connect.callback(world.session, [("code", "c"), ("state", state)])

    assert isinstance(first, Refusal) and first.code is Code.FLOW_EXPIRED
    assert isinstance(second, Refusal) and second.code is Code.FLOW_EXPIRED
    assert world.uow.committed.grants == {}


async def test_a_callback_after_the_flow_ttl_is_refused(world: World) -> None:
    url = await world.connect.start(world.session, "s-1")
    assert isinstance(url, str)
    world.clock.advance(minutes=11)

    late = await world.connect.callback(world.session, [("code", "c"), ("state", parse_qs(urlsplit(url).query)[
        "state"][0])])

    assert isinstance(late, Refusal) and late.code is Code.FLOW_EXPIRED
    assert [a for a, *_ in world.uow.committed.audit][-1] == "connect.failed"


async def test_cancel_at_xero_names_the_store(world: World) -> None:
    url = await world.connect.start(world.session, "s-1")
    assert isinstance(url, str)
    state = parse_qs(urlsplit(url).query)["state"][0]

    cancelled = await world.connect.callback(world.session, [("error", "access_denied"), ("state", state)])

    assert isinstance(cancelled, Refusal) and cancelled.code is Code.CANCELLED_AT_XERO and "'One'" in cancelled.message


async def test_sign_in_starts_a_new_session_and_ends_the_previous_one(world: World) -> None:
    first = await world.sessions.sign_in("steve@example.test", "right", previous_id=None, client_address=CLIENT)
    assert isinstance(first, SignedIn)

    second = await world.sessions.sign_in("steve@example.test", "right", first.session_id, CLIENT)

    assert isinstance(second, SignedIn) and second.session_id != first.session_id
    assert await world.sessions.current(first.session_id) is None
    assert (await world.sessions.current(second.session_id)) == second.session


async def test_sign_in_refusals_are_values_that_do_not_repeat_cloud_pos_code(world: World) -> None:
    missing = await world.sessions.sign_in(" ", "x", previous_id=None, client_address=CLIENT)
    wrong = await world.sessions.sign_in("steve@example.test", "wrong", previous_id=None, client_address=CLIENT)

    assert isinstance(missing, Refusal) and missing.code is Code.MISSING_DETAILS
    assert isinstance(wrong, Refusal) and wrong.code is Code.SIGN_IN_REFUSED and wrong.reported_code is None
    assert world.uow.committed.sessions == {}


async def test_an_idle_session_ends(world: World) -> None:
    signed_in = await world.sessions.sign_in("steve@example.test", "right", previous_id=None, client_address=CLIENT)
    assert isinstance(signed_in, SignedIn)

    world.clock.advance(minutes=31)

    assert await world.sessions.current(signed_in.session_id) is None
    assert world.uow.committed.sessions == {}


async def test_a_validated_key_lists_the_sessions_stores(world: World) -> None:
    signed_in = await world.sessions.sign_in("steve@example.test", "right", previous_id=None, client_address=CLIENT)
    assert isinstance(signed_in, SignedIn)

    assert await world.sessions.validate_key(signed_in.session, "cpk_x", "127.0.0.1") == 1

    assert world.uow.committed.sessions[signed_in.session.session_hash].stores == (StoreRef("s-1", "One"),)


async def test_a_key_of_another_merchant_is_refused_and_audited(world: World) -> None:
    world.key_validator.refusal = ServiceRefusal(403, "key_of_other_merchant", "Not your key.")

    refused = await world.sessions.validate_key(world.session, "cpk_x", "127.0.0.1")

    assert isinstance(refused, Refusal) and refused.shown_code == "key_of_other_merchant"
    assert [(a, d["target"]) for a, _, _, d in world.uow.committed.audit] == [("access.refused", "api_key")]


async def test_concurrent_callers_share_one_refresh(world: World) -> None:
    world.uow.committed.grants["g-1"] = active_grant(expires_in=timedelta(seconds=30))

    tokens = await asyncio.gather(*(world.tokens.access_token("g-1") for _ in range(20)))

    assert set(tokens) == {"access-2"} and world.identity.refreshes == 1


async def test_invalid_grant_breaks_the_grant_and_asks_each_store_to_reconnect(world: World) -> None:
    world.uow.committed.grants["g-1"] = active_grant(expires_in=timedelta(seconds=30))
    world.uow.committed.connections[("m-1", STANDARD)] = Connection("m-1", STANDARD, "Org", uuid4(), "g-1",
                                                                    "STANDARD")
    for store in ("s-1", "s-2"):
        world.uow.committed.store_links[store] = StoreLink(store, "m-1", STANDARD, "u-1", world.clock(), store.upper())
    world.identity.refuse = "invalid_grant"

    with pytest.raises(GrantBroken):
        await world.tokens.access_token("g-1")

    assert world.uow.committed.grants["g-1"].status is GrantStatus.BROKEN
    broken = world.uow.committed.connections[("m-1", STANDARD)]
    assert broken.status is ConnectionStatus.BROKEN and broken.incident_id and broken.broken_since == world.clock()
    events = [e.data for e in world.uow.committed.outbox]
    assert [(e.store_id, e.store_name, e.reason.value) for e in events] == [
        ("s-1", "S-1", "authorisation_expired"), ("s-2", "S-2", "authorisation_expired")]
    assert all(isinstance(e, ConnectionBroken) and e.incident_id == broken.incident_id for e in events)
    assert world.uow.committed.store_links.keys() == {"s-1", "s-2"}          # kept, to be reconnected


async def test_disconnect_ends_the_connection_deletes_it_at_xero_and_revokes_the_unused_grant(world: World) -> None:
    await _selected(world)

    assert await world.disconnect.disconnect(world.session, str(STANDARD)) is None

    assert world.uow.committed.connections[("m-1", STANDARD)].status is ConnectionStatus.DISCONNECTED
    event = world.uow.committed.outbox[-1]
    assert isinstance(event.data, OrgDisconnected) and event.data.reason.value == "merchant_request"
    assert len(world.api.deleted) == 1 and world.identity.revoked
    assert next(iter(world.uow.committed.grants.values())).status is GrantStatus.REVOKED
    again = await world.disconnect.disconnect(world.session, str(STANDARD))
    assert isinstance(again, Refusal) and again.code is Code.NOT_CONNECTED


async def test_the_disconnect_confirmation_lists_every_store_it_disconnects_and_changes_nothing(
        world: World) -> None:
    await _selected(world)
    world.uow.committed.store_links["s-2"] = StoreLink("s-2", "m-1", STANDARD, "u-1", world.clock(), "Two")
    outbox, audit = len(world.uow.committed.outbox), len(world.uow.committed.audit)

    found = await world.disconnect.preview(world.session, str(STANDARD))

    assert not isinstance(found, Refusal)
    name = world.uow.committed.connections[("m-1", STANDARD)].organisation_name
    assert (found.tenant_id, found.organisation_name, found.stores) == (STANDARD, name, ("One", "Two"))
    assert world.uow.committed.connections[("m-1", STANDARD)].status is ConnectionStatus.ACTIVE
    assert (len(world.uow.committed.outbox), len(world.uow.committed.audit)) == (outbox, audit)
    assert await world.disconnect.disconnect(world.session, str(STANDARD)) is None
    again = await world.disconnect.preview(world.session, str(STANDARD))       # a second tab, after the first
    assert isinstance(again, Refusal) and again.code is Code.NOT_CONNECTED
    assert not any(action == "access.refused" for action, *_ in world.uow.committed.audit)  # theirs: no alarm


async def test_a_delete_owed_while_xero_is_away_is_retried_with_backoff(world: World) -> None:
    await _selected(world)
    world.api.failure = XeroUnavailable("down")

    assert await world.disconnect.disconnect(world.session, str(STANDARD)) is None
    assert world.api.deleted == [] and await world.jobs.run_due() == 0      # not due yet: backoff

    world.api.failure = None
    world.clock.advance(seconds=10)
    assert await world.jobs.run_due() == 1 and len(world.api.deleted) == 1


async def test_upkeep_marks_an_organisation_removed_inside_xero(world: World) -> None:
    await _selected(world)
    world.api.listed = [c for c in world.api.listed if c.tenant_id != STANDARD]

    assert await _checked(world) == 1
    assert await _checked(world) == 0          # published once, not every sweep

    event = world.uow.committed.outbox[-1]
    assert isinstance(event.data, ConnectionBroken) and event.data.reason.value == "removed_in_xero"
    assert LINKS.verify("m-1", "s-1", event.data.reconnect_url.split("link=")[1], world.clock())
    assert not LINKS.verify("m-2", "s-1", event.data.reconnect_url.split("link=")[1], world.clock())


async def test_reconnecting_the_same_organisation_restores_the_store_once(world: World) -> None:
    await _selected(world)
    world.api.listed = [c for c in world.api.listed if c.tenant_id != STANDARD]
    await _checked(world)
    broken = world.uow.committed.connections[("m-1", STANDARD)]
    world.api.listed.append(XeroConnection(uuid4(), STANDARD, "Standard Org", EVENT))

    await _selected(world)

    restored = [e.data for e in world.uow.committed.outbox if isinstance(e.data, ConnectionRestored)]
    assert [(r.store_id, r.same_organisation, r.incident_id) for r in restored] == [("s-1", True,
                                                                                      broken.incident_id)]
    selected = [e.data for e in world.uow.committed.outbox if isinstance(e.data, OrgSelected)][-1]
    assert (selected.previous_tenant_id, selected.same_organisation) == (STANDARD, True)
    consent = [e.data for e in world.uow.committed.outbox if isinstance(e.data, StoreConnected)][-1]
    assert consent.previous_tenant_id == STANDARD
    assert world.uow.committed.connections[("m-1", STANDARD)].status is ConnectionStatus.ACTIVE


async def test_a_downgrade_to_starter_found_by_the_daily_reread_breaks_the_connection(world: World) -> None:
    await _selected(world)
    assert await _checked(world) == 0
    world.api.plans[STANDARD] = "STARTER"
    assert await _checked(world) == 0              # re-read once a day, not every check
    world.clock.advance(days=1, seconds=1)

    assert await _checked(world) == 1

    event = world.uow.committed.outbox[-1]
    assert isinstance(event.data, ConnectionBroken) and event.data.reason.value == "subscription_downgraded"


async def test_xero_away_during_the_sweeps_breaks_nothing(world: World) -> None:
    await _selected(world)
    world.clock.advance(days=1, seconds=1)
    world.api.failure = XeroUnavailable("503", retry_after=1)
    before = len(world.uow.committed.outbox)

    assert await _checked(world) == 0

    assert len(world.uow.committed.outbox) == before
    assert world.uow.committed.connections[("m-1", STANDARD)].status is ConnectionStatus.ACTIVE


async def test_keep_alive_refreshes_only_grants_idle_for_long(world: World) -> None:
    world.uow.committed.grants["g-1"] = active_grant()
    world.uow.committed.upkeep["g-1"] = {"keepalive": EPOCH, "check": world.clock() + timedelta(days=365),
                                         "failures": 0, "lease": None, "refresh_lease": None}   # keep-alive only

    assert await world.upkeep.tend_due() == 1 and world.identity.refreshes == 0     # refreshed lately: no call
    world.clock.advance(days=6)
    assert await world.upkeep.tend_due() == 0                                       # next keep-alive: day 7
    world.clock.advance(days=1, seconds=1)
    assert await world.upkeep.tend_due() == 1 and world.identity.refreshes == 1


async def test_finishing_tells_the_registry_once_and_says_so(world: World) -> None:
    first = await world.summaries.finish(world.session)
    second = await world.summaries.finish(world.session)

    assert not isinstance(first, Refusal) and first.first_time
    assert not isinstance(second, Refusal) and not second.first_time
    assert [a for a, *_ in world.uow.committed.audit] == ["setup.completed", "setup.completed"]


async def test_a_connection_granted_fewer_scopes_than_now_wanted_asks_for_new_permissions(world: World) -> None:
    await _selected(world)                                     # the fake consent grants ("openid",) only
    wanting = Summaries(world.uow, world.clock, world.registry, settle_timeout=0,
                        wanted_scopes=("openid", "accounting.invoices"))

    [store] = await wanting.health("m-1")
    [fine] = await world.summaries.health("m-1")

    assert (store.health.value, store.reason.value) == ("reconnect_needed", "new_permissions_needed")
    assert "new permissions" in store.reason_words and fine.health.value == "connected"
    assert not any(isinstance(e.data, ConnectionBroken) for e in world.uow.committed.outbox)   # no incident
