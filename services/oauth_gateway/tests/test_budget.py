"""The shared Xero budget on a real PostgreSQL: two gateway instances (two pools, one database) never let
more through than Xero's per-tenant minute, day and in-flight limits or the app-wide minute allow; refusals
name the limit and a sensible Retry-After; 429s from Xero block a tenant or, for the app minute, everyone.
Limits are configured small over short windows, so the tests are fast."""

import asyncio
import time
from datetime import timedelta
from importlib.resources import files
from uuid import uuid4

import asyncpg
import pytest

from oauth_gateway.adapters.budget import BudgetExhausted, BudgetShare, TenantBudget, XeroLimits
from oauth_gateway.ports import XeroUnavailable
from shared.delivery import Migrations, apply_migrations
from shared.metrics import sample
from shared.ratelimit import RATE_LIMIT_MIGRATIONS

pytestmark = pytest.mark.postgres
GATEWAY = Migrations("oauth_gateway", files("oauth_gateway") / "migrations")
ROOMY = dict(concurrent=50, per_minute=1000, per_day=1000, app_per_minute=1000, margin=timedelta(0))


@pytest.fixture
async def pools(fresh_database):
    """Two pools on one database: what two gateway instances share."""
    one, two = [await asyncpg.create_pool(fresh_database, min_size=1, max_size=25) for _ in range(2)]
    await apply_migrations(one, RATE_LIMIT_MIGRATIONS, GATEWAY)
    yield one, two
    await one.close()
    await two.close()


def budgets(pools, **limits):
    return [TenantBudget(lambda pool=pool: pool, XeroLimits(**{**ROOMY, **limits})) for pool in pools]


async def call(budget, tenant, max_wait=0.0):
    """One call through the budget: None when granted, else the refusal."""
    try:
        async with budget.slot(tenant, max_wait=max_wait):
            return None
    except BudgetExhausted as refused:
        return refused


async def test_two_instances_together_never_pass_the_tenant_minute(pools):
    one, two = budgets(pools, per_minute=10, minute=timedelta(seconds=30))
    tenant = uuid4()
    refused_before = sample("xero_budget_reservations_total", {"limit": "minute", "outcome": "refused"})

    results = await asyncio.gather(*(call(one if i % 2 else two, tenant) for i in range(30)))

    refusals = [r for r in results if r is not None]
    assert len(refusals) == 20 and {r.limit for r in refusals} == {"minute"}
    assert all(isinstance(r, XeroUnavailable) and 25 <= r.retry_after <= 30 for r in refusals)
    assert sample("xero_budget_reservations_total", {"limit": "minute", "outcome": "refused"}) - refused_before == 20
    assert await call(one, uuid4()) is None                      # another tenant has its own minute


async def test_waiting_callers_of_two_instances_keep_every_window_within_the_limit(pools):
    one, two = budgets(pools, per_minute=5, minute=timedelta(seconds=1))
    tenant, entered = uuid4(), []

    async def enter(budget):
        async with budget.slot(tenant, max_wait=10):
            entered.append(time.monotonic())

    started = time.monotonic()
    await asyncio.gather(*(enter(one if i % 2 else two) for i in range(12)))

    assert time.monotonic() - started >= 1.9                     # 5 now, 5 a second later, 2 a second after that
    window = 0.9                                                 # a little under 1 s: our clock is not the database's
    assert max(sum(t <= u < t + window for u in entered) for t in entered) <= 5
    assert sample("xero_budget_reservations_total", {"limit": "minute", "outcome": "waited"}) >= 7


async def test_the_day_limit_refuses_with_day_and_when_its_oldest_slice_leaves(pools):
    one, two = budgets(pools, per_day=6, day=timedelta(minutes=1), day_slices=6,   # 10 s slices
                       minute=timedelta(seconds=5))
    tenant = uuid4()
    assert [await call(one if i % 2 else two, tenant) for i in range(6)] == [None] * 6

    refused = await call(two, tenant, max_wait=5)                # waiting would not help: refused at once
    assert refused.limit == "day" and 50 <= refused.retry_after <= 70
    assert await call(one, uuid4()) is None


async def test_the_app_minute_is_shared_by_all_tenants_and_tenantless_calls(pools):
    one, two = budgets(pools, app_per_minute=8, minute=timedelta(seconds=30), app_minute_slices=3)
    tenants = [uuid4() for _ in range(4)]
    for i in range(6):
        assert await call(one if i % 2 else two, tenants[i % 4]) is None
    async with one.app_slot():
        pass
    assert await call(two, None) is None                         # 8 spent: 6 tenant calls and 2 tenantless

    for budget, tenant in ((one, uuid4()), (two, tenants[0]), (one, None)):
        refused = await call(budget, tenant)
        assert refused.limit == "appminute" and 20 <= refused.retry_after <= 40


