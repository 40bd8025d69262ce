"""Upkeep as a job queue, on hand-written fakes: the schedule rules, lost refresh answers retried within seconds,
the budget share, bounded concurrency and leases."""

import asyncio
from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import pytest

from oauth_gateway.domain.upkeep import XERO_REFRESH_GRACE, DueGrant, Tended, UpkeepPlan, next_schedule
from oauth_gateway.domain.model import Connection, ConnectionStatus, GrantStatus
from oauth_gateway.ports import XeroConnection, XeroUnavailable
from oauth_gateway.xero_client import Breaks, Tokens, Upkeep

from .fakes import EPOCH, LINKS, NOW, FakeApi, FakeClock, FakeIdentity, FakeShare, FakeUnitOfWork, active_grant

PLAN = UpkeepPlan(keepalive_every=timedelta(days=7), check_every=timedelta(minutes=15))
FAR = NOW + timedelta(days=365)


# --- the schedule (pure) ----------------------------------------------------------------------------------
def test_failed_refreshes_are_retried_within_seconds_and_many_times_inside_xeros_grace():
    waits = [PLAN.retry_in(n) for n in range(1, 9)]

    assert waits[:6] == [timedelta(seconds=s) for s in (5, 10, 20, 40, 80, 120)]
    assert sum(waits, timedelta()) < XERO_REFRESH_GRACE
    with pytest.raises(ValueError):
        UpkeepPlan(keepalive_every=timedelta(days=7), check_every=timedelta(minutes=15),
                   retry_longest=timedelta(minutes=10))


def test_the_next_keep_alive_follows_the_last_refresh_and_a_failure_comes_back_in_seconds():
    due = DueGrant("g", NOW - timedelta(days=8), keepalive_due=True, check_due=True, failures=2)

    failed = next_schedule(PLAN, due, Tended(due.refreshed_at, refreshed=False, checked=True), NOW, 0.0)
    done = next_schedule(PLAN, due, Tended(NOW, refreshed=True, checked=True), NOW, 0.5)

    assert (failed.next_keepalive_at, failed.failures) == (NOW + timedelta(seconds=20), 3)
    assert (done.next_keepalive_at, done.failures) == (NOW + PLAN.keepalive_every * 0.95, 0)
    assert done.next_check_at == NOW + timedelta(minutes=15) * 0.95


def test_a_check_not_due_keeps_its_time_and_a_deferred_one_comes_back_when_told():
    due = DueGrant("g", NOW, keepalive_due=True, check_due=False)
    deferred = DueGrant("g", NOW, keepalive_due=False, check_due=True)

    assert next_schedule(PLAN, due, Tended(NOW), NOW, 0.0).next_check_at is None
    later = next_schedule(PLAN, deferred, Tended(NOW, checked=False, retry_check_in=timedelta(seconds=7)), NOW, 0.0)
    assert later.next_check_at == NOW + timedelta(seconds=7)


def test_a_keep_alive_refreshes_only_a_grant_idle_for_long_unless_the_last_refresh_failed():
    recent = DueGrant("g", NOW - timedelta(days=1), keepalive_due=True, check_due=False)

    assert not recent.needs_refresh(PLAN, NOW)
    assert DueGrant("g", NOW - timedelta(days=1), True, False, failures=1).needs_refresh(PLAN, NOW)
    assert DueGrant("g", NOW - timedelta(days=7), True, False).needs_refresh(PLAN, NOW)
    assert not DueGrant("g", NOW - timedelta(days=70), False, True).needs_refresh(PLAN, NOW)


# --- the queue, on fakes ---------------------------------------------------------------------------------
class LosingIdentity(FakeIdentity):
    """Xero rotates, but the next `lose` answers never reach us."""

    def __init__(self) -> None:
        super().__init__(uuid4())
        self.lose = 0

    async def refresh(self, refresh_token):  # noqa: ANN001, ANN201
        answer = await super().refresh(refresh_token)
        if self.lose > 0:
            self.lose -= 1
            raise XeroUnavailable("no answer in time")
        return answer


