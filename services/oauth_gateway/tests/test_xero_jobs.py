"""Owed Xero work (DELETE a connection, revoke a grant) on hand-written fakes: the lease rules of the queue, and the
rules that keep a job from undoing a later confirmation (Xero keeps a connection's id when the same organisation is
authorised again; a revocation drops every connection of that Xero user)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

from oauth_gateway.domain.model import ConnectionStatus, GrantStatus, JobKind
from oauth_gateway.domain.refusals import Code, Refusal
from oauth_gateway.ports import XeroConnection, XeroUnavailable
from oauth_gateway.xero_client import Breaks, Tokens, XeroJobs

from .fakes import LINKS, FakeUnitOfWork, active_grant
from .test_handlers import EVENT, STANDARD, STARTER, World, _authorised, _selected, world  # noqa: F401 - fixture

LEASE = timedelta(seconds=120)


def _connection_id(w: World, tenant: UUID = STANDARD) -> UUID:
    return next(c.connection_id for c in w.api.listed if c.tenant_id == tenant and c.auth_event_id == EVENT)


def _job_audit(w: World, kind: JobKind) -> list[tuple[str, bool]]:
    return [(d["outcome"], d.get("will_retry", False)) for a, _, _, d in w.uow.committed.audit
            if a == f"xero.{kind.value}"]


def _jobs(w: World, kind: JobKind | None = None) -> list[dict]:
    return [j for j in w.uow.committed.jobs.values() if kind in (None, j["job"].kind)]


class DeletesFail:
    """Xero answers every DELETE /connections/{id} with no usable answer (its other endpoints work)."""

    def __init__(self, w: World, why: str = "DELETE /connections: 503") -> None:
        self.w, self.why, self.answered = w, why, w.api.delete_connection

    def __enter__(self) -> None:
        async def failing(access_token: str, connection_id: UUID) -> int:
            raise XeroUnavailable(self.why)
        self.w.api.delete_connection = failing

    def __exit__(self, *exc: object) -> None:
        self.w.api.delete_connection = self.answered


async def _owed_delete(w: World) -> UUID:
    """A connection nobody uses any more and its DELETE owed (not yet tried)."""
    w.uow.committed.grants["g-1"] = active_grant()
    connection_id = _connection_id(w)
    async with w.uow() as tx:
        await tx.jobs.add(JobKind.DELETE_CONNECTION, "g-1", "m-1", "u-1", w.clock(), STANDARD, connection_id)
    return connection_id


class CountedUnitOfWork:
    """The fake unit of work, counting the transactions open at any moment."""

    def __init__(self, inner: FakeUnitOfWork) -> None:
        self.inner, self.open = inner, 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[object]:
        self.open += 1
        try:
            async with self.inner() as tx:
                yield tx
        finally:
            self.open -= 1


# --- the lease rules ------------------------------------------------------------------------------------------
async def test_a_job_held_by_an_instance_that_died_is_taken_again_once_its_lease_ends(world: World) -> None:
    connection_id = await _owed_delete(world)
    async with world.uow() as tx:                         # another instance claims it, then dies before Xero answers
        [dead] = await tx.jobs.claim(world.clock(), world.clock() + LEASE, 10)

    assert await world.jobs.run_due() == 0 and world.api.deleted == []          # leased: nobody else takes it
    world.clock.advance(seconds=LEASE.total_seconds() + 1)
    assert await world.jobs.run_due() == 1 and world.api.deleted == [connection_id]

    async with world.uow() as tx:                         # the dead attempt's late answer changes nothing
        assert not await tx.jobs.finish(dead, world.clock(), "xero_unavailable", world.clock() + LEASE)
    [job] = _jobs(world, JobKind.DELETE_CONNECTION)
    assert job["done"] and job["outcome"] == "deleted" and job["job"].attempts == 2


async def test_no_transaction_is_open_while_xero_is_called_and_a_batch_runs_a_few_at_a_time(world: World) -> None:
    counted = CountedUnitOfWork(world.uow)
    tokens = Tokens(counted, world.clock, world.identity, Breaks(LINKS))
    jobs = XeroJobs(counted, world.clock, tokens, world.identity, world.api, batch_size=4, concurrency=3)
    world.uow.committed.grants["g-1"] = active_grant()
    async with world.uow() as tx:
        for _ in range(10):
            await tx.jobs.add(JobKind.DELETE_CONNECTION, "g-1", "m-1", "u-1", world.clock(), STANDARD, uuid4())
    open_during_calls, in_flight, peak = [], 0, 0

    async def delete_connection(access_token: str, connection_id: UUID) -> int:
        nonlocal in_flight, peak
        open_during_calls.append(counted.open)
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return 204
    world.api.delete_connection = delete_connection

    assert await jobs.run_due() == 10

    assert len(open_during_calls) == 10 and set(open_during_calls) == {0}
    assert peak == 3
    assert all(j["done"] and j["outcome"] == "deleted" for j in _jobs(world, JobKind.DELETE_CONNECTION))


async def test_an_attempt_is_cut_off_well_inside_its_lease_and_retried(world: World) -> None:
    connection_id = await _owed_delete(world)
    jobs = XeroJobs(world.uow, world.clock, world.tokens, world.identity, world.api, lease=timedelta(seconds=0.2))
    answered = world.api.delete_connection

    async def hanging(access_token: str, cid: UUID) -> int:
        await asyncio.sleep(5)
        return await answered(access_token, cid)
    world.api.delete_connection = hanging

    assert await jobs.run_due() == 0
    [job] = _jobs(world)
    assert (job["done"], job["outcome"], job["job"].attempts) == (False, "xero_unavailable", 1)
    assert job["next_at"] == world.clock() + timedelta(seconds=5)          # the usual backoff

    world.api.delete_connection = answered
    world.clock.advance(seconds=5)
    assert await jobs.run_due() == 1 and world.api.deleted == [connection_id]


# --- a DELETE never removes a connection a later confirmation reused ------------------------------------------
async def test_xero_down_at_disconnect_then_the_same_organisation_confirmed_again_keeps_the_connection(
        world: World) -> None:
    await _selected(world)
    with DeletesFail(world):
        assert await world.disconnect.disconnect(world.session, str(STANDARD)) is None
        world.clock.advance(seconds=1)
        flow_id = await _authorised(world)                  # Xero keeps the connection id
        selected = await world.select.confirm(world.session, flow_id, str(STANDARD))
    world.clock.advance(minutes=5)

    assert not isinstance(selected, Refusal)
    assert await world.jobs.run_due() == 0 and world.api.deleted == [] and world.identity.revoked == []
    connection = world.uow.committed.connections[("m-1", STANDARD)]
    assert connection.status is ConnectionStatus.ACTIVE and connection.connection_id == _connection_id(world)
    assert _job_audit(world, JobKind.DELETE_CONNECTION) == [("xero_unavailable", True), ("superseded", False)]


async def test_a_consent_awaiting_its_selection_keeps_the_connection_from_an_earlier_delete(world: World) -> None:
    await _selected(world)
    with DeletesFail(world):
        await world.disconnect.disconnect(world.session, str(STANDARD))
        world.clock.advance(seconds=1)
        flow_id = await _authorised(world)                  # not confirmed yet
    world.clock.advance(minutes=5)

    assert await world.jobs.run_due() == 1                  # ended when claimed: nothing called at Xero
    assert world.api.deleted == [] and world.identity.revoked == []
    assert _job_audit(world, JobKind.DELETE_CONNECTION)[-1] == ("superseded", False)
    assert not isinstance(await world.select.confirm(world.session, flow_id, str(STANDARD)), Refusal)


async def test_a_refused_organisation_is_deleted_though_its_own_consent_still_awaits_a_selection(
        world: World) -> None:
    flow_id = await _authorised(world)

    refused = await world.select.confirm(world.session, flow_id, str(STARTER))

    assert isinstance(refused, Refusal) and refused.code is Code.SUBSCRIPTION_REFUSED
    assert world.api.deleted == [_connection_id(world, STARTER)]
    assert world.identity.revoked == []                     # the consent may still select Standard
    assert not isinstance(await world.select.confirm(world.session, flow_id, str(STANDARD)), Refusal)


async def test_a_delete_in_flight_when_the_organisation_is_confirmed_again_refuses_that_confirmation(
        world: World) -> None:
    await _selected(world)
    at_xero, answer = asyncio.Event(), asyncio.Event()
    answered = world.api.delete_connection

    async def slow(access_token: str, cid: UUID) -> int:
        at_xero.set()
        await answer.wait()
        return await answered(access_token, cid)
    world.api.delete_connection = slow
    disconnecting = asyncio.ensure_future(world.disconnect.disconnect(world.session, str(STANDARD)))
    await at_xero.wait()
    world.clock.advance(seconds=1)

    flow_id = await _authorised(world)                      # Xero still has the connection: same id
    refused = await world.select.confirm(world.session, flow_id, str(STANDARD))
    answer.set()
    assert await disconnecting is None

    assert isinstance(refused, Refusal) and refused.code is Code.DISCONNECT_IN_PROGRESS and refused.flow_id is None
    assert "click Connect to Xero" in refused.message
    assert world.uow.committed.connections[("m-1", STANDARD)].status is ConnectionStatus.DISCONNECTED
    assert world.identity.revoked == []                     # that consent still awaits its selection
    again = await world.select.confirm(world.session, flow_id, str(STANDARD))
    assert isinstance(again, Refusal) and again.code is Code.DISCONNECT_IN_PROGRESS   # the connection is gone

    world.clock.advance(seconds=1)                          # a fresh consent: Xero makes a new connection
    world.api.listed = [XeroConnection(uuid4(), STANDARD, "Standard Org", EVENT)]
    fresh = await _authorised(world)
    assert not isinstance(await world.select.confirm(world.session, fresh, str(STANDARD)), Refusal)
    connection = world.uow.committed.connections[("m-1", STANDARD)]
    assert connection.status is ConnectionStatus.ACTIVE and connection.connection_id == _connection_id(world)


async def test_a_delete_without_a_usable_answer_after_the_consent_began_refuses_the_confirmation(
        world: World) -> None:
    """Xero may have acted on a DELETE that timed out: once the consent that reused the connection began, even
    a job later superseded at claim keeps that consent's confirmation from reporting a connection maybe gone."""
    await _selected(world)
    url = await world.connect.start(world.session, "s-1")           # the merchant is at Xero
    world.clock.advance(seconds=1)
    with DeletesFail(world, "DELETE /connections: no answer in time"):
        await world.disconnect.disconnect(world.session, str(STANDARD))
    state = parse_qs(urlsplit(url).query)["state"][0]
    flow_id = await world.connect.callback(world.session, [("code", "c"), ("state", state)])
    assert isinstance(flow_id, UUID)
    world.clock.advance(seconds=10)
    assert await world.jobs.run_due() == 1 and world.api.deleted == []    # superseded when claimed

    refused = await world.select.confirm(world.session, flow_id, str(STANDARD))

    assert isinstance(refused, Refusal) and refused.code is Code.DISCONNECT_IN_PROGRESS