async def test_no_more_than_five_calls_are_ever_in_flight_for_a_tenant(pools):
    one, two = budgets(pools, concurrent=5)
    tenant, inside, most = uuid4(), 0, 0
    gauge = sample("xero_budget_in_flight")

    async def hold(budget):
        nonlocal inside, most
        async with budget.slot(tenant, max_wait=30):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.3)           # long enough for five to be inside at once
            inside -= 1

    await asyncio.gather(*(hold(one if i % 2 else two) for i in range(20)))

    assert most == 5
    assert sample("xero_budget_in_flight") == gauge              # every slot held was let go
    assert await pools[0].fetchval("SELECT count(*) FROM rate_limit_hits WHERE bucket LIKE '%:in-flight'") == 0


async def test_a_full_in_flight_budget_spends_nothing_else_and_a_finished_call_gives_its_slot_back(pools):
    one, two = budgets(pools, concurrent=1, per_minute=3, minute=timedelta(seconds=30))
    tenant = uuid4()
    async with one.slot(tenant):
        for _ in range(4):
            refused = await call(two, tenant)
            assert refused.limit == "concurrent" and refused.retry_after == 1
    assert await call(two, tenant) is None                       # the slot came back, and the refusals spent
    assert await call(one, tenant) is None                       # nothing of the minute: 3 calls fit
    assert (await call(two, tenant)).limit == "minute"


async def test_an_app_minute_429_blocks_every_tenant_on_every_instance(pools):
    one, two = budgets(pools)
    seen, other = uuid4(), uuid4()
    before = sample("xero_rate_limited_total", {"problem": "appminute"})

    await one.back_off(seen, 30, "appminute")

    for tenant in (seen, other, None):
        refused = await call(two, tenant)
        assert refused.limit == "blocked" and 28 <= refused.retry_after <= 30
    assert sample("xero_rate_limited_total", {"problem": "appminute"}) == before + 1


async def test_a_tenant_429_blocks_that_tenant_only_and_a_concurrent_one_briefly(pools):
    one, two = budgets(pools)
    seen, other, busy = uuid4(), uuid4(), uuid4()
    unknown = sample("xero_rate_limited_total", {"problem": "unknown"})

    await one.back_off(seen, 20, "minute")
    await one.back_off(busy, 60, "concurrent")
    await one.back_off(other, 5, "Something-Else")

    assert (await call(two, seen)).retry_after >= 18
    assert (await call(two, busy)).retry_after == 1
    assert (await call(two, other)).limit == "blocked"
    assert await call(two, uuid4()) is None and await call(two, None) is None
    assert sample("xero_rate_limited_total", {"problem": "unknown"}) == unknown + 1   # never a free-form label
    await asyncio.sleep(1.1)
    assert await call(two, busy) is None


async def test_a_tenantless_429_blocks_the_app(pools):
    one, two = budgets(pools)
    await one.back_off(None, 10)
    assert (await call(two, uuid4())).limit == "blocked"


def test_the_defaults_are_xeros_limits():
    limits = XeroLimits()
    assert (limits.concurrent, limits.per_minute, limits.per_day, limits.app_per_minute) == (5, 60, 5000, 10000)
    assert limits.minute + limits.margin == timedelta(seconds=61)
    assert issubclass(BudgetExhausted, XeroUnavailable)


async def test_the_upkeep_share_holds_two_instances_to_their_part_of_each_tenth_of_the_app_minute(pools):
    """20 % of an app minute of 100 calls: 2 turns per 6 s over both instances; the next waits, or is told when."""
    limits = XeroLimits(**{**ROOMY, "app_per_minute": 100})
    one, two = [BudgetShare(lambda pool=pool: pool, "upkeep", 0.2, limits) for pool in pools]

    await one.turn(max_wait=0)
    await two.turn(max_wait=0)
    with pytest.raises(BudgetExhausted) as refused:
        await one.turn(max_wait=0)

    assert refused.value.limit == "upkeep" and 1 <= refused.value.retry_after <= 8    # a 6 s window, 1 s slices
    started = time.monotonic()
    await two.turn(max_wait=10)                     # waits for the oldest turn to leave its 6 s window
    assert 3 < time.monotonic() - started < 9