class SlowApi(FakeApi):
    """Counts how many /connections calls are in flight at once."""

    def __init__(self) -> None:
        super().__init__([], {})
        self.in_flight = self.most = self.calls = 0

    async def connections(self, access_token, auth_event_id=None):  # noqa: ANN001, ANN201
        self.in_flight += 1
        self.calls += 1
        self.most = max(self.most, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        return []


def _upkeep(uow, clock, identity, api, share=None, **options) -> Upkeep:  # noqa: ANN001
    breaks = Breaks(LINKS)
    return Upkeep(uow, uow, clock, Tokens(uow, clock, identity, breaks), api, breaks, share or FakeShare(), PLAN,
                  session_idle=timedelta(minutes=30), spread=lambda: 0.0, **options)


def _grants(uow: FakeUnitOfWork, count: int, *, keepalive=EPOCH, check=FAR, refreshed_days_ago: float = 0) -> None:
    for n in range(count):
        grant = active_grant(f"g-{n}")
        uow.committed.grants[grant.grant_id] = grant.__class__(
            grant.grant_id, f"sub-{n}", 1, GrantStatus.ACTIVE, grant.tokens,
            NOW - timedelta(days=refreshed_days_ago))
        uow.committed.upkeep[grant.grant_id] = {"keepalive": keepalive, "check": check, "failures": 0,
                                                "lease": None, "refresh_lease": None}


async def test_a_lost_refresh_answer_is_retried_within_seconds_and_the_grant_survives():
    uow, clock, identity = FakeUnitOfWork(), FakeClock(), LosingIdentity()
    _grants(uow, 1, refreshed_days_ago=8)
    identity.lose = 3                                   # the three attempts of one refresh all lose their answer
    upkeep = _upkeep(uow, clock, identity, FakeApi([], {}))

    assert await upkeep.tend_due() == 1
    row = uow.committed.upkeep["g-0"]
    assert row["failures"] == 1 and row["keepalive"] == clock() + timedelta(seconds=5)
    assert await upkeep.tend_due() == 0                 # not before its retry time
    clock.advance(seconds=5)

    assert await upkeep.tend_due() == 1

    grant = uow.committed.grants["g-0"]
    assert grant.status is GrantStatus.ACTIVE and grant.tokens.refresh_token == "refresh-5"   # the 4th answer came
    assert uow.committed.upkeep["g-0"]["failures"] == 0
    assert uow.committed.upkeep["g-0"]["keepalive"] == clock() + PLAN.keepalive_every


async def test_a_refresh_lost_outside_upkeep_is_handed_to_upkeep_within_seconds():
    uow, clock, identity = FakeUnitOfWork(), FakeClock(), LosingIdentity()
    _grants(uow, 1, keepalive=FAR)
    identity.lose = 3
    tokens = Tokens(uow, clock, identity, Breaks(LINKS))

    with pytest.raises(XeroUnavailable):
        await tokens.access_token("g-0", force=True)     # a platform call's refresh

    row = uow.committed.upkeep["g-0"]
    assert row["keepalive"] == clock() + timedelta(seconds=5) and row["refresh_lease"] is None


async def test_checks_stop_at_the_upkeep_share_of_the_budget_and_come_back_when_told():
    uow, clock, api = FakeUnitOfWork(), FakeClock(), SlowApi()
    _grants(uow, 5, keepalive=FAR, check=EPOCH)
    upkeep = _upkeep(uow, clock, FakeIdentity(uuid4()), api, FakeShare(room=2))

    assert await upkeep.tend_due() == 5

    assert api.calls == 2
    deferred = [row for row in uow.committed.upkeep.values() if row["check"] == clock() + timedelta(seconds=7)]
    assert len(deferred) == 3


async def test_a_batch_is_tended_with_bounded_concurrency_and_leased_grants_are_not_taken_twice():
    uow, clock, api = FakeUnitOfWork(), FakeClock(), SlowApi()
    _grants(uow, 30, keepalive=FAR, check=EPOCH)
    upkeep = _upkeep(uow, clock, FakeIdentity(uuid4()), api, batch_size=10, concurrency=3)
    async with uow() as tx:
        held = await tx.grants.claim_upkeep(clock(), 12, clock() + timedelta(minutes=3))  # another instance

    assert await upkeep.tend_due() == 10
    assert await upkeep.tend_due() == 8
    assert await upkeep.tend_due() == 0

    assert api.most == 3 and api.calls == 18
    assert all(uow.committed.upkeep[g.grant_id]["lease"] is not None for g in held)


async def test_an_organisation_removed_in_xero_breaks_once_and_the_dead_grant_leaves_the_queue():
    uow, clock, identity = FakeUnitOfWork(), FakeClock(), FakeIdentity(uuid4())
    tenant = uuid4()
    api = FakeApi([XeroConnection(uuid4(), tenant, "Org", uuid4())], {tenant: "STANDARD"})
    _grants(uow, 1, keepalive=FAR, check=EPOCH)
    uow.committed.connections[("m-1", tenant)] = Connection("m-1", tenant, "Org", uuid4(), "g-0", "STANDARD")
    upkeep = _upkeep(uow, clock, identity, api)
    await upkeep.tend_due()
    assert uow.committed.connections[("m-1", tenant)].status is ConnectionStatus.ACTIVE
    identity.refuse = "invalid_grant"
    clock.advance(minutes=31)                           # the access token expired: the check must refresh

    assert await upkeep.tend_due() == 1

    assert uow.committed.grants["g-0"].status is GrantStatus.BROKEN
    assert uow.committed.connections[("m-1", tenant)].status is ConnectionStatus.BROKEN
    clock.advance(hours=1)
    assert await upkeep.tend_due() == 0


async def test_running_upkeep_keeps_every_worker_busy_while_one_grant_is_slow():
    """A grant whose call hangs holds up its own worker only: the others go on claiming and tending."""
    uow, clock = FakeUnitOfWork(), FakeClock()
    _grants(uow, 12, keepalive=FAR, check=EPOCH)
    slow = uow.committed.grants["g-0"]
    uow.committed.grants["g-0"] = replace(slow, tokens=replace(slow.tokens, access_token="access-slow"))

    class HangingApi(SlowApi):
        async def connections(self, access_token, auth_event_id=None):  # noqa: ANN001, ANN201
            if access_token == "access-slow":
                await asyncio.sleep(30)
            return await super().connections(access_token, auth_event_id)

    api = HangingApi()
    upkeep = _upkeep(uow, clock, FakeIdentity(uuid4()), api, batch_size=4, concurrency=3)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(upkeep.run(poll_seconds=0.01), 1.0)

    assert api.calls == 11                             # every other grant, across three batches
    rescheduled = [gid for gid, row in uow.committed.upkeep.items() if row["check"] > clock()]
    assert sorted(rescheduled) == sorted(f"g-{n}" for n in range(1, 12))