# --- a revocation never drops what a consent or an active connection uses --------------------------------------
async def test_the_grant_is_not_revoked_while_another_consent_awaits_its_selection(world: World) -> None:
    await _selected(world)
    world.clock.advance(seconds=1)
    world.api.listed = [c for c in world.api.listed if c.tenant_id != STANDARD]     # this consent: Starter only
    waiting = await _authorised(world)

    assert await world.disconnect.disconnect(world.session, str(STANDARD)) is None

    assert len(world.api.deleted) == 1 and world.identity.revoked == []
    assert world.uow.committed.grants[world.uow.committed.flows[waiting][0].grant_id].status is GrantStatus.ACTIVE
    async with world.uow() as tx:                           # a revocation owed anyway ends when claimed
        job_id = await tx.jobs.add(JobKind.REVOKE_GRANT, world.uow.committed.flows[waiting][0].grant_id, "m-1",
                                   "u-1", world.clock())
    assert await world.jobs.run(job_id) and world.identity.revoked == []
    assert _job_audit(world, JobKind.REVOKE_GRANT) == [("superseded", False)]


async def test_a_new_consent_of_the_same_xero_user_supersedes_a_pending_revocation(world: World) -> None:
    await _selected(world)

    async def unreachable(refresh_token: str) -> None:
        raise XeroUnavailable("503")
    revoke, world.identity.revoke = world.identity.revoke, unreachable
    await world.disconnect.disconnect(world.session, str(STANDARD))
    assert [(j["job"].kind, j["done"]) for j in _jobs(world)] == [(JobKind.DELETE_CONNECTION, True),
                                                                   (JobKind.REVOKE_GRANT, False)]
    world.identity.revoke = revoke
    world.clock.advance(seconds=1)

    await _authorised(world)
    world.clock.advance(minutes=5)

    assert await world.jobs.run_due() == 0 and world.identity.revoked == []
    assert _job_audit(world, JobKind.REVOKE_GRANT) == [("xero_unavailable", True), ("superseded", False)]


async def test_a_revocation_in_flight_when_a_new_consent_arrives_refuses_its_confirmation(world: World) -> None:
    await _selected(world)
    at_xero, answer = asyncio.Event(), asyncio.Event()
    revoke = world.identity.revoke

    async def slow(refresh_token: str) -> None:
        at_xero.set()
        await answer.wait()
        await revoke(refresh_token)
    world.identity.revoke = slow
    disconnecting = asyncio.ensure_future(world.disconnect.disconnect(world.session, str(STANDARD)))
    await at_xero.wait()
    world.clock.advance(seconds=1)

    flow_id = await _authorised(world)
    refused = await world.select.confirm(world.session, flow_id, str(STANDARD))
    answer.set()
    await disconnecting

    assert isinstance(refused, Refusal) and refused.code is Code.DISCONNECT_IN_PROGRESS
    grant = world.uow.committed.grants[world.uow.committed.flows[flow_id][0].grant_id]
    assert grant.status is GrantStatus.ACTIVE and grant.tokens is not None     # taken up by the new consent
